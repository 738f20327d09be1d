package org.asymdistill.client;

/**
 * Decoded pixels as packed 0xAARRGGBB ints in row-major order: the layout of Android's
 * {@code Bitmap.getPixels} and of {@code java.awt.image.BufferedImage.getRGB}.
 */
public final class RgbImage {
    private final int[] argb;
    private final int width;
    private final int height;

    /** Wraps {@code argb} (not copied): {@code width × height} packed pixels. */
    public RgbImage(int[] argb, int width, int height) {
        if (width <= 0 || height <= 0 || argb.length != (long) width * height) {
            throw new IllegalArgumentException("expected " + width + "x" + height + " pixels, got " + argb.length);
        }
        this.argb = argb;
        this.width = width;
        this.height = height;
    }

    /** Packed pixels, row-major. */
    public int[] argb() {
        return argb;
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    /**
     * The image as a viewer shows it, given its EXIF orientation tag (1–8; anything else is
     * treated as 1). Phones store photos sideways and tag them; the model must see them upright,
     * as Pillow's {@code ImageOps.exif_transpose} does on the Python side.
     */
    public RgbImage upright(int exifOrientation) {
        if (exifOrientation < 2 || exifOrientation > 8) {
            return this;
        }
        boolean swap = exifOrientation >= 5;
        int outW = swap ? height : width;
        int outH = swap ? width : height;
        int[] out = new int[argb.length];
        for (int y = 0; y < outH; y++) {
            for (int x = 0; x < outW; x++) {
                out[y * outW + x] = argb[source(exifOrientation, x, y, outW, outH)];
            }
        }
        return new RgbImage(out, outW, outH);
    }

    /** Index in the stored pixels of upright pixel (x, y), for each EXIF orientation. */
    private int source(int orientation, int x, int y, int outW, int outH) {
        switch (orientation) {
            case 2: return y * width + (width - 1 - x);                    // mirrored
            case 3: return (height - 1 - y) * width + (width - 1 - x);     // rotated 180
            case 4: return (height - 1 - y) * width + x;                   // flipped
            case 5: return x * width + y;                                  // transposed
            case 6: return (height - 1 - x) * width + y;                   // rotate 90 clockwise to view
            case 7: return (height - 1 - x) * width + (width - 1 - y);     // transversed
            default: return x * width + (width - 1 - y);                   // 8: rotate 270 clockwise to view
        }
    }
}
