"""Miners pick the negatives that are known to be right."""

import numpy as np
import pytest

from distill.errors import DistillError
from distill.miners import create_miner, hard_negatives, list_miners, random_negatives


def unit(*angles_deg: float) -> np.ndarray:
    a = np.radians(angles_deg)
    return np.stack([np.cos(a), np.sin(a)], 1).astype(np.float32)


def test_hard_negatives_skip_own_cluster_and_take_one_per_cluster() -> None:
    query = unit(0)
    # pool by similarity to the query: own cluster (5°), cluster 1 (10°, 20°), cluster 2 (30°), cluster 3 (90°)
    pool = unit(90, 30, 20, 10, 5)
    pool_clusters = np.array([3, 2, 1, 1, 0])
    got = hard_negatives(query, np.array([0]), pool, pool_clusters, nnum=2)
    assert got.tolist() == [[3, 1]]  # 10° (cluster 1), then 30° (cluster 2): 20° is cluster 1 again
    assert hard_negatives(query, np.array([0]), pool, pool_clusters, nnum=3).tolist() == [[3, 1, 0]]
    with pytest.raises(DistillError, match="only 3 clusters"):
        hard_negatives(query, np.array([0]), pool, pool_clusters, nnum=4)


def test_hard_miner_maps_pool_positions_to_image_indices_and_uses_given_spaces() -> None:
    clusters = np.array([0, 0, 1, 1, 2, 2])
    emb = unit(0, 2, 10, 80, 40, 170)
    miner = create_miner("hard", nnum=2, pool_size=6)
    neg = miner.mine(np.array([0]), clusters, np.random.default_rng(0), lambda i: emb[i], lambda i: emb[i])
    assert neg.tolist() == [[2, 4]]
    # with another pool space (e.g. the teacher's), the choice follows that space
    other = unit(0, 2, 80, 10, 170, 40)
    neg = miner.mine(np.array([0]), clusters, np.random.default_rng(0), lambda i: emb[i], lambda i: other[i])
    assert neg.tolist() == [[3, 5]]


def test_random_negatives_are_from_distinct_other_clusters() -> None:
    clusters = np.repeat(np.arange(10), 3)
    rng = np.random.default_rng(1)
    neg = random_negatives(clusters[[0, 3, 29]], clusters, 4, rng)
    for q, row in zip([0, 3, 29], neg, strict=True):
        cs = clusters[row]
        assert len(set(cs)) == 4 and clusters[q] not in cs
    again = random_negatives(clusters[[0, 3, 29]], clusters, 4, np.random.default_rng(1))
    assert np.array_equal(neg, again)
    with pytest.raises(DistillError, match="10 clusters"):
        random_negatives(clusters[[0]], clusters, 10, rng)


def test_registry() -> None:
    assert list_miners() == ["hard", "random"]
    with pytest.raises(DistillError, match="unknown mining"):
        create_miner("semi")
