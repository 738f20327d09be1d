package org.asymdistill.client;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import org.junit.Test;

/** Pillow's resampling on cases small enough to compute by hand. */
public class ResamplerTest {
    private static RgbImage gray(int w, int h, int... values) {
        int[] px = new int[values.length];
        for (int i = 0; i < px.length; i++) {
            px[i] = 0xff000000 | values[i] << 16 | values[i] << 8 | values[i];
        }
        return new RgbImage(px, w, h);
    }

    private static int[] red(RgbImage im) {
        int[] out = new int[im.argb().length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (im.argb()[i] >> 16) & 0xff;
        }
        return out;
    }

    @Test
    public void halvingAveragesPairsAndRoundsHalfUp() {
        // scale 2: the triangle widens to support 2; both source pixels weigh 0.75 → 1/2 each;
        // (0 + 255) / 2 = 127.5 rounds to 128 in Pillow's fixed point
        RgbImage out = Resampler.resize(gray(2, 1, 0, 255), 1, 1, Resampler.Filter.BILINEAR);
        assertArrayEquals(new int[] {128}, red(out));
    }

    @Test
    public void bilinearDownscaleByThreeIsATriangleOverFivePixels() {
        // centre 1.5, support 3: pixels 0..2 at distances 1,0,1 (scaled: 1/3, 0, 1/3) → weights 2/3, 1, 2/3
        // normalised by 7/3 → (2*30 + 3*60 + 2*90) / 7 = 60
        RgbImage out = Resampler.resize(gray(3, 1, 30, 60, 90), 1, 1, Resampler.Filter.BILINEAR);
        assertArrayEquals(new int[] {60}, red(out));
    }

    @Test
    public void bilinearDoublingInterpolatesAtQuarterPositions() {
        // output centres at source 0.25, 0.75, 1.25, 1.75 (support 1): the outer two read one pixel
        // each; the inner two weigh the pixels 0.75/0.25 and 0.25/0.75 → 25 and 75
        RgbImage out = Resampler.resize(gray(2, 1, 0, 100), 4, 1, Resampler.Filter.BILINEAR);
        assertArrayEquals(new int[] {0, 25, 75, 100}, red(out));
    }

    @Test
    public void bicubicOvershootIsClipped() {
        RgbImage out = Resampler.resize(gray(4, 1, 0, 0, 255, 255), 8, 1, Resampler.Filter.BICUBIC);
        int[] v = red(out);
        assertEquals(0, v[0]);
        assertEquals(255, v[7]);
        for (int i = 1; i < v.length; i++) {
            assertEquals("monotone after clipping at " + i, true, v[i] >= v[i - 1]);
        }
    }

    @Test
    public void sameSizeIsAnIdentityAndRowsAndColumnsAreIndependent() {
        RgbImage src = gray(3, 2, 10, 20, 30, 40, 50, 60);
        assertArrayEquals(red(src), red(Resampler.resize(src, 3, 2, Resampler.Filter.BICUBIC)));
        // halving the height only: each column's two rows average
        assertArrayEquals(new int[] {25, 35, 45}, red(Resampler.resize(src, 3, 1, Resampler.Filter.BILINEAR)));
    }
}
