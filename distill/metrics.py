"""Retrieval metrics as pure numpy functions.

Instance level: the revisited Oxford/Paris protocol (Radenović et al., CVPR 2018), matching the
revisitop reference `compute_ap`/`compute_map` numerically, but with queries along axis 0 of `ranks`.
Class level: Recall@K as in deep metric learning and standard (non-trapezoid) mean average precision.
All rankings hold database indices, best first, one row per query.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from distill.errors import DistillError

SETUPS = ("easy", "medium", "hard")


def _ranks(ranks: Any) -> np.ndarray:
    arr = np.asarray(ranks)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise DistillError(f"ranks must be a 2-D integer array (queries × ranked database indices), "
                           f"got shape {arr.shape} dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _ks(ks: Sequence[int]) -> tuple[int, ...]:
    out = tuple(ks)
    if not out or not all(isinstance(k, int | np.integer) and not isinstance(k, bool) and k > 0
                          for k in out):
        raise DistillError(f"ks must be a non-empty sequence of positive integers, got {ks!r}")
    return tuple(int(k) for k in out)


def _indices(value: Any, where: str) -> np.ndarray:
    arr = np.asarray([] if value is None else value).reshape(-1)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0:
        raise DistillError(f"{where} must be non-negative integer database indices, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _labels(labels: Any, n: int, where: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1 or len(arr) != n:
        raise DistillError(f"{where} must be a 1-D array of length {n}, got shape {arr.shape}")
    return arr


def average_precision(pos_ranks: np.ndarray, n_pos: int) -> float:
    """Trapezoid AP (revisitop `compute_ap`) from the junk-adjusted 0-based ranks of retrieved positives,
    in increasing order; `n_pos` counts all positives of the ground truth, retrieved or not."""
    if n_pos <= 0:
        raise DistillError(f"n_pos must be positive, got {n_pos}")
    r = np.asarray(pos_ranks, dtype=np.float64).reshape(-1)
    j = np.arange(len(r), dtype=np.float64)
    p0 = np.divide(j, r, out=np.ones_like(r), where=r != 0)
    p1 = (j + 1) / (r + 1)
    return float(np.sum(p0 + p1) / (2.0 * n_pos))


def _membership(ranks: np.ndarray, sets: list[np.ndarray]) -> np.ndarray:
    """Boolean (queries × ranked) mask: is ranks[i, p] in sets[i]? Row by row: a per-row `np.isin` uses a
    small lookup table, several times faster than one `np.isin` over (query, index) keys of all rows."""
    mask = np.zeros(ranks.shape, dtype=bool)
    for i, s in enumerate(sets):
        if s.size:
            mask[i] = np.isin(ranks[i], s)
    return mask


def compute_map(ranks: np.ndarray, gnd: list[dict[str, Any]], ks: Sequence[int] = (1, 5, 10)
                ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Revisitop `compute_map` with queries along axis 0: `ranks` is (n_queries, n_ranked) database
    indices best first (may be truncated; negative entries such as FAISS's -1 padding match nothing),
    `gnd[i]` has index arrays `ok` and `junk` (optional). Returns (mAP, AP per query, mean P@k,
    P@k per query); queries without positives get NaN and are left out of the means.

    P@k keeps the reference's quirk: with 1-based adjusted positions `pos` of the retrieved positives,
    kq = min(max(pos), k) and P@k = |pos <= kq| / kq. A query with no positive retrieved scores 0."""
    ranks, kk = _ranks(ranks), np.array(_ks(ks), dtype=np.int64)
    nq, n = ranks.shape
    if len(gnd) != nq:
        raise DistillError(f"gnd length ({len(gnd)}) must equal the number of query rows of ranks ({nq})")
    for i, g in enumerate(gnd):
        if not isinstance(g, dict) or "ok" not in g:
            raise DistillError(f"gnd[{i}] must be a dict with index arrays 'ok' and optionally 'junk'")
    ok = [_indices(g["ok"], f"gnd[{i}]['ok']") for i, g in enumerate(gnd)]
    junk = [_indices(g.get("junk"), f"gnd[{i}]['junk']") for i, g in enumerate(gnd)]
    n_pos = np.array([len(o) for o in ok], dtype=np.int64)

    # Flat (row-major) positions of retrieved positives and junk: grouped by query, sorted by rank.
    pos_flat = np.flatnonzero(_membership(ranks, ok))
    junk_flat = np.flatnonzero(_membership(ranks, junk))
    q, p = np.divmod(pos_flat, n) if n else (pos_flat, pos_flat)
    row_start = q * n
    # Junk strictly before each positive in its own row, and each positive's index j within its row.
    shift = np.searchsorted(junk_flat, pos_flat, "left") - np.searchsorted(junk_flat, row_start, "left")
    j = (np.arange(len(pos_flat)) - np.searchsorted(pos_flat, row_start, "left")).astype(np.float64)
    r = (p - shift).astype(np.float64)

    p0 = np.divide(j, r, out=np.ones_like(r), where=r != 0)
    contrib = (p0 + (j + 1) / (r + 1)) / 2.0
    valid = n_pos > 0
    aps = np.full(nq, np.nan)
    aps[valid] = np.bincount(q, weights=contrib, minlength=nq)[valid] / n_pos[valid]

    one_based = r + 1
    max_pos = np.zeros(nq)
    np.maximum.at(max_pos, q, one_based)
    kq = np.minimum(max_pos[:, None], kk[None, :])  # (nq, len(ks)); 0 where nothing was retrieved
    hits = np.zeros((nq, len(kk)))  # (bincount of an empty array would come back as integers)
    for c in range(len(kk)):
        hits[:, c] = np.bincount(q, weights=one_based <= kq[q, c], minlength=nq)
    prs = np.divide(hits, kq, out=np.zeros_like(hits), where=kq > 0)
    prs[~valid] = np.nan

    if not valid.any():
        return float("nan"), aps, np.full(len(kk), np.nan), prs
    return float(aps[valid].mean()), aps, prs[valid].mean(axis=0), prs


def revisited_ap(ranking: np.ndarray, ok: np.ndarray, junk: np.ndarray, ks: Sequence[int] = (1, 5, 10)
                 ) -> tuple[float, np.ndarray]:
    """AP and P@k (per k) of one query: `ranking` is database indices best first (may be truncated)."""
    arr = np.asarray(ranking)
    if arr.ndim != 1:
        raise DistillError(f"ranking must be a 1-D integer array, got shape {arr.shape}")
    _, aps, _, prs = compute_map(arr[None, :], [{"ok": ok, "junk": junk}], ks)
    return float(aps[0]), prs[0]


def revisited_map(ranks: np.ndarray, gnd: list[dict[str, Any]], ks: Sequence[int] = (1, 5, 10),
                  per_query: bool = False) -> dict[str, dict[str, Any]]:
    """mAP and mP@k of the Easy/Medium/Hard setups from `easy`/`hard`/`junk` ground truth, as floats in
    [0, 1]: {"map": {setup: v}, "mp": {setup: {str(k): v}}} (and, with `per_query`, "ap": {setup: AP of
    each query, NaN where it has no positive}). Setups where no query has a positive are left out.
    Medium concatenates easy and hard, as revisitop does."""
    ks = _ks(ks)
    out: dict[str, dict[str, Any]] = {"map": {}, "mp": {}}
    if per_query:
        out["ap"] = {}
    if not isinstance(gnd, list | tuple):
        raise DistillError(f"gnd must be a list of dicts with 'easy', 'hard' and 'junk', got {type(gnd)}")
    parts = []
    for i, g in enumerate(gnd):
        if not isinstance(g, dict) or any(key not in g for key in ("easy", "hard", "junk")):
            raise DistillError(f"gnd[{i}] must be a dict with index arrays 'easy', 'hard' and 'junk'")
        parts.append({key: _indices(g[key], f"gnd[{i}]['{key}']") for key in ("easy", "hard", "junk")})
    for setup in SETUPS:
        sub = []
        for g in parts:
            e, h, jk = g["easy"], g["hard"], g["junk"]
            if setup == "easy":
                sub.append({"ok": e, "junk": np.concatenate([jk, h])})
            elif setup == "medium":
                sub.append({"ok": np.concatenate([e, h]), "junk": jk})
            else:
                sub.append({"ok": h, "junk": np.concatenate([jk, e])})
        m, aps, mp, _ = compute_map(ranks, sub, ks)
        if np.isnan(aps).all():
            continue
        out["map"][setup] = float(m)
        out["mp"][setup] = {str(k): float(v) for k, v in zip(ks, mp, strict=True)}
        if per_query:
            out["ap"][setup] = aps
    return out


def bootstrap_interval(aps: np.ndarray, ref_aps: np.ndarray | None = None, n: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval over queries of mean(`aps`), or, with `ref_aps` (the same queries'
    APs of a reference such as the teacher), of the ratio mean(aps) / mean(ref_aps) with the queries
    resampled jointly. Queries with NaN AP (no positive) are left out."""
    a = np.asarray(aps, np.float64)
    r = None if ref_aps is None else np.asarray(ref_aps, np.float64)
    keep = ~np.isnan(a) if r is None else ~(np.isnan(a) | np.isnan(r))
    if not keep.any():
        raise DistillError("bootstrap: no query has a positive")
    a = a[keep]
    idx = np.random.default_rng(seed).integers(0, len(a), (n, len(a)))
    stat = a[idx].mean(1)
    if r is not None:
        stat = stat / np.maximum(r[keep][idx].mean(1), 1e-12)
    lo, hi = np.quantile(stat, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _class_relevance(ranks: Any, query_labels: Any, db_labels: Any) -> np.ndarray:
    """(queries × ranked) boolean: does the ranked database item share the query's label?"""
    ranks = _ranks(ranks)
    ql = _labels(query_labels, ranks.shape[0], "query_labels (one per query row of ranks)")
    dl = np.asarray(db_labels)
    if dl.ndim != 1:
        raise DistillError(f"db_labels must be a 1-D array, got shape {dl.shape}")
    if ranks.size and (ranks.min() < 0 or ranks.max() >= len(dl)):
        raise DistillError(f"ranks must hold database indices in [0, {len(dl)}), "
                           f"got values in [{ranks.min()}, {ranks.max()}]")
    return np.asarray(dl[ranks] == ql[:, None], dtype=bool).reshape(ranks.shape)


def recall_at_k(ranks: np.ndarray, query_labels: np.ndarray, db_labels: np.ndarray,
                ks: Sequence[int] = (1, 2, 4, 8)) -> dict[str, float]:
    """Recall@K of deep metric learning: the fraction of queries with a same-label item in their top K.
    `ranks` must already exclude the query itself; K beyond the ranking's length uses the whole ranking."""
    ks = _ks(ks)
    rel = _class_relevance(ranks, query_labels, db_labels)
    if rel.shape[0] == 0:
        raise DistillError("ranks must have at least one query row")
    first_hit = np.where(rel.any(axis=1), rel.argmax(axis=1), np.iinfo(np.int64).max)
    return {str(k): float(np.mean(first_hit < k)) for k in ks}


def mean_average_precision(ranks: np.ndarray, query_labels: np.ndarray, db_labels: np.ndarray) -> float:
    """Standard mAP (mean over positives of precision at their rank) over full rankings; positives are
    same-label items and AP is normalised by the positives in the ranking (so leave-one-out rankings
    work). Queries with no positive are left out; NaN if no query has one."""
    rel = _class_relevance(ranks, query_labels, db_labels)
    n_rel = rel.sum(axis=1)
    precision = np.cumsum(rel, axis=1) / np.arange(1, rel.shape[1] + 1)
    valid = n_rel > 0
    if not valid.any():
        return float("nan")
    return float(np.mean((precision * rel).sum(axis=1)[valid] / n_rel[valid]))
