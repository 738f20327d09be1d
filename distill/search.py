"""Exact k-NN by inner product with FAISS (embeddings are L2-normalised, so this is cosine)."""

import numpy as np

from distill.errors import DistillError


def knn(queries: np.ndarray, database: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k database rows for each query, best first: (scores Q×k, indices Q×k). k=None ranks all."""
    import faiss

    q = np.ascontiguousarray(queries, dtype=np.float32)
    db = np.ascontiguousarray(database, dtype=np.float32)
    if q.ndim != 2 or db.ndim != 2 or q.shape[1] != db.shape[1]:
        raise DistillError(f"query embeddings {q.shape} and database embeddings {db.shape} must be N×d "
                           f"with the same d")
    if not (np.isfinite(q).all() and np.isfinite(db).all()):
        raise DistillError("embeddings contain NaN or inf")
    k = db.shape[0] if k is None else min(k, db.shape[0])
    index = faiss.IndexFlatIP(db.shape[1])
    index.add(db)
    scores, idx = index.search(q, k)
    return scores, idx.astype(np.int64)
