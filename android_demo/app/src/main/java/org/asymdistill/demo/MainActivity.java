package org.asymdistill.demo;

import android.content.Intent;
import android.graphics.Bitmap;
import android.net.Uri;
import android.os.Bundle;
import android.os.SystemClock;
import android.view.View;
import android.widget.Button;
import android.widget.ImageView;
import android.widget.TextView;
import androidx.activity.ComponentActivity;
import androidx.activity.result.ActivityResultLauncher;
import androidx.activity.result.PickVisualMediaRequest;
import androidx.activity.result.contract.ActivityResultContracts;
import androidx.recyclerview.widget.LinearLayoutManager;
import androidx.recyclerview.widget.RecyclerView;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.asymdistill.client.ClientException;
import org.asymdistill.client.IndexClient;
import org.asymdistill.client.ModelMetadata;
import org.asymdistill.client.RgbImage;
import org.asymdistill.client.SearchCodec;

/**
 * Pick a photo → decode, upright by EXIF → preprocess → student on the device → POST /search → hits.
 * At start-up and whenever the server URL changes, GET /manifest checks that the server's index is in
 * the bundled model's embedding space; failures go to the banner.
 *
 * <p>All blocking work (model loading, decoding, inference, HTTP) runs in order on one background thread,
 * so the model is loaded before the first check or search; thumbnails load on their own threads.
 */
public final class MainActivity extends ComponentActivity {
    static final String EXTRA_MODEL_INFO = "org.asymdistill.demo.MODEL_INFO";
    private static final int K = 10;
    private static final int TIMEOUT_MS = 10_000;
    private static final int THREADS = 4;

    private final ExecutorService work = Executors.newSingleThreadExecutor();
    private final ExecutorService thumbnailThreads = Executors.newFixedThreadPool(2);

    private Button choose;
    private TextView banner;
    private TextView status;
    private ImageView preview;
    private ResultsAdapter results;
    private ActivityResultLauncher<PickVisualMediaRequest> picker;

    // written on the work thread, read on it (and, once set, on the UI thread for messages)
    private volatile ModelRunner runner;
    private volatile ModelMetadata meta;
    private volatile IndexClient client;
    private volatile String modelInfo = "";
    private String checkedUrl; // the URL and key last checked; UI thread only

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        choose = findViewById(R.id.choose_photo);
        banner = findViewById(R.id.banner);
        status = findViewById(R.id.status);
        preview = findViewById(R.id.preview);
        RecyclerView list = findViewById(R.id.results);
        list.setLayoutManager(new LinearLayoutManager(this));
        results = new ResultsAdapter(thumbnailThreads);
        list.setAdapter(results);

        // the system photo picker (Android 11+ and updated older devices; otherwise ACTION_OPEN_DOCUMENT):
        // no storage permission, the app gets a readable content:// URI
        picker = registerForActivityResult(new ActivityResultContracts.PickVisualMedia(), uri -> {
            if (uri != null) {
                search(uri);
            }
        });
        choose.setOnClickListener(v -> picker.launch(new PickVisualMediaRequest.Builder()
                .setMediaType(ActivityResultContracts.PickVisualMedia.ImageOnly.INSTANCE)
                .build()));
        findViewById(R.id.settings).setOnClickListener(v ->
                startActivity(new Intent(this, SettingsActivity.class).putExtra(EXTRA_MODEL_INFO, modelInfo)));

        submit(this::loadModel);
    }

    @Override
    protected void onResume() {
        super.onResume();
        String url = ServerSettings.serverUrl(this);
        String settings = url + "\n" + ServerSettings.apiKey(this);
        if (!settings.equals(checkedUrl)) { // start-up, or the URL or API key was changed in the settings
            checkedUrl = settings;
            submit(() -> checkServer(url));
        }
    }

    @Override
    protected void onDestroy() {
        super.onDestroy();
        work.shutdownNow(); // drops queued jobs; a running one finishes (HTTP calls end at their timeout)
        thumbnailThreads.shutdownNow();
        // close the native interpreter only once no job can still be using it
        new Thread(() -> {
            try {
                work.awaitTermination(TIMEOUT_MS * 3L, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            ModelRunner r = runner;
            if (r != null && work.isTerminated()) {
                r.close();
            }
        }, "close-model").start();
    }

    // ---- work thread --------------------------------------------------------------------------------

    private void loadModel() {
        try {
            ModelRunner r = ModelRunner.fromAsset(getApplicationContext(), THREADS);
            runner = r;
            meta = r.metadata();
            modelInfo = r.metadata() + "\n" + r.describe()
                    + "\nstudent " + r.metadata().student() + " → teacher " + r.metadata().teacher();
            ui(() -> {
                choose.setEnabled(true);
                status.setText(getString(R.string.status_ready) + "\nModel: " + meta.student() + " ("
                        + meta.quantization() + "), " + meta.dim() + "-d, teacher " + meta.teacher());
            });
        } catch (ClientException e) {
            ui(() -> {
                status.setText("");
                showError(e);
            });
        }
    }

    private void checkServer(String url) {
        ModelMetadata m = meta;
        if (m == null) {
            return; // the model did not load: its error is already in the banner
        }
        try {
            IndexClient c = ServerSettings.client(this, TIMEOUT_MS);
            c.checkCompatible(m);
            client = c;
            ui(() -> {
                banner.setVisibility(View.GONE);
                status.setText(getString(R.string.status_ready) + "\nServer " + url + ": index matches the model (key "
                        + m.compatKey() + ").");
            });
        } catch (ClientException e) {
            client = null;
            ui(() -> showError(e));
        }
    }

    private void search(Uri uri) {
        choose.setEnabled(false);
        status.setText(R.string.status_embedding);
        submit(() -> {
            try {
                ModelRunner r = runner;
                if (r == null) {
                    return;
                }
                long t0 = SystemClock.elapsedRealtime();
                RgbImage photo = PhotoDecoder.decode(getContentResolver(), uri);
                Bitmap shown = PhotoDecoder.preview(photo, 512);
                long t1 = SystemClock.elapsedRealtime();
                float[] embedding = r.embed(photo);
                long t2 = SystemClock.elapsedRealtime();
                ui(() -> {
                    preview.setImageBitmap(shown);
                    status.setText(R.string.status_searching);
                });
                IndexClient c = client;
                if (c == null) { // the start-up check failed (or the URL changed): try again now
                    c = ServerSettings.client(this, TIMEOUT_MS);
                    c.checkCompatible(meta);
                    client = c;
                }
                SearchCodec.Result answer = c.search(embedding, K, meta);
                long t3 = SystemClock.elapsedRealtime();
                IndexClient from = c;
                String summary = String.format(Locale.US,
                        "%d×%d photo · decoded in %d ms · embedded on the device in %d ms · searched in %d ms · %d hits%s",
                        photo.width(), photo.height(), t1 - t0, t2 - t1, t3 - t2, answer.hits().size(),
                        answer.renormalized() ? " (the server renormalised the query)" : "");
                ui(() -> {
                    banner.setVisibility(View.GONE);
                    status.setText(summary);
                    results.show(answer.hits(), from);
                });
            } catch (ClientException e) {
                ui(() -> {
                    status.setText("");
                    showError(e);
                });
            } finally {
                ui(() -> choose.setEnabled(runner != null));
            }
        });
    }

    // ---- helpers ------------------------------------------------------------------------------------

    private void showError(ClientException e) {
        banner.setText(Messages.of(e, ServerSettings.serverUrl(this), meta));
        banner.setVisibility(View.VISIBLE);
    }

    private void submit(Runnable task) {
        try {
            work.execute(task);
        } catch (RejectedExecutionException ignored) {
            // the activity is being destroyed
        }
    }

    private void ui(Runnable action) {
        runOnUiThread(() -> {
            if (!isDestroyed()) {
                action.run();
            }
        });
    }
}
