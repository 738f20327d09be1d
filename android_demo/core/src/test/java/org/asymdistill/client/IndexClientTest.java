package org.asymdistill.client;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.google.gson.JsonObject;
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

/** HTTP plumbing over loopback: a local server replays the real server's recorded answers. */
public class IndexClientTest {
    private HttpServer server;
    private Goldens goldens;
    private final Map<String, JsonObject> answers = new HashMap<>();
    private String nextSearch = "search_ok";
    private String lastAuthorization;

    @Before
    public void start() throws Exception {
        goldens = Goldens.load();
        for (JsonObject r : goldens.responses()) {
            answers.put(r.get("name").getAsString(), r);
        }
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            String path = exchange.getRequestURI().getPath();
            lastAuthorization = exchange.getRequestHeaders().getFirst("Authorization");
            JsonObject r = answers.get(path.equals("/search") ? nextSearch : path.equals("/manifest") ? "manifest"
                    : "missing_thumbnail");
            exchange.getRequestBody().readAllBytes();
            byte[] body = goldens.text(r.get("body").getAsString()).getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(r.get("status").getAsInt(), body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.start();
    }

    @After
    public void stop() {
        server.stop(0);
    }

    private IndexClient client() throws ClientException {
        return new IndexClient("http://127.0.0.1:" + server.getAddress().getPort() + "/", 5000);
    }

    private ModelMetadata model() throws ClientException {
        return ModelMetadata.fromJson(goldens.metadataJson(), "model");
    }

    private float[] embedding() throws Exception {
        return goldens.floats(goldens.cases().get(0).get("embedding").getAsString());
    }

    @Test
    public void searchAndCompatibilityCheckSucceed() throws Exception {
        client().checkCompatible(model());
        SearchCodec.Result r = client().search(embedding(), 3, model());
        assertEquals(goldens.cases().get(0).get("name").getAsString(), r.hits().get(0).name());
        assertEquals("http://127.0.0.1:" + server.getAddress().getPort() + "/thumbs/0",
                client().resolve(r.hits().get(0).thumbnail()).toString());
    }

    @Test
    public void serverRefusalsReachTheUserAsTheirKind() throws Exception {
        nextSearch = "other_teacher";
        try {
            client().search(embedding(), 3, model());
            fail("409 not reported");
        } catch (ClientException e) {
            assertEquals(ClientException.Kind.INCOMPATIBLE_MODEL, e.kind());
            assertTrue(e.getMessage(), e.getMessage().contains("use a student exported for it"));
        }
    }

    @Test
    public void aModelForAnotherIndexIsCaughtBeforeTheFirstSearch() throws Exception {
        JsonObject other = goldens.doc.getAsJsonObject("metadata").deepCopy();
        other.addProperty("compat_key", "ffffffffffffffff");
        try {
            client().checkCompatible(ModelMetadata.fromJson(other.toString(), "other.tflite"));
            fail("a mismatching model passed the check");
        } catch (ClientException e) {
            assertEquals(ClientException.Kind.INCOMPATIBLE_MODEL, e.kind());
            assertTrue(e.getMessage(), e.getMessage().contains("key ffffffffffffffff"));
        }
    }

    @Test
    public void theApiKeyIsSentAndItsAbsenceExplained() throws Exception {
        String url = "http://127.0.0.1:" + server.getAddress().getPort();
        new IndexClient(url, 5000, SearchCodec.Wire.FLOAT16, " key-0123456789abcdef ").search(embedding(), 3, model());
        assertEquals("Bearer key-0123456789abcdef", lastAuthorization);
        client().search(embedding(), 3, model());
        assertEquals(null, lastAuthorization); // no key configured: no header
        nextSearch = "no_api_key";
        try {
            client().search(embedding(), 3, model());
            fail("401 not reported");
        } catch (ClientException e) {
            assertEquals(ClientException.Kind.UNAUTHORIZED, e.kind());
            assertTrue(e.getMessage(), e.getMessage().contains("needs an API key"));
        }
        try {
            new IndexClient(url, 5000, SearchCodec.Wire.FLOAT16, "two words");
            fail("a key with a space was accepted");
        } catch (ClientException e) {
            assertEquals(ClientException.Kind.BAD_SETTINGS, e.kind());
        }
    }

    @Test
    public void aClosedPortIsUnreachable() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        try {
            new IndexClient("http://127.0.0.1:" + port, 2000).search(embedding(), 3, model());
            fail("no error for a closed port");
        } catch (ClientException e) {
            assertEquals(ClientException.Kind.UNREACHABLE, e.kind());
            assertTrue(e.getMessage(), e.getMessage().startsWith("Cannot reach the server at http://127.0.0.1:" + port));
        }
    }

    @Test
    public void badServerUrlsAreSettingsErrors() {
        for (String url : new String[] {"", "192.168.1.20:8000", "ftp://host", "http://", "http://host/?q=1"}) {
            try {
                IndexClient.parseServerUrl(url);
                fail("accepted " + url);
            } catch (ClientException e) {
                assertEquals(ClientException.Kind.BAD_SETTINGS, e.kind());
            }
        }
    }

    @Test
    public void anEmbeddingOfTheWrongSizeNeverLeavesThePhone() throws Exception {
        try {
            client().search(new float[] {1f}, 3, model());
            fail("sent a 1-d embedding");
        } catch (ClientException e) {
            assertEquals(ClientException.Kind.BAD_MODEL, e.kind());
        }
    }
}
