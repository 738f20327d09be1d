package org.asymdistill.client;

/**
 * Photo → model input, exactly as {@code distill.data.images.preprocess}: squash-resize to the
 * metadata's input size with Pillow's filter, scale to [0, 1], subtract mean, divide by std,
 * channels first (NCHW, batch of one).
 */
public final class Preprocessor {
    private final int height;
    private final int width;
    private final float[] mean;
    private final float[] std;
    private final Resampler.Filter filter;

    /** The preprocessing {@code meta} describes. */
    public Preprocessor(ModelMetadata meta) {
        this.height = meta.inputHeight();
        this.width = meta.inputWidth();
        this.mean = meta.mean();
        this.std = meta.std();
        this.filter = meta.filter();
    }

    /** The 3 × H × W float tensor of {@code image} (upright already), in NCHW order. */
    public float[] toTensor(RgbImage image) {
        int[] px = Resampler.resize(image, width, height, filter).argb();
        int plane = width * height;
        float[] out = new float[3 * plane];
        for (int i = 0; i < plane; i++) {
            int p = px[i];
            out[i] = normalise((p >> 16) & 0xff, 0);
            out[plane + i] = normalise((p >> 8) & 0xff, 1);
            out[2 * plane + i] = normalise(p & 0xff, 2);
        }
        return out;
    }

    // float32 arithmetic in the same order as numpy's: (v / 255 - mean) / std
    private float normalise(int v, int c) {
        return ((float) v / 255.0f - mean[c]) / std[c];
    }

    /** Number of floats in one input tensor. */
    public int tensorSize() {
        return 3 * height * width;
    }
}
