package org.asymdistill.client;

import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpRetryException;
import java.net.HttpURLConnection;
import java.net.MalformedURLException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;

/**
 * Talks to {@code distill serve} over HTTP (java.net, present on Android and on the JVM). Blocking:
 * call it off the UI thread. Every failure is a {@link ClientException} with a message for the user.
 */
public final class IndexClient {
    private final URI base;
    private final int timeoutMs;
    private final SearchCodec.Wire wire;
    private final String apiKey;

    /** A client of the server at {@code serverUrl} (e.g. {@code http://192.168.1.20:8000}); searches send float16. */
    public IndexClient(String serverUrl, int timeoutMs) throws ClientException {
        this(serverUrl, timeoutMs, SearchCodec.Wire.FLOAT16, "");
    }

    /**
     * A client sending embeddings in {@code wire} form ({@code FLOAT32} for servers older than the compact form)
     * and, when {@code apiKey} is not empty, the header {@code Authorization: Bearer apiKey} (a server started
     * with {@code --api-key-file}; use https so the key is not sent in the clear).
     */
    public IndexClient(String serverUrl, int timeoutMs, SearchCodec.Wire wire, String apiKey) throws ClientException {
        this.base = parseServerUrl(serverUrl);
        this.timeoutMs = timeoutMs;
        this.wire = wire;
        this.apiKey = apiKey == null ? "" : apiKey.trim();
        if (this.apiKey.chars().anyMatch(ch -> ch < 0x21 || ch > 0x7e)) {
            throw new ClientException(ClientException.Kind.BAD_SETTINGS,
                    "The API key holds spaces or characters outside printable ASCII: paste it again");
        }
    }

    /** Checks a server URL typed in the settings: http(s), a host, no query; trailing slash removed. */
    public static URI parseServerUrl(String text) throws ClientException {
        String t = text == null ? "" : text.trim().replaceAll("/+$", "");
        try {
            URI u = new URI(t);
            String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase();
            if ((scheme.equals("http") || scheme.equals("https")) && u.getHost() != null
                    && u.getQuery() == null && u.getFragment() == null) {
                return u;
            }
        } catch (URISyntaxException ignored) {
            // reported below
        }
        throw new ClientException(ClientException.Kind.BAD_SETTINGS,
                "Server URL '" + t + "': expected http://HOST:PORT (the address `distill serve --host 0.0.0.0` listens on)");
    }

    /** An absolute URL for a server path such as a hit's thumbnail. */
    public URL resolve(String path) throws ClientException {
        try {
            return new URL(base.toString() + (path.startsWith("/") ? path : "/" + path));
        } catch (MalformedURLException e) {
            throw new ClientException(ClientException.Kind.BAD_RESPONSE, "bad URL path from the server: " + path);
        }
    }

    /** Searches the index; {@code embedding} must be the model's (normalised) output. */
    public SearchCodec.Result search(float[] embedding, int k, ModelMetadata model) throws ClientException {
        if (embedding.length != model.dim()) {
            throw new ClientException(ClientException.Kind.BAD_MODEL,
                    "the model produced " + embedding.length + " values, its metadata says " + model.dim());
        }
        byte[] body = SearchCodec.request(embedding, k, model.compatKey(), wire).getBytes(StandardCharsets.UTF_8);
        Answer a = exchange("POST", "/search", body);
        return SearchCodec.response(a.status, a.text());
    }

    /**
     * Checks before the first search that the server's index is in this model's space (the same
     * compat key, as the server decides), so the user learns at start-up (not on the first photo)
     * that the model and server do not match.
     */
    public void checkCompatible(ModelMetadata model) throws ClientException {
        Answer a = exchange("GET", "/manifest", null);
        if (a.status != 200) {
            throw SearchCodec.error(a.status, a.text());
        }
        JsonObject index;
        try {
            index = JsonParser.parseString(a.text()).getAsJsonObject().getAsJsonObject("index");
        } catch (JsonParseException | IllegalStateException | ClassCastException | NullPointerException e) {
            throw new ClientException(ClientException.Kind.BAD_RESPONSE, "The server's /manifest is not an index manifest");
        }
        String key = index.has("compat_key") ? index.get("compat_key").getAsString() : "";
        int dim = index.has("dim") ? index.get("dim").getAsInt() : -1;
        if (!key.equals(model.compatKey())) {
            String teacher = index.has("teacher") ? index.get("teacher").getAsString() : "?";
            throw new ClientException(ClientException.Kind.INCOMPATIBLE_MODEL, 409,
                    "The server's index (" + teacher + ", " + dim + "-d, key " + key + ") does not match this model ("
                            + model.dim() + "-d, key " + model.compatKey() + "): install a student exported for it");
        }
    }

    /** JPEG bytes of a hit's thumbnail. */
    public byte[] thumbnail(SearchHit hit) throws ClientException {
        Answer a = exchange("GET", hit.thumbnail(), null);
        if (a.status != 200) {
            throw SearchCodec.error(a.status, a.text());
        }
        return a.body;
    }

    private Answer exchange(String method, String path, byte[] body) throws ClientException {
        URL url = resolve(path);
        HttpURLConnection c = null;
        try {
            c = (HttpURLConnection) url.openConnection();
            c.setConnectTimeout(timeoutMs);
            c.setReadTimeout(timeoutMs);
            c.setRequestMethod(method);
            c.setRequestProperty("Accept", "application/json");
            if (!apiKey.isEmpty()) {
                c.setRequestProperty("Authorization", "Bearer " + apiKey);
            }
            if (body != null) {
                c.setDoOutput(true);
                c.setRequestProperty("Content-Type", "application/json");
                c.setFixedLengthStreamingMode(body.length);
                try (OutputStream out = c.getOutputStream()) {
                    out.write(body);
                }
            }
            int status = c.getResponseCode();
            InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
            return new Answer(status, in == null ? new byte[0] : readAll(in));
        } catch (HttpRetryException e) { // a 401 to a streamed body: HttpURLConnection gives only its status
            return new Answer(e.responseCode(), new byte[0]);
        } catch (IOException e) {
            throw new ClientException(ClientException.Kind.UNREACHABLE,
                    "Cannot reach the server at " + base + " (" + e.getClass().getSimpleName()
                            + (e.getMessage() == null ? "" : ": " + e.getMessage()) + ")");
        } finally {
            if (c != null) {
                c.disconnect();
            }
        }
    }

    private static byte[] readAll(InputStream in) throws IOException {
        try (InputStream s = in) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            for (int n; (n = s.read(buf)) > 0; ) {
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        }
    }

    private static final class Answer {
        final int status;
        final byte[] body;

        Answer(int status, byte[] body) {
            this.status = status;
            this.body = body;
        }

        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }
}
