package org.asymdistill.client;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import org.junit.Test;

/** Metadata as exported by Python: parsed, checked, and read out of a .tflite FlatBuffer. */
public class ModelMetadataTest {
    @Test
    public void exportedMetadataParses() throws Exception {
        Goldens g = Goldens.load();
        JsonObject want = g.doc.getAsJsonObject("metadata");
        ModelMetadata m = ModelMetadata.fromJson(g.metadataJson(), "goldens");
        assertEquals(want.get("compat_key").getAsString(), m.compatKey());
        assertEquals(want.get("dim").getAsInt(), m.dim());
        assertEquals(want.getAsJsonArray("input_size").get(0).getAsInt(), m.inputHeight());
        assertEquals(want.getAsJsonArray("input_size").get(1).getAsInt(), m.inputWidth());
        assertEquals(want.getAsJsonArray("std").get(2).getAsFloat(), m.std()[2], 0f);
    }

    @Test
    public void metadataIsReadFromATfliteFile() throws Exception {
        Goldens g = Goldens.load();
        ByteBuffer file = ByteBuffer.wrap(Files.readAllBytes(g.root.resolve(g.doc.get("tflite").getAsString())));
        assertEquals(JsonParser.parseString(g.metadataJson()),
                JsonParser.parseString(TfliteMetadata.readJson(file, "model.tflite")));
        assertEquals(g.doc.getAsJsonObject("metadata").get("compat_key").getAsString(),
                TfliteMetadata.read(file, "model.tflite").compatKey());
    }

    @Test
    public void brokenModelFilesAreOneLineErrors() throws Exception {
        Goldens g = Goldens.load();
        byte[] bytes = Files.readAllBytes(g.root.resolve(g.doc.get("tflite").getAsString()));
        expectBadModel(ByteBuffer.wrap(new byte[] {1, 2, 3}), "not a TFLite model");
        expectBadModel(ByteBuffer.wrap(bytes, 0, bytes.length / 2).slice(), "truncated or corrupt");
        byte[] renamed = bytes.clone();
        replace(renamed, "asym_distill".getBytes("UTF-8"), "other_key___".getBytes("UTF-8"));
        expectBadModel(ByteBuffer.wrap(renamed), "no asym_distill metadata");
    }

    @Test
    public void unsupportedContractsAreRefusedByName() throws Exception {
        Goldens g = Goldens.load();
        String[][] edits = {
            {"interpolation", "\"lanczos\"", "interpolation 'lanczos' is not supported"},
            {"resize", "\"center_crop\"", "resize 'center_crop' is not supported"},
            {"input_size", "[224]", "input_size must be [height, width]"},
            {"compat_key", "\"\"", "compat_key is missing"},
            {"std", "[0.5, 0, 0.5]", "std values must be positive"},
        };
        for (String[] e : edits) {
            JsonObject m = g.doc.getAsJsonObject("metadata").deepCopy();
            m.add(e[0], JsonParser.parseString(e[1]));
            try {
                ModelMetadata.fromJson(m.toString(), "model.tflite");
                fail("accepted " + e[0] + "=" + e[1]);
            } catch (ClientException x) {
                assertEquals(ClientException.Kind.BAD_MODEL, x.kind());
                assertTrue(x.getMessage(), x.getMessage().startsWith("model.tflite: " + e[2]));
            }
        }
    }

    private static void expectBadModel(ByteBuffer b, String words) {
        try {
            TfliteMetadata.readJson(b, "model.tflite");
            fail("accepted a broken model");
        } catch (ClientException e) {
            assertEquals(ClientException.Kind.BAD_MODEL, e.kind());
            assertTrue(e.getMessage(), e.getMessage().startsWith("model.tflite: " + words));
        }
    }

    private static void replace(byte[] data, byte[] from, byte[] to) {
        outer:
        for (int i = 0; i + from.length <= data.length; i++) {
            for (int j = 0; j < from.length; j++) {
                if (data[i + j] != from[j]) {
                    continue outer;
                }
            }
            System.arraycopy(to, 0, data, i, to.length);
        }
    }
}
