"""Random negatives: for each query, images of `nnum` distinct other clusters, drawn uniformly."""

from collections.abc import Callable

import numpy as np

from distill.errors import DistillError


def random_negatives(query_clusters: np.ndarray, clusters: np.ndarray, nnum: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Image indices (Q×nnum): one random image from each of `nnum` random clusters ≠ the query's."""
    by_cluster = {int(c): np.flatnonzero(clusters == c) for c in np.unique(clusters)}
    names = np.asarray(sorted(by_cluster))
    if len(names) - 1 < nnum:
        raise DistillError(f"random mining: {len(names)} clusters, {nnum} negatives per query asked")
    out = np.empty((len(query_clusters), nnum), np.int64)
    for q, own in enumerate(query_clusters):
        others = names[names != own]
        for k, c in enumerate(rng.choice(others, size=nnum, replace=False)):
            out[q, k] = rng.choice(by_cluster[int(c)])
    return out


class RandomMiner:
    """Draws fresh random negatives at every refresh; needs no embeddings."""

    name = "random"

    def __init__(self, nnum: int = 5, pool_size: int = 0, refresh_every: int = 100) -> None:
        self.nnum, self.refresh_every = nnum, refresh_every

    def mine(self, qidxs: np.ndarray, clusters: np.ndarray, rng: np.random.Generator,
             embed_queries: Callable[[np.ndarray], np.ndarray],
             embed_pool: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Image indices (Q×nnum) of the negatives of each query."""
        return random_negatives(clusters[qidxs], clusters, self.nnum, rng)
