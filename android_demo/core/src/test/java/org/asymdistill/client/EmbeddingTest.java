package org.asymdistill.client;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.fail;

import org.junit.Test;

/** Normalisation and int8 tensor conversion, checked against the formulas. */
public class EmbeddingTest {
    @Test
    public void normalisesToUnitLength() throws Exception {
        assertArrayEquals(new float[] {0.6f, 0.8f}, Embedding.normalised(new float[] {3f, 4f}), 1e-7f);
        assertEquals(1.0, Embedding.cosine(new float[] {3f, 4f}, new float[] {0.6f, 0.8f}), 1e-12);
    }

    @Test
    public void brokenOutputsAreRefused() {
        for (float[] bad : new float[][] {{0f, 0f}, {Float.NaN, 1f}, {Float.POSITIVE_INFINITY, 0f}}) {
            try {
                Embedding.normalised(bad);
                fail("accepted a broken embedding");
            } catch (ClientException e) {
                assertEquals(ClientException.Kind.BAD_MODEL, e.kind());
            }
        }
    }

    @Test
    public void quantisationRoundsHalfToEvenAndSaturates() {
        // scale 0.5, zero point 3: x/scale = 0.5 → 0 (even), 1.5 → 2, -1.5 → -2; ±100 saturate
        byte[] q = Embedding.quantize(new float[] {0.25f, 0.75f, -0.75f, 100f, -100f}, 0.5f, 3);
        assertArrayEquals(new byte[] {3, 5, 1, 127, -128}, q);
        assertArrayEquals(new float[] {0f, 1f, -1f, 62f, -65.5f}, Embedding.dequantize(q, 0.5f, 3), 0f);
    }
}
