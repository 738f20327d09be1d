"""Hard-negative mining, cirtorch/AML style: for each query, its nearest neighbours in a random pool
that belong to other clusters, at most one image per cluster (a FAISS k-NN over the pool)."""

from collections.abc import Callable

import numpy as np

from distill.errors import DistillError
from distill.search import knn

EmbedFn = Callable[[np.ndarray], np.ndarray]


def hard_negatives(query_emb: np.ndarray, query_clusters: np.ndarray, pool_emb: np.ndarray,
                   pool_clusters: np.ndarray, nnum: int) -> np.ndarray:
    """Positions in the pool (Q×nnum) of each query's `nnum` most similar negatives, one per cluster.

    Raises a DistillError when the pool holds fewer than `nnum` clusters other than a query's own.
    """
    n_pool = len(pool_emb)
    out = np.empty((len(query_emb), nnum), np.int64)
    k = min(n_pool, max(8 * nnum, 64))
    _, ranks = knn(query_emb, pool_emb, k=k)
    for q, row in enumerate(ranks):
        picked = _pick(row, pool_clusters, query_clusters[q], nnum)
        if len(picked) < nnum and k < n_pool:  # rare: the top-k were crowded by few clusters
            picked = _pick(knn(query_emb[q:q + 1], pool_emb)[1][0], pool_clusters, query_clusters[q], nnum)
        if len(picked) < nnum:
            raise DistillError(f"hard mining: the pool has only {len(picked)} clusters other than query {q}'s "
                               f"cluster, {nnum} negatives asked; lower nnum or enlarge the pool")
        out[q] = picked
    return out


def _pick(ranked: np.ndarray, pool_clusters: np.ndarray, own: int, nnum: int) -> list[int]:
    picked: list[int] = []
    used = {int(own)}
    for j in ranked:
        if j < 0:
            break
        c = int(pool_clusters[j])
        if c in used:
            continue
        used.add(c)
        picked.append(int(j))
        if len(picked) == nnum:
            break
    return picked


class HardMiner:
    """Refreshes every `refresh_every` steps: draws a random pool of `pool_size` images, embeds the
    queries and the pool (student, or teacher pool for asym: the loop supplies the functions), and
    takes each query's hardest negatives from other clusters."""

    name = "hard"

    def __init__(self, nnum: int = 5, pool_size: int = 2000, refresh_every: int = 100) -> None:
        self.nnum, self.pool_size, self.refresh_every = nnum, pool_size, refresh_every

    def mine(self, qidxs: np.ndarray, clusters: np.ndarray, rng: np.random.Generator,
             embed_queries: EmbedFn, embed_pool: EmbedFn) -> np.ndarray:
        """Image indices (Q×nnum) of the negatives of each query."""
        pool = np.sort(rng.choice(len(clusters), size=min(self.pool_size, len(clusters)), replace=False))
        pos = hard_negatives(embed_queries(qidxs), clusters[qidxs], embed_pool(pool), clusters[pool], self.nnum)
        return pool[pos]
