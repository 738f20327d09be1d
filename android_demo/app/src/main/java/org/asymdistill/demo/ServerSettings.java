package org.asymdistill.demo;

import android.content.Context;
import android.content.SharedPreferences;
import org.asymdistill.client.ClientException;
import org.asymdistill.client.IndexClient;

/** The server URL, kept in SharedPreferences; only URLs that {@link IndexClient#parseServerUrl} accepts are stored. */
final class ServerSettings {
    /** The host computer as the Android emulator sees it, with `distill serve`'s default port. */
    static final String DEFAULT_URL = "http://10.0.2.2:8000";

    private static final String FILE = "settings";
    private static final String KEY_URL = "server_url";

    private ServerSettings() {
    }

    static String serverUrl(Context context) {
        return prefs(context).getString(KEY_URL, DEFAULT_URL);
    }

    /** Validates and stores {@code text}; returns the normalised URL (trailing slash removed). */
    static String setServerUrl(Context context, String text) throws ClientException {
        String url = IndexClient.parseServerUrl(text).toString();
        prefs(context).edit().putString(KEY_URL, url).apply();
        return url;
    }

    private static SharedPreferences prefs(Context context) {
        return context.getApplicationContext().getSharedPreferences(FILE, Context.MODE_PRIVATE);
    }
}
