package org.asymdistill.demo;

import android.content.Context;
import android.content.res.AssetFileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Arrays;
import org.asymdistill.client.ClientException;
import org.asymdistill.client.Embedding;
import org.asymdistill.client.ModelMetadata;
import org.asymdistill.client.Preprocessor;
import org.asymdistill.client.RgbImage;
import org.asymdistill.client.TfliteMetadata;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;

/**
 * The bundled student: a LiteRT {@link Interpreter} over the memory-mapped asset, with the
 * {@code asym_distill} metadata read from the same bytes ({@link TfliteMetadata}), and the checks that
 * the graph is what the metadata promises (input [1, 3, H, W] NCHW, output of {@code dim} values).
 *
 * <p>Handles both exports: {@code --quantize int8} (int8 input and output: the float tensor is quantised with
 * the input tensor's scale/zero point, the output dequantised with the output's) and float I/O (fp32, or
 * fp16 weights with float I/O). Not thread-safe (neither is the Interpreter): use it from one thread.
 */
final class ModelRunner implements AutoCloseable {
    /** Asset name the build copies the chosen .tflite to (see app/build.gradle.kts). */
    static final String ASSET = "student.tflite";

    private final Interpreter interpreter;
    private final ModelMetadata meta;
    private final Preprocessor preprocessor;
    private final DataType inType;
    private final DataType outType;
    private final Tensor.QuantizationParams inQuant;
    private final Tensor.QuantizationParams outQuant;
    private final int outCount;
    private final ByteBuffer input;
    private final ByteBuffer output;

    /** Loads {@link #ASSET}. Blocking (maps the file, builds the interpreter): call off the UI thread. */
    static ModelRunner fromAsset(Context context, int threads) throws ClientException {
        String where = "assets/" + ASSET;
        MappedByteBuffer model;
        try (AssetFileDescriptor fd = context.getAssets().openFd(ASSET);
             FileInputStream in = fd.createInputStream();
             FileChannel channel = in.getChannel()) {
            // openFd needs the asset stored uncompressed: androidResources.noCompress "tflite" in build.gradle.kts
            model = channel.map(FileChannel.MapMode.READ_ONLY, fd.getStartOffset(), fd.getDeclaredLength());
        } catch (IOException e) {
            throw new ClientException(ClientException.Kind.BAD_MODEL, where + ": cannot be opened ("
                    + e.getClass().getSimpleName() + "); was the app built after `make demo`?");
        }
        return new ModelRunner(model, where, threads);
    }

    ModelRunner(ByteBuffer model, String where, int threads) throws ClientException {
        meta = TfliteMetadata.read(model, where);
        Interpreter.Options options = new Interpreter.Options();
        options.setNumThreads(threads);
        try {
            interpreter = new Interpreter(model, options);
        } catch (RuntimeException e) {
            throw new ClientException(ClientException.Kind.BAD_MODEL, where + ": LiteRT cannot load it ("
                    + e.getClass().getSimpleName() + ": " + e.getMessage() + ")");
        }
        try {
            Tensor in = interpreter.getInputTensor(0);
            Tensor out = interpreter.getOutputTensor(0);
            int[] want = {1, 3, meta.inputHeight(), meta.inputWidth()};
            if (!Arrays.equals(in.shape(), want)) {
                throw bad(where, "input tensor is " + Arrays.toString(in.shape()) + ", its metadata says "
                        + Arrays.toString(want) + " (batch 1, NCHW)");
            }
            if (out.numElements() != meta.dim()) {
                throw bad(where, "output tensor is " + Arrays.toString(out.shape()) + ", its metadata says "
                        + meta.dim() + " values");
            }
            inType = checkType(in, where, "input");
            outType = checkType(out, where, "output");
            inQuant = in.quantizationParams();
            outQuant = out.quantizationParams();
            outCount = out.numElements();
            preprocessor = new Preprocessor(meta);
            input = ByteBuffer.allocateDirect(in.numBytes()).order(ByteOrder.nativeOrder());
            output = ByteBuffer.allocateDirect(out.numBytes()).order(ByteOrder.nativeOrder());
        } catch (ClientException | RuntimeException e) {
            interpreter.close();
            if (e instanceof ClientException) {
                throw (ClientException) e;
            }
            throw bad(where, "unexpected graph (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")");
        }
    }

    private static DataType checkType(Tensor t, String where, String which) throws ClientException {
        DataType type = t.dataType();
        if (type == DataType.FLOAT32) {
            return type;
        }
        if (type == DataType.INT8) {
            if (!(t.quantizationParams().getScale() > 0f)) {
                throw bad(where, which + " tensor is int8 without a quantisation scale");
            }
            return type;
        }
        throw bad(where, which + " tensor is " + type + "; expected int8 or float32");
    }

    private static ClientException bad(String where, String what) {
        return new ClientException(ClientException.Kind.BAD_MODEL, where + ": " + what);
    }

    ModelMetadata metadata() {
        return meta;
    }

    /** e.g. "int8 I/O, 1×3×224×224 → 1280". */
    String describe() {
        String io = inType == DataType.INT8 && outType == DataType.INT8 ? "int8 I/O"
                : inType == DataType.FLOAT32 && outType == DataType.FLOAT32 ? "float I/O"
                : "in " + inType + ", out " + outType;
        return io + ", 1×3×" + meta.inputHeight() + "×" + meta.inputWidth() + " → " + meta.dim();
    }

    /** The L2-normalised embedding of an upright photo: preprocess, run, dequantise, normalise. */
    float[] embed(RgbImage upright) throws ClientException {
        float[] x = preprocessor.toTensor(upright);
        input.clear();
        if (inType == DataType.INT8) {
            input.put(Embedding.quantize(x, inQuant.getScale(), inQuant.getZeroPoint()));
        } else {
            input.asFloatBuffer().put(x);
        }
        input.rewind();
        output.clear();
        try {
            interpreter.run(input, output);
        } catch (RuntimeException e) {
            throw new ClientException(ClientException.Kind.BAD_MODEL, "the model failed to run ("
                    + e.getClass().getSimpleName() + ": " + e.getMessage() + ")");
        }
        output.rewind();
        float[] raw;
        if (outType == DataType.INT8) {
            byte[] q = new byte[outCount];
            output.get(q);
            raw = Embedding.dequantize(q, outQuant.getScale(), outQuant.getZeroPoint());
        } else {
            raw = new float[outCount];
            output.asFloatBuffer().get(raw);
        }
        return Embedding.normalised(raw);
    }

    @Override
    public void close() {
        interpreter.close();
    }
}
