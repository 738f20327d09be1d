package org.asymdistill.client;

/** Model outputs turned into what the index expects: finite, L2-normalised float vectors. */
public final class Embedding {
    private Embedding() {
    }

    /**
     * {@code raw} scaled to unit length (the graph already normalises; int8 outputs drift slightly).
     * A non-finite or all-zero output means a broken model and is refused.
     */
    public static float[] normalised(float[] raw) throws ClientException {
        double sum = 0.0;
        for (float v : raw) {
            if (!Float.isFinite(v)) {
                throw new ClientException(ClientException.Kind.BAD_MODEL, "the model produced a non-finite embedding");
            }
            sum += (double) v * v;
        }
        if (sum == 0.0) {
            throw new ClientException(ClientException.Kind.BAD_MODEL, "the model produced an all-zero embedding");
        }
        double inv = 1.0 / Math.sqrt(sum);
        float[] out = new float[raw.length];
        for (int i = 0; i < raw.length; i++) {
            out[i] = (float) (raw[i] * inv);
        }
        return out;
    }

    /** Cosine similarity of two vectors of the same length. */
    public static double cosine(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("lengths differ: " + a.length + " vs " + b.length);
        }
        double dot = 0.0;
        double na = 0.0;
        double nb = 0.0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }

    /** Float tensor → int8 values for a quantised input: {@code q = round(x / scale) + zeroPoint},
     * rounding half to even as numpy does on the Python side. */
    public static byte[] quantize(float[] x, float scale, int zeroPoint) {
        byte[] out = new byte[x.length];
        for (int i = 0; i < x.length; i++) {
            double q = Math.rint(x[i] / scale) + zeroPoint;
            out[i] = (byte) Math.max(-128.0, Math.min(127.0, q));
        }
        return out;
    }

    /** int8 output values → floats ({@code x = (q - zeroPoint) * scale}). */
    public static float[] dequantize(byte[] q, float scale, int zeroPoint) {
        float[] out = new float[q.length];
        for (int i = 0; i < q.length; i++) {
            out[i] = (q[i] - zeroPoint) * scale;
        }
        return out;
    }
}
