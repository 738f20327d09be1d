"""What one training step sees: tuple batches (SfM-120k) or class-balanced batches (class sets).

Order is derived from (seed, epoch) alone, so a resumed run replays exactly the same batches."""

from dataclasses import dataclass

import numpy as np

from distill.errors import DistillError


@dataclass
class Batch:
    """Image indices of the step's items, their labels, and which items are anchors."""

    items: np.ndarray
    labels: np.ndarray
    anchors: np.ndarray  # positions in `items`


def epoch_rng(seed: int, epoch: int, purpose: int = 0) -> np.random.Generator:
    """A generator that depends only on (seed, epoch, purpose)."""
    return np.random.default_rng([seed, epoch, purpose])


def tuple_order(n_queries: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The epoch's queries (positions in qidxs), shuffled and cut into steps of `batch_size` tuples."""
    order = rng.permutation(n_queries)
    return [order[s:s + batch_size] for s in range(0, n_queries, batch_size)]


def tuple_batch(sel: np.ndarray, qidxs: np.ndarray, pidxs: np.ndarray, negatives: np.ndarray,
                clusters: np.ndarray) -> Batch:
    """cirtorch tuples (q, p, n_1..n_k) of the selected queries; each query is an anchor and labels
    are clusters, so q and p are positives and the mined images negatives."""
    width = 2 + negatives.shape[1]
    items = np.concatenate([np.concatenate([[qidxs[i], pidxs[i]], negatives[i]]) for i in sel]).astype(np.int64)
    return Batch(items, clusters[items], np.arange(len(sel)) * width)


def class_batches(labels: np.ndarray, batch_size: int, per_class: int, rng: np.random.Generator) -> list[Batch]:
    """P classes × K images per step (K = `per_class`), covering about every image once per epoch."""
    classes = np.unique(labels)
    p = max(2, batch_size // per_class)
    if len(classes) < 2:
        raise DistillError("class set has fewer than 2 classes: no negatives to learn from")
    pools = {int(c): list(rng.permutation(np.flatnonzero(labels == c))) for c in classes}
    out = []
    for _ in range(max(1, len(labels) // (p * per_class))):
        chosen = rng.choice(classes, size=min(p, len(classes)), replace=False)
        items = []
        for c in chosen:
            pool = pools[int(c)]
            while len(pool) < per_class:
                pool.extend(rng.permutation(np.flatnonzero(labels == c)))
            items += [pool.pop() for _ in range(per_class)]
        idx = np.asarray(items, np.int64)
        out.append(Batch(idx, labels[idx], np.arange(len(idx))))
    return out
