"""The hosted-index world of the index benches (run `make demo` first): a teacher-space database of real and
synthetic vectors and real queries whose true match is known.

Database (1280-d, lite2 teacher space): the real teacher embeddings of the built-in test database (805 photos)
and of the photo pool (the whole-photo view of each pool photo), plus synthetic distractors drawn from a
Gaussian with the real embeddings' mean and covariance (device_eval.distractors) up to the size asked.
Queries: augmented views of pool photos from the view cache (crops, flips, colour jitter, mixup), whose whole
photo is in the database."""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from device_eval.distractors import gaussian_like
from distill.cache import load_cache
from distill.data import RevisitedSet, open_dataset

DATA, CACHE, POOL = "data/demo/test", "data/cache/demo-test", "data/cache/pool-v24"


@dataclass
class IndexWorld:
    """Database rows (size × d), their items, the teacher space, and the query views with their photo's row."""

    db: np.ndarray
    items: list[dict[str, str]]
    space: dict
    views: np.ndarray
    view_row: np.ndarray  # the database row of each view's whole photo
    test: RevisitedSet
    n_real: int


def pool_views(path: str, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(whole-photo rows, sampled other views, the photo of each sampled view) of a view cache."""
    values, man = load_cache(path)
    per = int(man["views"]["per_image"])
    if not man["views"].get("whole_first"):
        raise SystemExit(f"{path}: the bench needs a view cache whose first view per photo is the whole photo")
    photo = np.arange(len(values)) // per
    others = np.flatnonzero(np.arange(len(values)) % per)
    pick = np.sort(np.random.default_rng(seed).choice(others, n_queries, replace=False))
    return np.asarray(values[::per]), np.ascontiguousarray(values[pick]), photo[pick]


def index_world(size: int, n_queries: int = 1000, pool_cache: str = POOL) -> IndexWorld:
    """The database at `size` rows (real first, then seeded distractors) and `n_queries` pool views."""
    data = open_dataset(DATA)
    if not isinstance(data, RevisitedSet):
        raise SystemExit(f"{DATA}: expected the built-in revisited test set (run `make demo`)")
    values, space = load_cache(CACHE)
    n_db = len(data.imlist)
    whole, views, view_photo = pool_views(pool_cache, n_queries)
    real = np.concatenate([values[:n_db], whole])
    if size < len(real):
        raise SystemExit(f"--size {size}: the real vectors alone are {len(real)}")
    db = np.concatenate([real, gaussian_like(real, size - len(real), seed=1)])
    items = ([{"name": n, "path": ""} for n in data.imlist] + [{"name": f"pool-{i}", "path": ""}
                                                                for i in range(len(whole))]
             + [{"name": f"distractor-{i}", "path": ""} for i in range(size - len(real))])
    return IndexWorld(db, items, space, views, n_db + view_photo, data, len(real))


def search_rate(index: Any, queries: np.ndarray, batch: int, seconds: float = 3.0) -> float:
    """Searches per second (k = 10) of `index.search` in batches of `batch`, cycling through `queries` for
    `seconds`."""
    done, start, starts = 0, time.perf_counter(), max(len(queries) - batch + 1, 1)
    while time.perf_counter() - start < seconds:
        i = done % starts
        index.search(queries[i: i + batch], 10)
        done += batch
    return done / (time.perf_counter() - start)


def overlap_and_recall(top: Sequence[Sequence[int]], exact: np.ndarray, own_row: np.ndarray) -> tuple[float, float]:
    """(share of exact search's top 10 in each `top` row, share of rows holding their view's own photo), over
    the rows of `top` (the first len(top) queries)."""
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top, exact.tolist(), strict=False)])
    recall = np.mean([row in t for row, t in zip(own_row.tolist(), top, strict=False)])
    return float(overlap), float(recall)
