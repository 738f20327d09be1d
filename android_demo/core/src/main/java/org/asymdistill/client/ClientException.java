package org.asymdistill.client;

/** Every failure the app shows to its user: a kind to branch on and a one-line message to display. */
public final class ClientException extends Exception {
    private static final long serialVersionUID = 1L;

    /** What went wrong, from the user's point of view. */
    public enum Kind {
        /** The bundled model file or its metadata is unusable. */
        BAD_MODEL,
        /** The photo could not be decoded or has no pixels. */
        BAD_IMAGE,
        /** The server URL in the settings is not an http(s) URL. */
        BAD_SETTINGS,
        /** No answer from the server (network down, wrong address, timeout). */
        UNREACHABLE,
        /** The server's index lives in another embedding space (code {@code space_mismatch}, HTTP 409). */
        INCOMPATIBLE_MODEL,
        /** The server refused the query ({@code invalid_request}, HTTP 422: wrong dimension, not normalised, bad k). */
        REJECTED_QUERY,
        /** The request was too large for the server ({@code too_large}, HTTP 413). */
        TOO_LARGE,
        /** The server is up but cannot serve this yet ({@code unavailable}, HTTP 503). */
        UNAVAILABLE,
        /** The requested item does not exist ({@code not_found}, HTTP 404). */
        NOT_FOUND,
        /** The server needs an API key and got none or a wrong one ({@code unauthorized}, HTTP 401). */
        UNAUTHORIZED,
        /** Too many requests with this key ({@code rate_limited}, HTTP 429): try again later. */
        RATE_LIMITED,
        /**
         * The server failed (HTTP 5xx other than 503), sent an error code not listed here, or answered
         * something that is not the API.
         */
        BAD_RESPONSE
    }

    private final Kind kind;
    private final int status;

    /** A failure with no HTTP status. */
    public ClientException(Kind kind, String message) {
        this(kind, 0, message);
    }

    /** A failure answered by the server with HTTP {@code status}. */
    public ClientException(Kind kind, int status, String message) {
        super(message);
        this.kind = kind;
        this.status = status;
    }

    /** What went wrong. */
    public Kind kind() {
        return kind;
    }

    /** The HTTP status, or 0 when the server did not answer. */
    public int status() {
        return status;
    }
}
