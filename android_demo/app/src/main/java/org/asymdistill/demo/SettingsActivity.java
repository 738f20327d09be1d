package org.asymdistill.demo;

import android.app.Activity;
import android.os.Bundle;
import android.view.View;
import android.view.inputmethod.EditorInfo;
import android.widget.EditText;
import android.widget.TextView;
import org.asymdistill.client.ClientException;

/**
 * The server URL and API key. Saved only when {@code IndexClient} accepts both; MainActivity notices the
 * change in onResume and checks the new server's index against the model.
 */
public final class SettingsActivity extends Activity {
    private EditText url;
    private EditText apiKey;
    private TextView error;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_settings);
        url = findViewById(R.id.server_url);
        apiKey = findViewById(R.id.api_key);
        error = findViewById(R.id.error);
        if (savedInstanceState == null) {
            url.setText(ServerSettings.serverUrl(this));
            apiKey.setText(ServerSettings.apiKey(this));
        }
        String info = getIntent().getStringExtra(MainActivity.EXTRA_MODEL_INFO);
        ((TextView) findViewById(R.id.model_info)).setText(
                info == null || info.isEmpty() ? "Model: not loaded" : "Model: " + info);

        findViewById(R.id.save).setOnClickListener(v -> save());
        findViewById(R.id.use_default).setOnClickListener(v -> url.setText(ServerSettings.DEFAULT_URL));
        url.setOnEditorActionListener((v, actionId, event) -> {
            if (actionId == EditorInfo.IME_ACTION_DONE) {
                save();
                return true;
            }
            return false;
        });
    }

    private void save() {
        try {
            ServerSettings.save(this, url.getText().toString(), apiKey.getText().toString());
            finish();
        } catch (ClientException e) {
            error.setText(e.getMessage());
            error.setVisibility(View.VISIBLE);
        }
    }
}
