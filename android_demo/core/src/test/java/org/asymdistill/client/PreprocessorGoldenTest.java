package org.asymdistill.client;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import org.junit.Test;

/**
 * The JVM's input tensors equal the Python side's for real photos (PNG and JPEG), every preprocessing
 * variant (bilinear, bicubic, non-square, upscaling) and every EXIF orientation.
 */
public class PreprocessorGoldenTest {
    @Test
    public void everyPhotoGivesTheIdenticalTensor() throws Exception {
        Goldens g = Goldens.load();
        int checked = 0;
        for (JsonObject c : g.cases()) {
            float[] want = g.floats(c.get("tensor").getAsString());
            float[] got = tensorOf(g, c);
            assertEquals(c.get("name").getAsString() + ": size", want.length, got.length);
            Diff d = Diff.of(want, got);
            assertTrue(c.get("name").getAsString() + ": max |Δ| " + d.max + " at " + d.at, d.max <= 1e-6);
            checked++;
        }
        assertTrue("too few cases in the goldens: " + checked, checked >= 10);
    }

    static float[] tensorOf(Goldens g, JsonObject c) throws Exception {
        ModelMetadata meta = g.metadataFor(c);
        RgbImage img = g.image(c.get("image").getAsString()).upright(c.get("orientation").getAsInt());
        return new Preprocessor(meta).toTensor(img);
    }

    static final class Diff {
        double max;
        int at;

        static Diff of(float[] a, float[] b) {
            Diff d = new Diff();
            for (int i = 0; i < a.length; i++) {
                double e = Math.abs(a[i] - b[i]);
                if (e > d.max) {
                    d.max = e;
                    d.at = i;
                }
            }
            return d;
        }
    }
}
