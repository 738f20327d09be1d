"""Flat vs IVF-PQ at 100k (and, with --sizes, 1M) teacher-dimension vectors, side by side in one run.

Database: the real lite2 teacher embeddings of the built-in test database (805 images) plus synthetic
distractors drawn from a Gaussian with their mean and covariance (device_eval.distractors), 1280-d.
Queries: the 40 real test queries (teacher embeddings of the cropped query images) for retrieval
Recall@K against their ground-truth positives, and 1000 database vectors with small noise for the
overlap of IVF-PQ's top-10 with Flat's. Prints build time, memory, searches/s (batched and one at a
time) and the ratios.

Run: `.venv/bin/python bench/index_scale.py [--sizes 100000 1000000]` (after `make demo`)."""

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from device_eval.distractors import gaussian_like
from device_eval.index import new_faiss_index
from distill.cache import load_cache
from distill.data import RevisitedSet, open_dataset

DATA, CACHE = "data/demo/test", "data/cache/demo-test"


def rss_mb() -> float:
    """Resident memory of this process (MB)."""
    import faiss

    return float(faiss.get_mem_usage_kb()) / 1024


@dataclass
class Run:
    """What one index measured."""

    add_s: float
    memory_mb: float
    batched_qps: float
    single_qps: float
    top: np.ndarray  # top-10 ids of the noisy queries
    ranks: np.ndarray  # top-10 ids of the real queries


def measure(index: Any, db: np.ndarray, queries: np.ndarray, noisy: np.ndarray) -> Run:
    """Add `db` (timed, memory delta), then time batched and single searches."""
    before, t0 = rss_mb(), time.perf_counter()
    for start in range(0, len(db), 65536):
        index.add(np.ascontiguousarray(db[start: start + 65536]))
    add_s, memory = time.perf_counter() - t0, rss_mb() - before
    t0 = time.perf_counter()
    _, top = index.search(noisy, 10)
    batched = len(noisy) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for q in noisy[:100]:
        index.search(q[None], 10)
    single = 100 / (time.perf_counter() - t0)
    return Run(add_s, memory, batched, single, top, index.search(queries, 10)[1])


def recall(ranks: np.ndarray, gnd: list[dict], k: int) -> float:
    """Share of queries with a ground-truth positive (easy or hard) in their top k."""
    pos = [set(np.concatenate([g["easy"], g["hard"]]).tolist()) for g in gnd]
    return float(np.mean([bool(set(r[:k].tolist()) & p) for r, p in zip(ranks, pos, strict=True)]))


def unit_noise(x: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    """x plus Gaussian noise, renormalised."""
    y = x + scale * rng.standard_normal(x.shape).astype(np.float32)
    return np.ascontiguousarray(y / np.linalg.norm(y, axis=1, keepdims=True), dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    p.add_argument("--pq", type=int, default=64, help="PQ sub-quantisers (1280/64 = 20 dims each)")
    p.add_argument("--ivf", type=int, default=1024, help="IVF lists (k-means on 64 × lists sampled vectors)")
    p.add_argument("--nprobe", type=int, default=32)
    args = p.parse_args(argv)
    data = open_dataset(DATA)
    assert isinstance(data, RevisitedSet)
    values, _ = load_cache(CACHE)
    n_db = len(data.imlist)
    real, queries = np.asarray(values[:n_db]), np.ascontiguousarray(values[n_db:])
    rng = np.random.default_rng(0)
    print(f"{'size':>9} {'index':>16} {'train s':>8} {'add s':>7} {'MB':>7} {'batch q/s':>10} "
          f"{'single q/s':>11} {'R@1':>6} {'R@10':>6} {'top-10 overlap':>15}")
    for size in args.sizes:
        db = np.concatenate([real, gaussian_like(real, size - n_db, seed=1)])
        noisy = unit_noise(db[rng.choice(size, 1000, replace=False)], 0.02, rng)
        ivf = args.ivf
        runs: dict[str, Run] = {}
        for name, lists, pq in (("Flat", None, None), (f"IVF{ivf},PQ{args.pq}", ivf, args.pq)):
            t0 = time.perf_counter()
            index, _ = new_faiss_index(db.shape[1], db, lists, pq, args.nprobe)
            train_s = time.perf_counter() - t0
            r = runs[name] = measure(index, db, queries, noisy)
            overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(r.top, runs["Flat"].top, strict=True)])
            print(f"{size:>9} {name:>16} {train_s:8.1f} {r.add_s:7.1f} {r.memory_mb:7.0f} {r.batched_qps:10.0f} "
                  f"{r.single_qps:11.1f} {recall(r.ranks, data.gnd, 1):6.3f} {recall(r.ranks, data.gnd, 10):6.3f} "
                  f"{overlap:15.3f}")
            del index
        flat, approx = runs["Flat"], runs[f"IVF{ivf},PQ{args.pq}"]
        r10 = recall(approx.ranks, data.gnd, 10) / max(recall(flat.ranks, data.gnd, 10), 1e-9)
        print(f"{size:>9} IVF-PQ / Flat: single-query searches/s {approx.single_qps / flat.single_qps:.1f}×, batched "
              f"{approx.batched_qps / flat.batched_qps:.1f}×, memory {approx.memory_mb / max(flat.memory_mb, 1):.3f}×, "
              f"Recall@10 {r10:.3f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
