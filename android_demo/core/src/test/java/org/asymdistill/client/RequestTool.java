package org.asymdistill.client;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;

/**
 * {@code RequestTool EMBEDDING_F32 K COMPAT_KEY WIRE OUT}: the JVM core's {@code /search} body for a
 * little-endian float32 embedding in {@code WIRE} form (FLOAT32 or FLOAT16), so the Python tests can check
 * it against the request schema, NumPy's float16 and a real server.
 */
public final class RequestTool {
    private RequestTool() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: RequestTool EMBEDDING_F32 K COMPAT_KEY WIRE OUT");
            System.exit(2);
        }
        ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(Paths.get(args[0]))).order(ByteOrder.LITTLE_ENDIAN);
        float[] embedding = new float[raw.remaining() / 4];
        raw.asFloatBuffer().get(embedding);
        String body = SearchCodec.request(embedding, Integer.parseInt(args[1]), args[2],
                SearchCodec.Wire.valueOf(args[3]));
        Files.write(Paths.get(args[4]), body.getBytes(StandardCharsets.UTF_8));
    }
}
