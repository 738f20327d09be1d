package org.asymdistill.client;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The {@code POST /search} contract of {@code distill serve}: request bodies, response parsing and
 * the mapping of the server's error codes to messages a user can act on. No I/O here (see {@link IndexClient}).
 */
public final class SearchCodec {
    private static final Gson GSON = new Gson();

    private SearchCodec() {
    }

    /** How a request carries the embedding. */
    public enum Wire {
        /** A JSON array of floats (every server; ~20 bytes per value). */
        FLOAT32,
        /** {@code {"dtype": "float16", "b64": ...}}: little-endian binary16, base64 (2.7 bytes per value). */
        FLOAT16
    }

    /** The JSON body of a search for {@code embedding} (finite, unit length) under {@code compatKey}, as floats. */
    public static String request(float[] embedding, int k, String compatKey) {
        return request(embedding, k, compatKey, Wire.FLOAT32);
    }

    /** The JSON body of a search for {@code embedding} under {@code compatKey}, the embedding in {@code wire} form. */
    public static String request(float[] embedding, int k, String compatKey, Wire wire) {
        JsonObject body = new JsonObject();
        if (wire == Wire.FLOAT16) {
            JsonObject compact = new JsonObject();
            compact.addProperty("dtype", "float16");
            compact.addProperty("b64", HalfFloat.base64(embedding));
            body.add("embedding", compact);
        } else {
            body.add("embedding", GSON.toJsonTree(embedding));
        }
        body.addProperty("k", k);
        body.addProperty("compat_key", compatKey);
        return GSON.toJson(body);
    }

    /** A successful answer: hits best first. */
    public static final class Result {
        private int k;
        private boolean renormalized;
        private List<SearchHit> results;

        private Result() {
        }

        /** Hits, best first. */
        public List<SearchHit> hits() {
            return Collections.unmodifiableList(results);
        }

        /** The server rescaled the embedding (its norm was not 1 within 1e-3). */
        public boolean renormalized() {
            return renormalized;
        }

        /** Hits asked for. */
        public int k() {
            return k;
        }
    }

    /** Parses the server's answer with HTTP {@code status}; errors become a {@link ClientException}. */
    public static Result response(int status, String body) throws ClientException {
        if (status != 200) {
            throw error(status, body);
        }
        Result r;
        try {
            r = GSON.fromJson(body, Result.class);
        } catch (JsonParseException | IllegalStateException e) {
            throw badResponse("search answer is not the expected JSON");
        }
        if (r == null || r.results == null) {
            throw badResponse("search answer has no results list");
        }
        List<SearchHit> hits = new ArrayList<>(r.results);
        for (int i = 0; i < hits.size(); i++) {
            SearchHit h = hits.get(i);
            if (h == null || !h.complete() || h.rank() != i + 1
                    || (i > 0 && h.score() > hits.get(i - 1).score() + 1e-6)) {
                throw badResponse("search answer is not ranked best first at position " + (i + 1));
            }
        }
        r.results = hits;
        return r;
    }

    /**
     * The error a server answer stands for, in words for the user: the kind follows the body's
     * machine-readable {@code code} ({@code {"error": ..., "code": ...}}); only a body without one (an
     * older server, a proxy's page) falls back to the HTTP status.
     */
    public static ClientException error(int status, String body) {
        JsonObject json = errorJson(body);
        String detail = errorText(json, body);
        String code = json != null && json.has("code") && json.get("code").isJsonPrimitive()
                ? json.get("code").getAsString() : statusCode(status);
        switch (code) {
            case "space_mismatch":
                return new ClientException(ClientException.Kind.INCOMPATIBLE_MODEL, status,
                        "The server's index was built for another teacher: this model cannot query it (" + detail + ")");
            case "invalid_request":
                return new ClientException(ClientException.Kind.REJECTED_QUERY, status,
                        "The server rejected the query: " + detail);
            case "too_large":
                return new ClientException(ClientException.Kind.TOO_LARGE, status, "Request too large: " + detail);
            case "unavailable":
                return new ClientException(ClientException.Kind.UNAVAILABLE, status,
                        "The server cannot answer yet: " + detail);
            case "not_found":
                return new ClientException(ClientException.Kind.NOT_FOUND, status, "Not found: " + detail);
            case "unauthorized":
                return new ClientException(ClientException.Kind.UNAUTHORIZED, status,
                        "The server needs an API key: enter the one you were given in the settings (" + detail + ")");
            case "rate_limited":
                return new ClientException(ClientException.Kind.RATE_LIMITED, status,
                        "Too many searches for this key, try again shortly (" + detail + ")");
            default:
                return new ClientException(ClientException.Kind.BAD_RESPONSE, status,
                        "The server answered HTTP " + status + ": " + detail);
        }
    }

    /** The code a server without codes meant by {@code status} (what its error statuses stood for). */
    private static String statusCode(int status) {
        switch (status) {
            case 409:
                return "space_mismatch";
            case 422:
                return "invalid_request";
            case 413:
                return "too_large";
            case 503:
                return "unavailable";
            case 404:
                return "not_found";
            case 401:
                return "unauthorized";
            case 429:
                return "rate_limited";
            default:
                return "";
        }
    }

    /** The {@code error} field of a JSON error body, or a short excerpt of a body that is not one. */
    private static String errorText(JsonObject json, String body) {
        if (json != null && json.has("error") && json.get("error").isJsonPrimitive()) {
            return json.get("error").getAsString();
        }
        String text = body == null ? "" : body.replaceAll("\\s+", " ").trim();
        return text.isEmpty() ? "no details" : text.substring(0, Math.min(120, text.length()));
    }

    /** The body as a JSON object, or null when it is not one. */
    private static JsonObject errorJson(String body) {
        try {
            JsonElement e = JsonParser.parseString(body);
            return e != null && e.isJsonObject() ? e.getAsJsonObject() : null;
        } catch (JsonParseException | IllegalStateException | UnsupportedOperationException ignored) {
            return null; // not our JSON
        }
    }

    private static ClientException badResponse(String what) {
        return new ClientException(ClientException.Kind.BAD_RESPONSE, 200, "The server's " + what);
    }
}
