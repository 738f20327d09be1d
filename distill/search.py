"""Exact k-NN by inner product (embeddings are L2-normalised, so this is cosine): FAISS, or torch where
FAISS is not installed (e.g. a GPU machine without it; fine for evaluation-sized sets)."""

from collections.abc import Sequence

import numpy as np

from distill.errors import DistillError

CHUNK = 65536


def require_unit_rows(values: np.ndarray, where: str, what: str = "embeddings", sample: int = 4096) -> None:
    """One-line error unless the first `sample` rows of an N×d array are finite and L2-normalised
    (a sample: the array may be a memory-mapped million rows)."""
    v = np.asarray(values[: min(len(values), sample)], dtype=np.float32)
    if len(v) and (not np.isfinite(v).all() or np.abs(np.linalg.norm(v, axis=1) - 1).max() > 1e-3):
        raise DistillError(f"{where}: {what} must be finite and L2-normalised")


def knn(queries: np.ndarray, database: np.ndarray | Sequence[np.ndarray], k: int | None = None
        ) -> tuple[np.ndarray, np.ndarray]:
    """Top-k database rows for each query, best first: (scores Q×k, indices Q×k). k=None ranks all.

    `database` may be a list of N_i×d parts (e.g. a test database then 1M distractors), searched as
    their concatenation without copying them into one array."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    parts = [database] if isinstance(database, np.ndarray) else list(database)
    dims = {p.shape[1] if p.ndim == 2 else -1 for p in parts}
    if q.ndim != 2 or dims != {q.shape[1]}:
        raise DistillError(f"query embeddings {q.shape} and database embeddings "
                           f"{[p.shape for p in parts]} must be N×d with the same d")
    if not np.isfinite(q).all():
        raise DistillError("embeddings contain NaN or inf")
    try:
        import faiss
    except ImportError:
        return _torch_knn(q, parts, k)
    index = faiss.IndexFlatIP(q.shape[1])
    for part in parts:
        for start in range(0, len(part), CHUNK):
            rows = np.ascontiguousarray(part[start: start + CHUNK], dtype=np.float32)
            if not np.isfinite(rows).all():
                raise DistillError("embeddings contain NaN or inf")
            index.add(rows)
    k = index.ntotal if k is None else min(k, index.ntotal)
    scores, idx = index.search(q, k)
    return scores, idx.astype(np.int64)


def _torch_knn(q: np.ndarray, parts: Sequence[np.ndarray], k: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The same search with torch (exact; the whole score matrix is held, so for evaluation-sized sets)."""
    import torch

    db = np.concatenate([np.asarray(p, dtype=np.float32) for p in parts])
    if not np.isfinite(db).all():
        raise DistillError("embeddings contain NaN or inf")
    scores = torch.from_numpy(q) @ torch.from_numpy(db).T
    kk = len(db) if k is None else min(k, len(db))
    top, idx = torch.topk(scores, kk, dim=1)  # sorted, best first
    return top.numpy(), idx.numpy().astype(np.int64)
