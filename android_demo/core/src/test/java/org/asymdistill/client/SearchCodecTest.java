package org.asymdistill.client;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.List;
import org.junit.Test;

/** The /search contract against bodies recorded from the real server, and hand-made bad answers. */
public class SearchCodecTest {
    @Test
    public void everyRecordedServerAnswerMapsToItsKind() throws Exception {
        Goldens g = Goldens.load();
        int checked = 0;
        for (JsonObject r : g.responses()) {
            if (!r.get("path").getAsString().startsWith("/search")) {
                continue;
            }
            String expect = r.get("expect").getAsString();
            String body = g.text(r.get("body").getAsString());
            try {
                SearchCodec.Result res = SearchCodec.response(r.get("status").getAsInt(), body);
                assertEquals(r.get("name").getAsString(), "ok", expect);
                assertEquals(3, res.hits().size());
            } catch (ClientException e) {
                assertEquals(r.get("name").getAsString() + ": " + e.getMessage(), expect, e.kind().name());
                assertEquals(r.get("status").getAsInt(), e.status());
                assertFalse("message carries the server's reason: " + e.getMessage(), e.getMessage().contains("{"));
            }
            checked++;
        }
        assertEquals(10, checked); // incl. float16 body, missing key (401) and rate limit (429)
    }

    @Test
    public void theQueryFindsItselfFirst() throws Exception {
        Goldens g = Goldens.load();
        JsonObject first = g.cases().get(0);
        SearchCodec.Result res = SearchCodec.response(200, g.text("responses/search_ok.json"));
        List<SearchHit> hits = res.hits();
        assertEquals(first.get("name").getAsString(), hits.get(0).name());
        assertEquals(1.0, hits.get(0).score(), 1e-5);
        assertTrue(hits.get(1).score() <= hits.get(0).score());
        assertEquals("/thumbs/" + hits.get(0).id(), hits.get(0).thumbnail());
    }

    @Test
    public void requestCarriesTheEmbeddingExactly() throws Exception {
        Goldens g = Goldens.load();
        float[] emb = g.floats(g.cases().get(0).get("embedding").getAsString());
        JsonObject body = JsonParser.parseString(SearchCodec.request(emb, 5, "abc")).getAsJsonObject();
        JsonArray values = body.getAsJsonArray("embedding");
        float[] back = new float[values.size()];
        for (int i = 0; i < back.length; i++) {
            back[i] = values.get(i).getAsFloat();
        }
        assertArrayEquals(emb, back, 0f);
        assertEquals(5, body.get("k").getAsInt());
        assertEquals("abc", body.get("compat_key").getAsString());
        assertEquals(3, body.size());
    }

    @Test
    public void malformedAnswersAreBadResponses() {
        String[] bodies = {
            "<html>gateway</html>",
            "{\"k\": 2}",
            "{\"k\":2,\"renormalized\":false,\"results\":[{\"rank\":2,\"id\":1,\"name\":\"a\",\"score\":0.5,\"thumbnail\":\"/t\"}]}",
            "{\"k\":2,\"renormalized\":false,\"results\":[{\"rank\":1,\"id\":1,\"name\":\"a\",\"score\":0.2,\"thumbnail\":\"/t\"},"
                + "{\"rank\":2,\"id\":2,\"name\":\"b\",\"score\":0.9,\"thumbnail\":\"/t\"}]}",
            "{\"k\":1,\"renormalized\":false,\"results\":[{\"rank\":1,\"id\":1,\"score\":0.2,\"thumbnail\":\"/t\"}]}",
        };
        for (String body : bodies) {
            try {
                SearchCodec.response(200, body);
                fail("accepted " + body);
            } catch (ClientException e) {
                assertEquals(body, ClientException.Kind.BAD_RESPONSE, e.kind());
            }
        }
    }

    @Test
    public void theKindFollowsTheServersCodeNotTheStatus() throws Exception {
        Goldens g = Goldens.load();
        for (JsonObject r : g.responses()) {
            if (r.get("status").getAsInt() != 200) {
                JsonObject body = JsonParser.parseString(g.text(r.get("body").getAsString())).getAsJsonObject();
                assertTrue(r.get("name").getAsString() + " has no code", body.has("code"));
            }
        }
        String mismatch = "{\"error\": \"other space\", \"code\": \"space_mismatch\"}";
        assertEquals(ClientException.Kind.INCOMPATIBLE_MODEL, SearchCodec.error(400, mismatch).kind());
        assertEquals(400, SearchCodec.error(400, mismatch).status());
        ClientException other = SearchCodec.error(409, "{\"error\": \"layout\", \"code\": \"conflict\"}");
        assertEquals(ClientException.Kind.BAD_RESPONSE, other.kind());
        assertEquals("The server answered HTTP 409: layout", other.getMessage());
        assertEquals(ClientException.Kind.REJECTED_QUERY,
                SearchCodec.error(400, "{\"error\": \"k\", \"code\": \"invalid_request\"}").kind());
    }

    @Test
    public void errorWithoutJsonKeepsAShortExcerpt() {
        ClientException e = SearchCodec.error(502, "<html>\n  Bad   Gateway\n</html>");
        assertEquals(ClientException.Kind.BAD_RESPONSE, e.kind());
        assertEquals("The server answered HTTP 502: <html> Bad Gateway </html>", e.getMessage());
        assertEquals(ClientException.Kind.UNAVAILABLE, SearchCodec.error(503, "{\"error\": \"image search is off\"}").kind());
        assertEquals("The server cannot answer yet: image search is off",
                SearchCodec.error(503, "{\"error\": \"image search is off\"}").getMessage());
    }
}
