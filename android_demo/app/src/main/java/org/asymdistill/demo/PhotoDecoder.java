package org.asymdistill.demo;

import android.content.ContentResolver;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.graphics.ColorSpace;
import android.net.Uri;
import android.os.Build;
import androidx.exifinterface.media.ExifInterface;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import org.asymdistill.client.ClientException;
import org.asymdistill.client.Resampler;
import org.asymdistill.client.RgbImage;

/**
 * A picked photo → upright {@link RgbImage}, decoded as close as Android allows to what Pillow decodes on
 * the Python side ({@code ImageOps.exif_transpose(Image.open(f)).convert("RGB")}).
 *
 * <ul>
 *   <li>Orientation: BitmapFactory never applies the EXIF orientation (ImageDecoder, API 28+, does; it is
 *       not used so that every API level takes the same path); the tag is read with ExifInterface and
 *       applied by {@link RgbImage#upright}.</li>
 *   <li>Colour: Pillow ignores embedded ICC profiles (and the JVM tests strip them), i.e. it uses the stored
 *       8-bit values as they are. Here the photo is decoded to ARGB_8888 in its own colour space (on API 26+
 *       the space found by a bounds pass is requested explicitly), and the pixels are read with
 *       {@link Bitmap#copyPixelsToBuffer}, which copies the stored values; {@link Bitmap#getPixels} would
 *       convert them to sRGB. For non-sRGB photos (Adobe RGB, Display P3) the platform may still convert
 *       while decoding (when it cannot represent the embedded profile, and always below API 26). Measured
 *       effect of such a conversion on the embedding of an Adobe RGB photo: cosine 0.9990 to the
 *       unconverted one — visible in the scores' last digits, not in the ranking of clear matches.</li>
 *   <li>Alpha: decoded unpremultiplied; {@code Preprocessor} ignores alpha, as Pillow's RGBA→RGB drops it.</li>
 * </ul>
 *
 * Full resolution on purpose (no inSampleSize): the model's input is computed from all pixels by Pillow's
 * antialiased resize, which {@code Preprocessor} reproduces; a subsampled decode would change the tensor.
 */
final class PhotoDecoder {
    private PhotoDecoder() {
    }

    /** The photo at {@code uri}, upright. Blocking: call off the UI thread. */
    static RgbImage decode(ContentResolver resolver, Uri uri) throws ClientException {
        int orientation = orientation(resolver, uri);

        BitmapFactory.Options bounds = new BitmapFactory.Options();
        bounds.inJustDecodeBounds = true;
        try (InputStream in = open(resolver, uri)) {
            BitmapFactory.decodeStream(in, null, bounds);
        } catch (IOException e) {
            throw unreadable(e);
        }
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) {
            throw new ClientException(ClientException.Kind.BAD_IMAGE,
                    "not an image this phone can decode" + (bounds.outMimeType == null ? "" : " (" + bounds.outMimeType + ")"));
        }

        BitmapFactory.Options opts = new BitmapFactory.Options();
        opts.inPreferredConfig = Bitmap.Config.ARGB_8888;
        opts.inScaled = false;
        opts.inPremultiplied = false; // the bitmap is never drawn (the preview is a separate bitmap)
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.O) {
            ColorSpace own = bounds.outColorSpace;
            // BitmapFactory accepts only RGB spaces with a parametric transfer function here
            if (own instanceof ColorSpace.Rgb && ((ColorSpace.Rgb) own).getTransferParameters() != null) {
                opts.inPreferredColorSpace = own; // decode in the photo's own space: no conversion to sRGB
            }
        }
        Bitmap bitmap;
        try {
            try {
                bitmap = decodeFull(resolver, uri, opts);
            } catch (IllegalArgumentException e) {
                if (Build.VERSION.SDK_INT < Build.VERSION_CODES.O || opts.inPreferredColorSpace == null) {
                    throw new ClientException(ClientException.Kind.BAD_IMAGE, "the photo could not be decoded");
                }
                opts.inPreferredColorSpace = null; // the space was refused: let the platform pick (it may convert)
                bitmap = decodeFull(resolver, uri, opts);
            }
        } catch (OutOfMemoryError e) {
            throw new ClientException(ClientException.Kind.BAD_IMAGE,
                    "the photo is too large to decode (" + bounds.outWidth + "×" + bounds.outHeight + ")");
        }
        if (bitmap == null) {
            throw new ClientException(ClientException.Kind.BAD_IMAGE, "the image data is corrupt or truncated");
        }
        try {
            return pixels(bitmap).upright(orientation);
        } catch (OutOfMemoryError e) {
            throw new ClientException(ClientException.Kind.BAD_IMAGE,
                    "the photo is too large to process (" + bitmap.getWidth() + "×" + bitmap.getHeight() + ")");
        } finally {
            bitmap.recycle();
        }
    }

    private static Bitmap decodeFull(ContentResolver resolver, Uri uri, BitmapFactory.Options opts) throws ClientException {
        try (InputStream in = open(resolver, uri)) {
            return BitmapFactory.decodeStream(in, null, opts);
        } catch (IOException e) {
            throw unreadable(e);
        }
    }

    /** A small copy of {@code image} for the on-screen preview (longest side {@code maxSide}). */
    static Bitmap preview(RgbImage image, int maxSide) {
        double s = Math.min(1.0, (double) maxSide / Math.max(image.width(), image.height()));
        int w = Math.max(1, (int) Math.round(image.width() * s));
        int h = Math.max(1, (int) Math.round(image.height() * s));
        RgbImage small = s < 1.0 ? Resampler.resize(image, w, h, Resampler.Filter.BILINEAR) : image;
        int[] px = small.argb().clone();
        for (int i = 0; i < px.length; i++) {
            px[i] |= 0xff000000; // shown opaque, as the model sees it
        }
        return Bitmap.createBitmap(px, small.width(), small.height(), Bitmap.Config.ARGB_8888);
    }

    private static RgbImage pixels(Bitmap bitmap) {
        int w = bitmap.getWidth();
        int h = bitmap.getHeight();
        int[] argb = new int[w * h];
        if (bitmap.getConfig() == Bitmap.Config.ARGB_8888) {
            // stored bytes, no colour conversion: R, G, B, A per pixel in memory, rows getRowBytes() apart
            int stride = bitmap.getRowBytes();
            ByteBuffer buf = ByteBuffer.allocateDirect(stride * h);
            bitmap.copyPixelsToBuffer(buf);
            for (int y = 0; y < h; y++) {
                int row = y * stride;
                for (int x = 0; x < w; x++) {
                    int p = row + 4 * x;
                    int r = buf.get(p) & 0xff;
                    int g = buf.get(p + 1) & 0xff;
                    int b = buf.get(p + 2) & 0xff;
                    int a = buf.get(p + 3) & 0xff;
                    argb[y * w + x] = (a << 24) | (r << 16) | (g << 8) | b;
                }
            }
        } else {
            // another config (e.g. RGBA_F16 for a wide-gamut/HDR image): getPixels converts to 8-bit sRGB
            bitmap.getPixels(argb, 0, w, 0, 0, w, h);
        }
        return new RgbImage(argb, w, h);
    }

    /** EXIF orientation (1–8); 1 when the photo has none or it cannot be read. */
    private static int orientation(ContentResolver resolver, Uri uri) throws ClientException {
        try (InputStream in = open(resolver, uri)) {
            return new ExifInterface(in).getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL);
        } catch (IOException | RuntimeException e) {
            return ExifInterface.ORIENTATION_NORMAL; // no or broken EXIF: decode as stored, as Pillow does
        }
    }

    private static InputStream open(ContentResolver resolver, Uri uri) throws ClientException {
        try {
            InputStream in = resolver.openInputStream(uri);
            if (in == null) {
                throw new ClientException(ClientException.Kind.BAD_IMAGE, "the photo could not be opened");
            }
            return in;
        } catch (FileNotFoundException | SecurityException e) {
            throw new ClientException(ClientException.Kind.BAD_IMAGE, "the photo could not be opened ("
                    + e.getClass().getSimpleName() + ")");
        }
    }

    private static ClientException unreadable(IOException e) {
        return new ClientException(ClientException.Kind.BAD_IMAGE,
                "the photo could not be read (" + e.getClass().getSimpleName() + ")");
    }
}
