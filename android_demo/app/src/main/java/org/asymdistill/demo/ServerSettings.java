package org.asymdistill.demo;

import android.content.Context;
import android.content.SharedPreferences;
import org.asymdistill.client.ClientException;
import org.asymdistill.client.IndexClient;
import org.asymdistill.client.SearchCodec;

/**
 * The server URL and API key, kept in SharedPreferences; only URLs that {@link IndexClient#parseServerUrl} and
 * keys that {@link IndexClient} accepts are stored.
 */
final class ServerSettings {
    /** The host computer as the Android emulator sees it, with `distill serve`'s default port. */
    static final String DEFAULT_URL = "http://10.0.2.2:8000";

    private static final String FILE = "settings";
    private static final String KEY_URL = "server_url";
    private static final String KEY_API_KEY = "api_key";

    private ServerSettings() {
    }

    static String serverUrl(Context context) {
        return prefs(context).getString(KEY_URL, DEFAULT_URL);
    }

    /** The API key for servers started with --api-key-file ("" when none). */
    static String apiKey(Context context) {
        return prefs(context).getString(KEY_API_KEY, "");
    }

    /** Validates both (as {@link IndexClient} does) and stores them: the URL normalised, the key trimmed. */
    static void save(Context context, String urlText, String apiKey) throws ClientException {
        String key = apiKey == null ? "" : apiKey.trim();
        new IndexClient(urlText, 1000, SearchCodec.Wire.FLOAT16, key); // throws BAD_SETTINGS for either
        prefs(context).edit().putString(KEY_URL, IndexClient.parseServerUrl(urlText).toString())
                .putString(KEY_API_KEY, key).apply();
    }

    /** A client of the configured server, with the configured key. */
    static IndexClient client(Context context, int timeoutMs) throws ClientException {
        return new IndexClient(serverUrl(context), timeoutMs, SearchCodec.Wire.FLOAT16, apiKey(context));
    }

    private static SharedPreferences prefs(Context context) {
        return context.getApplicationContext().getSharedPreferences(FILE, Context.MODE_PRIVATE);
    }
}
