"""Retrieval evaluation in three modes: teacher↔teacher, student↔student (sym), and
student query ↔ teacher database (asym, the deployment setting)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distill import metrics
from distill.cache import load_cache
from distill.data import ClassSet, Dataset, ImageRef, RevisitedSet
from distill.errors import DistillError
from distill.search import knn, require_unit_rows

MODES = ("teacher", "sym", "asym")


@dataclass
class Embeddings:
    """Embeddings of every image of a dataset, in `dataset.refs` order, and who produced them."""

    values: np.ndarray
    model: str


def query_refs(data: Dataset, mode: str) -> list[ImageRef]:
    """Images the query model must encode: only a revisited set's queries in asym mode (the database
    is the teacher's), otherwise every image."""
    return data.query_refs if mode == "asym" and isinstance(data, RevisitedSet) else data.refs


def load_distractors(path: str | Path, db_model: str, dim: int) -> np.ndarray:
    """Distractor embeddings of the database model: an N×d `.npy` or a teacher cache directory of it
    (memory-mapped, not copied)."""
    p = Path(path)
    if p.is_dir():
        values, man = load_cache(p)
        if man["teacher"] != db_model:
            raise DistillError(f"{p}: distractors encoded by {man['teacher']}, the database by {db_model}")
    elif p.suffix == ".npy" and p.is_file():
        try:
            values = np.load(p, mmap_mode="r")
        except (ValueError, OSError) as e:
            raise DistillError(f"{p}: unreadable .npy ({e})") from None
    else:
        raise DistillError(f"{p}: --distractors expects an N×d .npy or a teacher cache directory")
    if values.ndim != 2 or values.shape[1] != dim or values.dtype.kind != "f":
        raise DistillError(f"{p}: distractors of shape {values.shape} ({values.dtype}), expected N×{dim} floats")
    require_unit_rows(values, str(p), "distractor embeddings")
    return values


def evaluate(data: Dataset, query: Embeddings, db: Embeddings, mode: str, data_path: str | Path,
             distractors: np.ndarray | None = None) -> dict[str, Any]:
    """Rank the database for each query and score it with the set's protocol.

    For a revisited set, `query` may hold embeddings of the queries only (the asym case needs no
    student pass over the database); otherwise both cover every image in `data.refs` order.
    `distractors` (revisited sets, the +1M protocol) join the database and are never positives."""
    if query.values.shape[1] != db.values.shape[1]:
        raise DistillError(f"query model {query.model} gives {query.values.shape[1]}-d embeddings but the "
                           f"database model {db.model} gives {db.values.shape[1]}-d: they cannot be compared")
    result: dict[str, Any] = {"mode": mode, "data": str(data_path), "query_model": query.model,
                              "db_model": db.model}
    if isinstance(data, RevisitedSet):
        n_db = len(data.imlist)
        q = query.values if len(query.values) == len(data.qimlist) else query.values[n_db:]
        parts = [db.values[:n_db]] if distractors is None else [db.values[:n_db], distractors]
        _, ranks = knn(q, parts)  # distractor rows get indices ≥ n_db: never in the ground truth
        result.update(metrics.revisited_map(ranks, data.gnd))
        result.update(n_queries=len(data.qimlist), n_db=n_db,
                      n_distractors=0 if distractors is None else len(distractors))
    elif distractors is not None:
        raise DistillError(f"{data_path}: --distractors applies to revisited test sets (the +1M protocol)")
    elif isinstance(data, ClassSet):
        n = len(data.refs)
        _, full = knn(query.values, db.values)
        ranks = _drop_self(full)
        result["recall"] = metrics.recall_at_k(ranks[:, :8], data.labels, data.labels)
        result["map"] = {"all": metrics.mean_average_precision(ranks, data.labels, data.labels)}
        result.update(n_queries=n, n_db=n)
    else:
        raise DistillError(f"{data_path}: evaluation needs a revisited test set or a class set, "
                           f"not training tuples")
    return result


def _drop_self(ranks: np.ndarray) -> np.ndarray:
    """Leave-one-out: remove each query's own index from its ranking (query i is database item i)."""
    rows = np.arange(len(ranks))[:, None]
    keep = ranks != rows
    out = np.array([r[m][: ranks.shape[1] - 1] for r, m in zip(ranks, keep, strict=True)])
    return out.astype(np.int64)


def format_table(result: dict[str, Any]) -> str:
    """A readable table of a result (percent, as papers report)."""
    head = f"{result['mode']} · {result['query_model']} → {result['db_model']} · {result['data']}"
    extra = f" + {result['n_distractors']} distractors" if result.get("n_distractors") else ""
    lines = [head, f"queries {result['n_queries']}, database {result['n_db']}{extra}"]
    if "mp" in result:
        lines.append(f"{'':8}{'mAP':>8}{'mP@1':>8}{'mP@5':>8}{'mP@10':>8}")
        for setup, m in result["map"].items():
            mp = result["mp"].get(setup, {})
            lines.append(f"{setup:8}{100 * m:8.2f}" + "".join(f"{100 * mp.get(k, float('nan')):8.2f}"
                                                           for k in ("1", "5", "10")))
    if "recall" in result:
        lines.append("  ".join(f"R@{k} {100 * v:.2f}" for k, v in result["recall"].items())
                     + f"  mAP {100 * result['map']['all']:.2f}")
    return "\n".join(lines)
