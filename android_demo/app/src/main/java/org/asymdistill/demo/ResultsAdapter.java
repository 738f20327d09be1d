package org.asymdistill.demo;

import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.os.Handler;
import android.os.Looper;
import android.util.Log;
import android.util.LruCache;
import android.view.LayoutInflater;
import android.view.View;
import android.view.ViewGroup;
import android.widget.ImageView;
import android.widget.TextView;
import androidx.annotation.NonNull;
import androidx.recyclerview.widget.RecyclerView;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import org.asymdistill.client.ClientException;
import org.asymdistill.client.IndexClient;
import org.asymdistill.client.SearchHit;

/** The ranked hits: thumbnail (fetched lazily from the server that answered), name, id, cosine score. */
final class ResultsAdapter extends RecyclerView.Adapter<ResultsAdapter.Holder> {
    private static final String TAG = "ResultsAdapter";

    private final ExecutorService thumbnails;
    private final Handler main = new Handler(Looper.getMainLooper());
    private final LruCache<String, Bitmap> cache = new LruCache<>(64);
    private final List<SearchHit> hits = new ArrayList<>();
    private IndexClient client;

    ResultsAdapter(ExecutorService thumbnails) {
        this.thumbnails = thumbnails;
    }

    /** Shows {@code newHits}, whose thumbnails come from {@code from} (the server that answered). */
    void show(List<SearchHit> newHits, IndexClient from) {
        hits.clear();
        hits.addAll(newHits);
        client = from;
        notifyDataSetChanged();
    }

    @NonNull
    @Override
    public Holder onCreateViewHolder(@NonNull ViewGroup parent, int viewType) {
        return new Holder(LayoutInflater.from(parent.getContext()).inflate(R.layout.item_result, parent, false));
    }

    @Override
    public void onBindViewHolder(@NonNull Holder h, int position) {
        SearchHit hit = hits.get(position);
        h.name.setText(String.format(Locale.US, "#%d  %s", hit.rank(), hit.name()));
        h.detail.setText(String.format(Locale.US, "item %d", hit.id()));
        h.score.setText(String.format(Locale.US, "%.3f", hit.score()));
        // key by server + path: ids of another server's index are other images
        String key = System.identityHashCode(client) + " " + hit.thumbnail();
        h.key = key;
        Bitmap cached = cache.get(key);
        h.thumbnail.setImageBitmap(cached);
        if (cached == null) {
            IndexClient c = client;
            try {
                thumbnails.execute(() -> load(c, hit, key, h));
            } catch (RejectedExecutionException ignored) {
                // the activity is finishing
            }
        }
    }

    private void load(IndexClient c, SearchHit hit, String key, Holder h) {
        Bitmap bmp = null;
        try {
            byte[] jpeg = c.thumbnail(hit);
            bmp = BitmapFactory.decodeByteArray(jpeg, 0, jpeg.length);
        } catch (ClientException e) {
            Log.w(TAG, "thumbnail of " + hit.name() + ": " + e.getMessage()); // the row keeps its placeholder
        }
        if (bmp == null) {
            return;
        }
        Bitmap b = bmp;
        main.post(() -> {
            cache.put(key, b);
            if (key.equals(h.key)) { // the row was not rebound to another hit meanwhile
                h.thumbnail.setImageBitmap(b);
            }
        });
    }

    @Override
    public int getItemCount() {
        return hits.size();
    }

    static final class Holder extends RecyclerView.ViewHolder {
        final ImageView thumbnail;
        final TextView name;
        final TextView detail;
        final TextView score;
        String key;

        Holder(View v) {
            super(v);
            thumbnail = v.findViewById(R.id.thumbnail);
            name = v.findViewById(R.id.name);
            detail = v.findViewById(R.id.detail);
            score = v.findViewById(R.id.score);
        }
    }
}
