"""Search coalescing: concurrent callers get exactly their own top-k, in fewer index calls of at most
`max_batch`; a failing search fails every waiter instead of hanging them; a cancelled caller does not
disturb the others; `best_batch` finds where throughput stops growing."""

import asyncio
import time

import numpy as np
import pytest

from device_eval.batching import SearchBatcher, best_batch
from distill.search import knn


def test_concurrent_searches_are_coalesced_and_each_gets_its_own_rows() -> None:
    rng = np.random.default_rng(0)
    db = rng.normal(size=(2000, 16)).astype(np.float32)
    queries = rng.normal(size=(40, 16)).astype(np.float32)
    ks = [1 + i % 7 for i in range(40)]
    calls: list[int] = []

    def slow_search(q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        calls.append(len(q))
        time.sleep(0.02)  # long enough for the other callers to queue up behind the running search
        return knn(q, db, k)

    async def run() -> list[tuple[np.ndarray, np.ndarray]]:
        batcher = SearchBatcher(slow_search, max_batch=8)
        try:
            return await asyncio.gather(*(batcher.search(queries[i: i + 1], ks[i]) for i in range(40)))
        finally:
            batcher.close()

    got = asyncio.run(run())
    for i in range(40):
        want_scores, want = knn(queries[i: i + 1], db, ks[i])
        assert got[i][1].shape == (1, ks[i]) and got[i][1].tolist() == want.tolist()
        np.testing.assert_allclose(got[i][0], want_scores, rtol=1e-6)
    assert calls == [8] * 5  # all 40 queued before the first call: every query searched once, 8 per call


def test_a_failing_search_raises_in_every_waiter_and_the_next_search_works() -> None:
    fail = [True]

    def flaky(q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(0.02)
        if fail[0]:
            raise RuntimeError("index gone")
        return np.zeros((len(q), k), np.float32), np.tile(np.arange(k), (len(q), 1))

    async def run() -> list[object]:
        batcher = SearchBatcher(flaky)
        try:
            out = await asyncio.wait_for(asyncio.gather(*(batcher.search(np.zeros((1, 4), np.float32), 1)
                                                          for _ in range(8)), return_exceptions=True), 5)
            fail[0] = False
            out.append(await asyncio.wait_for(batcher.search(np.zeros((1, 4), np.float32), 2), 5))
            return out
        finally:
            batcher.close()

    out = asyncio.run(run())
    assert [str(e) for e in out[:8]] == ["index gone"] * 8 and all(isinstance(e, RuntimeError) for e in out[:8])
    assert out[8][1].tolist() == [[0, 1]]  # type: ignore[index]


def test_a_cancelled_caller_leaves_the_others_their_answers() -> None:
    def slow(q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(0.05)
        return q[:, :k].copy(), np.tile(np.arange(k), (len(q), 1))

    async def run() -> tuple[list[float], bool]:
        batcher = SearchBatcher(slow)
        try:
            first = asyncio.ensure_future(batcher.search(np.full((1, 4), 9, np.float32), 1))  # runs alone
            await asyncio.sleep(0.01)
            tasks = [asyncio.ensure_future(batcher.search(np.full((1, 4), i, np.float32), 1)) for i in range(4)]
            await asyncio.sleep(0.01)
            tasks[1].cancel()  # queued behind `first`: its row is computed, its answer dropped
            await first
            done = await asyncio.gather(tasks[0], tasks[2], tasks[3])
            return [float(s[0, 0]) for s, _ in done], tasks[1].cancelled()
        finally:
            batcher.close()

    assert asyncio.run(run()) == ([0.0, 2.0, 3.0], True)


def test_best_batch_is_where_throughput_stops_growing() -> None:
    def saturating(q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(max(0.004, 0.001 * len(q)))  # a fixed 4 ms per call up to 4 queries, then 1 ms per query
        return np.zeros((len(q), k), np.float32), np.zeros((len(q), k), np.int64)

    assert best_batch(saturating, 8) == 4  # 250, 500, 1000, then ≈ 1000 searches/s: 4 is the smallest near best


@pytest.mark.parametrize("cost", [0.0, 1e-5])
def test_best_batch_of_a_batch_friendly_search_is_large(cost: float) -> None:
    def amortised(q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(0.01 + cost * len(q))  # the fixed cost dominates: bigger batches always pay
        return np.zeros((len(q), k), np.float32), np.zeros((len(q), k), np.int64)

    assert best_batch(amortised, 8) == 256
