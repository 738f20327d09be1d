package org.asymdistill.client;

/** One ranked database image of a search answer. */
public final class SearchHit {
    private int rank;
    private long id;
    private String name;
    private double score;
    private String thumbnail;

    private SearchHit() {
    }

    /** 1 for the best match. */
    public int rank() {
        return rank;
    }

    /** Database item id. */
    public long id() {
        return id;
    }

    /** Database image name. */
    public String name() {
        return name;
    }

    /** Cosine similarity to the query. */
    public double score() {
        return score;
    }

    /** URL path of the item's JPEG thumbnail on the server (resolve with {@link IndexClient#resolve}). */
    public String thumbnail() {
        return thumbnail;
    }

    boolean complete() {
        return rank > 0 && name != null && thumbnail != null && Double.isFinite(score);
    }
}
