package org.asymdistill.client;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * {@code PreprocessTool METADATA_JSON IMAGE EXIF_ORIENTATION OUT}: the JVM core's input tensor of a
 * photo as little-endian float32, so the Python tests can run it through the exported model.
 */
public final class PreprocessTool {
    private PreprocessTool() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: PreprocessTool METADATA_JSON IMAGE EXIF_ORIENTATION OUT");
            System.exit(2);
        }
        ModelMetadata meta = ModelMetadata.fromJson(Files.readString(Paths.get(args[0])), args[0]);
        RgbImage img = Goldens.decode(Paths.get(args[1])).upright(Integer.parseInt(args[2]));
        float[] x = new Preprocessor(meta).toTensor(img);
        ByteBuffer b = ByteBuffer.allocate(4 * x.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(x);
        Path out = Paths.get(args[3]);
        Files.write(out, b.array());
    }
}
