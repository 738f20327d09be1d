package org.asymdistill.client;

import com.google.gson.Gson;
import com.google.gson.JsonParseException;
import java.util.Arrays;
import java.util.List;

/**
 * The contract an exported student carries (the {@code asym_distill} JSON document written by
 * {@code distill export}): which index it can query and how its input is prepared.
 */
public final class ModelMetadata {
    /** The metadata key inside every artefact. */
    public static final String KEY = "asym_distill";

    // filled by Gson from the JSON document; names follow the Python side
    private String format;
    private String quantization;
    private String student;
    private String mode;
    private int dim;
    private int[] input_size;
    private float[] mean;
    private float[] std;
    private String interpolation;
    private String resize;
    private String input_layout;
    private String teacher;
    private String compat_key;
    private String normalization;

    private ModelMetadata() {
    }

    /** Parses and checks the JSON document; {@code where} names its source in error messages. */
    public static ModelMetadata fromJson(String json, String where) throws ClientException {
        ModelMetadata m;
        try {
            m = new Gson().fromJson(json, ModelMetadata.class);
        } catch (JsonParseException | IllegalStateException e) {
            throw bad(where, "unreadable " + KEY + " metadata (" + e.getClass().getSimpleName() + ")");
        }
        if (m == null) {
            throw bad(where, "empty " + KEY + " metadata");
        }
        m.check(where);
        return m;
    }

    private void check(String where) throws ClientException {
        require(compat_key != null && !compat_key.isEmpty(), where, "compat_key is missing");
        require(dim > 0, where, "dim must be a positive integer");
        require(input_size != null && input_size.length == 2 && input_size[0] > 0 && input_size[1] > 0,
                where, "input_size must be [height, width]");
        require(mean != null && mean.length == 3 && std != null && std.length == 3, where,
                "mean and std must have 3 values (R, G, B)");
        for (float s : std) {
            require(s > 0, where, "std values must be positive");
        }
        require("squash".equals(resize), where, "resize '" + resize + "' is not supported (expected squash)");
        require("NCHW".equals(input_layout), where, "input_layout '" + input_layout + "' is not supported (expected NCHW)");
        require("l2".equals(normalization), where, "normalization '" + normalization + "' is not supported (expected l2)");
        require(Resampler.Filter.named(interpolation) != null, where,
                "interpolation '" + interpolation + "' is not supported on the device (expected bilinear or bicubic)");
    }

    private static void require(boolean ok, String where, String what) throws ClientException {
        if (!ok) {
            throw bad(where, what);
        }
    }

    private static ClientException bad(String where, String what) {
        return new ClientException(ClientException.Kind.BAD_MODEL, where + ": " + what);
    }

    /** Key of the embedding space; the server refuses queries whose key differs from its index's. */
    public String compatKey() {
        return compat_key;
    }

    /** Embedding dimension. */
    public int dim() {
        return dim;
    }

    /** Input height in pixels. */
    public int inputHeight() {
        return input_size[0];
    }

    /** Input width in pixels. */
    public int inputWidth() {
        return input_size[1];
    }

    /** Per-channel mean (R, G, B) subtracted after scaling pixels to [0, 1]. */
    public float[] mean() {
        return mean.clone();
    }

    /** Per-channel standard deviation (R, G, B) divided after subtracting the mean. */
    public float[] std() {
        return std.clone();
    }

    /** The resampling filter of the resize. */
    public Resampler.Filter filter() {
        return Resampler.Filter.named(interpolation); // checked in fromJson
    }

    /** "fp32", "fp16" or "int8". */
    public String quantization() {
        return quantization;
    }

    /** "onnx", "tflite" or "coreml". */
    public String format() {
        return format;
    }

    /** Student preset name. */
    public String student() {
        return student;
    }

    /** Teacher preset whose space the student embeds into ("" for symmetric students). */
    public String teacher() {
        return teacher;
    }

    /** "asym" or "sym". */
    public String mode() {
        return mode;
    }

    @Override
    public String toString() {
        List<Object> parts = Arrays.asList(student, format, quantization, dim + "-d", "key " + compat_key);
        return String.join(" ", parts.stream().map(String::valueOf).toArray(String[]::new));
    }
}
