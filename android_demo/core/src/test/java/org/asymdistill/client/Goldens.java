package org.asymdistill.client;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;

/** The golden folder written by {@code distill client-goldens} (system property {@code goldens}). */
final class Goldens {
    final Path root;
    final JsonObject doc;

    private Goldens(Path root) throws IOException {
        this.root = root;
        this.doc = JsonParser.parseString(Files.readString(root.resolve("goldens.json"))).getAsJsonObject();
    }

    static Goldens load() throws IOException {
        String dir = System.getProperty("goldens");
        if (dir == null || !Files.exists(Paths.get(dir, "goldens.json"))) {
            throw new IllegalStateException("-Dgoldens=DIR must name a folder written by `distill client-goldens`"
                    + " (make android-core-test does this); got " + dir);
        }
        return new Goldens(Paths.get(dir));
    }

    /** The exported model's metadata document, as stored in the artefact. */
    String metadataJson() {
        return doc.getAsJsonObject("metadata").toString();
    }

    /** The metadata with its preprocessing replaced by a case's configuration. */
    ModelMetadata metadataFor(JsonObject testCase) throws ClientException {
        JsonObject m = doc.getAsJsonObject("metadata").deepCopy();
        JsonObject pre = testCase.getAsJsonObject("preprocess");
        for (String key : new String[] {"input_size", "mean", "std", "interpolation", "resize"}) {
            m.add(key, pre.get(key));
        }
        return ModelMetadata.fromJson(m.toString(), testCase.get("name").getAsString());
    }

    List<JsonObject> cases() {
        return objects(doc.getAsJsonArray("cases"));
    }

    List<JsonObject> responses() {
        return objects(doc.getAsJsonArray("responses"));
    }

    String text(String relative) throws IOException {
        return Files.readString(root.resolve(relative), StandardCharsets.UTF_8);
    }

    float[] floats(String relative) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(root.resolve(relative))).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    /** A photo decoded by the JVM's ImageIO, as the app decodes with BitmapFactory. */
    RgbImage image(String relative) throws IOException {
        return decode(root.resolve(relative));
    }

    /**
     * The decoded samples as stored, without colour management: Pillow ignores embedded ICC profiles,
     * while ImageIO's JPEG reader converts through them (so their APP2 segments are dropped first).
     */
    static RgbImage decode(Path path) throws IOException {
        byte[] bytes = Files.readAllBytes(path);
        BufferedImage im = ImageIO.read(new ByteArrayInputStream(isJpeg(bytes) ? withoutIcc(bytes) : bytes));
        if (im == null) {
            throw new IOException(path + ": not an image ImageIO can decode");
        }
        int w = im.getWidth();
        int h = im.getHeight();
        int[] argb = new int[w * h];
        if (im.getColorModel() instanceof IndexColorModel) {
            im.getRGB(0, 0, w, h, argb, 0, w);
            return new RgbImage(argb, w, h);
        }
        Raster r = im.getRaster();
        boolean gray = r.getNumBands() < 3;
        int[] px = new int[r.getNumBands()];
        for (int i = 0; i < argb.length; i++) {
            r.getPixel(i % w, i / w, px);
            argb[i] = gray ? 0xff000000 | px[0] << 16 | px[0] << 8 | px[0]
                           : 0xff000000 | px[0] << 16 | px[1] << 8 | px[2];
        }
        return new RgbImage(argb, w, h);
    }

    private static boolean isJpeg(byte[] b) {
        return b.length > 2 && (b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8;
    }

    /** The JPEG without its APP2 (ICC profile) segments; everything from start-of-scan on is kept. */
    private static byte[] withoutIcc(byte[] b) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(b, 0, 2);
        int i = 2;
        while (i + 4 <= b.length && (b[i] & 0xff) == 0xff && (b[i + 1] & 0xff) != 0xda) {
            int length = 2 + ((b[i + 2] & 0xff) << 8 | (b[i + 3] & 0xff));
            if ((b[i + 1] & 0xff) != 0xe2) {
                out.write(b, i, length);
            }
            i += length;
        }
        out.write(b, i, b.length - i);
        return out.toByteArray();
    }

    private static List<JsonObject> objects(JsonArray a) {
        List<JsonObject> out = new ArrayList<>();
        for (JsonElement e : a) {
            out.add(e.getAsJsonObject());
        }
        return out;
    }
}
