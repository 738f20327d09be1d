package org.asymdistill.client;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Base64;

/**
 * IEEE-754 binary16 ("half") encoding of embeddings for the compact {@code /search} body: Java 11 has no
 * {@code Float.floatToFloat16}, so the conversion (round to nearest, ties to even, as NumPy's
 * {@code astype(float16)}) is written out here.
 */
public final class HalfFloat {
    private HalfFloat() {
    }

    /** The binary16 bits of {@code f}, rounded to nearest even; overflow gives ±infinity, NaN stays NaN. */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exp = (bits >>> 23) & 0xff;
        int mant = bits & 0x7fffff;
        if (exp == 0xff) {
            return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 | (mant >>> 13) : 0));
        }
        int e = exp - 127 + 15;
        if (e >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (e <= 0) { // a half subnormal (or zero): value = m * 2^-24
            if (e < -10) {
                return (short) sign;
            }
            return (short) (sign | roundShift(mant | 0x800000, 14 - e));
        }
        // a carry out of the mantissa moves to the next exponent (and from the largest finite to infinity)
        return (short) (sign | roundShift((e << 23) | mant, 13));
    }

    /** {@code value >> shift} rounded to nearest, ties to even. */
    private static int roundShift(int value, int shift) {
        int kept = value >>> shift;
        int rest = value & ((1 << shift) - 1);
        int half = 1 << (shift - 1);
        return rest > half || (rest == half && (kept & 1) != 0) ? kept + 1 : kept;
    }

    /** The float value of binary16 bits {@code h}. */
    public static float toFloat(short h) {
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0) {
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }

    /** {@code values} as little-endian binary16, base64 (standard alphabet, padded): 2 bytes per value. */
    public static String base64(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putShort(fromFloat(v));
        }
        return Base64.getEncoder().encodeToString(b.array());
    }
}
