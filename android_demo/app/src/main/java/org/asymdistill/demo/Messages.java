package org.asymdistill.demo;

import org.asymdistill.client.ClientException;
import org.asymdistill.client.ModelMetadata;

/** What the banner says for each kind of failure: the core's one-line message plus what to do about it. */
final class Messages {
    private Messages() {
    }

    /**
     * @param serverUrl the URL from the settings (for UNREACHABLE)
     * @param model     the bundled model's metadata, or null when it did not load
     */
    static String of(ClientException e, String serverUrl, ModelMetadata model) {
        String detail = e.getMessage();
        switch (e.kind()) {
            case UNREACHABLE:
                return "Cannot reach " + serverUrl + " — is `distill serve --index … --host 0.0.0.0` running, and is the"
                        + " phone on the same network? (From the emulator the host computer is http://10.0.2.2:PORT.)\n"
                        + detail;
            case INCOMPATIBLE_MODEL:
                return "This app's model was exported for another teacher than the server's index"
                        + (model == null ? "" : " (model: " + model.student() + " → " + model.teacher() + ")")
                        + ", so its embeddings cannot be searched there. Bundle a student exported for that teacher, or"
                        + " serve an index built with this model's teacher.\n" + detail;
            case BAD_IMAGE:
                return "This photo could not be read: " + detail;
            case BAD_SETTINGS:
                return detail + " — fix it in Settings.";
            case BAD_MODEL:
                return "The bundled model cannot be used: " + detail + "\nRebuild the app after `make demo`"
                        + " (or with -PstudentModel=PATH to a .tflite from `distill export tflite`).";
            case UNAVAILABLE:
            case RATE_LIMITED:
                return detail + " — try again in a moment.";
            case UNAUTHORIZED:
                return detail + " — set the key in Settings (and use https:// so it is not sent in the clear).";
            case REJECTED_QUERY:
            case TOO_LARGE:
            case NOT_FOUND:
            case BAD_RESPONSE:
            default:
                return detail;
        }
    }
}
