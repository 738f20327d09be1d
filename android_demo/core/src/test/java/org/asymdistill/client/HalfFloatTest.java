package org.asymdistill.client;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Base64;
import org.junit.Test;

/** binary16 bits worked out by hand (IEEE-754: 1 sign, 5 exponent bits biased by 15, 10 mantissa bits). */
public class HalfFloatTest {
    private static void bits(int expected, float value) {
        assertEquals(value + " -> 0x" + Integer.toHexString(expected), (short) expected, HalfFloat.fromFloat(value));
    }

    @Test
    public void normalsSubnormalsAndLimits() {
        bits(0x3c00, 1f);
        bits(0xc000, -2f);
        bits(0x3555, 1f / 3); // 0.333251953125: mantissa 0x155 (0x1555.5… rounded down)
        bits(0x2e66, 0.1f); // 0.0999755859375
        bits(0x7bff, 65504f); // largest finite half
        bits(0x7c00, 65520f); // halfway to 65536: ties to even = infinity
        bits(0x7bff, 65519f);
        bits(0x0001, 0x1p-24f); // smallest subnormal
        bits(0x0000, 0x1p-25f); // halfway to it: ties to even = 0
        bits(0x0001, 0x1.1p-25f);
        bits(0x0400, 0x1p-14f); // smallest normal
        bits(0x03ff, 0x1.ff8p-15f); // largest subnormal
        bits(0x8000, -0f);
        bits(0x7c00, Float.POSITIVE_INFINITY);
        bits(0x3c00, 1.00048828125f); // 1 + 2^-11, halfway between 1 and 1 + 2^-10: to even (1)
        bits(0x3c02, 1.00146484375f); // 1 + 3 * 2^-11, halfway: to even (1 + 2^-9)
        short nan = HalfFloat.fromFloat(Float.NaN);
        assertTrue((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0);
    }

    @Test
    public void roundTripsEveryHalfAndPacksLittleEndian() {
        for (int h = 0; h < 0x10000; h++) {
            if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) {
                continue; // NaN payloads
            }
            assertEquals(Integer.toHexString(h), (short) h, HalfFloat.fromFloat(HalfFloat.toFloat((short) h)));
        }
        byte[] raw = Base64.getDecoder().decode(HalfFloat.base64(new float[] {1f, -2f}));
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(4, raw.length);
        assertEquals((short) 0x3c00, b.getShort());
        assertEquals((short) 0xc000, b.getShort());
    }
}
