package org.asymdistill.client;

/**
 * Resizes 8-bit RGB pixels exactly as Pillow's {@code Image.resize} does for the bilinear and bicubic
 * filters, so that a phone computes the same input tensor as the Python side.
 *
 * <p>The algorithm (Pillow's separable "resample"): for each output pixel a filter is centred on the
 * matching source position and widened by the downscale factor (antialiasing); its weights are
 * normalised to sum to one and applied in 22-bit fixed point, horizontally first, then vertically,
 * with rounding and clipping to 0..255 after each pass.
 */
public final class Resampler {
    private static final int PRECISION_BITS = 32 - 8 - 2;

    /** A resampling filter: its kernel and half-width (in source pixels at scale 1). */
    public enum Filter {
        BILINEAR(1.0) {
            @Override double weight(double x) {
                x = Math.abs(x);
                return x < 1.0 ? 1.0 - x : 0.0;
            }
        },
        BICUBIC(2.0) {
            @Override double weight(double x) {
                final double a = -0.5;
                x = Math.abs(x);
                if (x < 1.0) {
                    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                }
                return x < 2.0 ? (((x - 5) * x + 8) * x - 4) * a : 0.0;
            }
        };

        final double support;

        Filter(double support) {
            this.support = support;
        }

        abstract double weight(double x);

        /** The filter named as in the export metadata ("bilinear", "bicubic"), or null. */
        public static Filter named(String name) {
            return "bilinear".equals(name) ? BILINEAR : "bicubic".equals(name) ? BICUBIC : null;
        }
    }

    private Resampler() {
    }

    /** Resizes {@code image} to {@code width} × {@code height}; the alpha channel is dropped. */
    public static RgbImage resize(RgbImage image, int width, int height, Filter filter) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("target size must be positive, got " + width + "x" + height);
        }
        int[] px = image.argb();
        int w = image.width();
        int h = image.height();
        Taps vertical = new Taps(h, height, filter);
        if (width != w) {
            // only the rows the vertical pass reads are resampled horizontally
            int first = vertical.start[0];
            int last = vertical.start[height - 1] + vertical.count[height - 1];
            px = horizontal(px, w, first, last, new Taps(w, width, filter), width);
            vertical.shift(-first);
            w = width;
        }
        if (height != h) {
            px = vertical(px, w, vertical, height);
        }
        return new RgbImage(px, width, height);
    }

    private static int[] horizontal(int[] src, int w, int rowFirst, int rowLast, Taps taps, int outW) {
        int[] out = new int[outW * (rowLast - rowFirst)];
        for (int y = rowFirst; y < rowLast; y++) {
            int row = y * w;
            for (int x = 0; x < outW; x++) {
                int r = 1 << (PRECISION_BITS - 1);
                int g = r;
                int b = r;
                int k0 = x * taps.size;
                for (int i = 0; i < taps.count[x]; i++) {
                    int p = src[row + taps.start[x] + i];
                    int k = taps.weights[k0 + i];
                    r += ((p >> 16) & 0xff) * k;
                    g += ((p >> 8) & 0xff) * k;
                    b += (p & 0xff) * k;
                }
                out[(y - rowFirst) * outW + x] = pack(r, g, b);
            }
        }
        return out;
    }

    private static int[] vertical(int[] src, int w, Taps taps, int outH) {
        int[] out = new int[w * outH];
        for (int y = 0; y < outH; y++) {
            int k0 = y * taps.size;
            for (int x = 0; x < w; x++) {
                int r = 1 << (PRECISION_BITS - 1);
                int g = r;
                int b = r;
                for (int i = 0; i < taps.count[y]; i++) {
                    int p = src[(taps.start[y] + i) * w + x];
                    int k = taps.weights[k0 + i];
                    r += ((p >> 16) & 0xff) * k;
                    g += ((p >> 8) & 0xff) * k;
                    b += (p & 0xff) * k;
                }
                out[y * w + x] = pack(r, g, b);
            }
        }
        return out;
    }

    private static int pack(int r, int g, int b) {
        return 0xff000000 | clip8(r) << 16 | clip8(g) << 8 | clip8(b);
    }

    private static int clip8(int fixed) {
        return Math.max(0, Math.min(255, fixed >> PRECISION_BITS));
    }

    /** Per output pixel: the first source pixel, how many are read, and their fixed-point weights. */
    private static final class Taps {
        final int size;
        final int[] start;
        final int[] count;
        final int[] weights;

        Taps(int inSize, int outSize, Filter filter) {
            double scale = (double) inSize / outSize;
            double filterScale = Math.max(scale, 1.0);
            double support = filter.support * filterScale;
            double inverse = 1.0 / filterScale; // multiplied, not divided: Pillow's rounding
            size = (int) Math.ceil(support) * 2 + 1;
            start = new int[outSize];
            count = new int[outSize];
            weights = new int[outSize * size];
            double[] k = new double[size];
            for (int o = 0; o < outSize; o++) {
                double center = (o + 0.5) * scale;
                int min = Math.max(0, (int) (center - support + 0.5));
                int n = Math.min(inSize, (int) (center + support + 0.5)) - min;
                double sum = 0.0;
                for (int i = 0; i < n; i++) {
                    k[i] = filter.weight((i + min - center + 0.5) * inverse);
                    sum += k[i];
                }
                for (int i = 0; i < n; i++) {
                    double v = sum != 0.0 ? k[i] / sum : k[i];
                    weights[o * size + i] = (int) (v < 0 ? -0.5 + v * (1 << PRECISION_BITS)
                                                          : 0.5 + v * (1 << PRECISION_BITS));
                }
                start[o] = min;
                count[o] = n;
            }
        }

        void shift(int by) {
            for (int o = 0; o < start.length; o++) {
                start[o] += by;
            }
        }
    }
}
