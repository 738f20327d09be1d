package org.asymdistill.client;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;

import org.junit.Test;

/** EXIF orientations on a 3×2 image whose pixel values name their stored position. */
public class RgbImageTest {
    //  stored:  1 2 3
    //           4 5 6
    private static final RgbImage STORED = new RgbImage(new int[] {1, 2, 3, 4, 5, 6}, 3, 2);

    private static void expect(int tag, int w, int h, int... pixels) {
        RgbImage up = STORED.upright(tag);
        assertEquals("width for tag " + tag, w, up.width());
        assertEquals("height for tag " + tag, h, up.height());
        assertArrayEquals("pixels for tag " + tag, pixels, up.argb());
    }

    @Test
    public void eachTagUndoesItsTransform() {
        assertSame(STORED, STORED.upright(1));
        assertSame(STORED, STORED.upright(0)); // missing tag
        expect(2, 3, 2, 3, 2, 1, 6, 5, 4);     // mirrored
        expect(3, 3, 2, 6, 5, 4, 3, 2, 1);     // rotated 180
        expect(4, 3, 2, 4, 5, 6, 1, 2, 3);     // flipped
        expect(5, 2, 3, 1, 4, 2, 5, 3, 6);     // transposed
        expect(6, 2, 3, 4, 1, 5, 2, 6, 3);     // stored 90° counter-clockwise: turn clockwise
        expect(7, 2, 3, 6, 3, 5, 2, 4, 1);     // transversed
        expect(8, 2, 3, 3, 6, 2, 5, 1, 4);     // stored 90° clockwise: turn counter-clockwise
    }
}
