"""Search coalescing: concurrent callers get exactly their own top-k, in fewer FAISS calls; a failing
search fails every waiter instead of hanging them."""

import threading
import time

import numpy as np
import pytest

from device_eval.batching import SearchBatcher
from distill.search import knn


def test_concurrent_searches_are_coalesced_and_each_gets_its_own_rows() -> None:
    rng = np.random.default_rng(0)
    db = rng.normal(size=(2000, 16)).astype(np.float32)
    calls: list[int] = []

    def slow_search(q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        calls.append(len(q))
        time.sleep(0.02)  # long enough for other threads to queue up behind the running search
        return knn(q, db, k)

    batcher = SearchBatcher(slow_search)
    queries = rng.normal(size=(40, 16)).astype(np.float32)
    ks = [1 + i % 7 for i in range(40)]
    got: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def worker(i: int) -> None:
        got[i] = batcher.search(queries[i: i + 1], ks[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(40):
        _, want = knn(queries[i: i + 1], db, ks[i])
        assert got[i][1].shape == (1, ks[i]) and got[i][1].tolist() == want.tolist()
    assert sum(calls) == 40 and len(calls) < 40  # every query searched once, several per call


def test_a_failing_search_raises_in_every_waiter() -> None:
    def broken(q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(0.02)
        raise RuntimeError("index gone")

    batcher = SearchBatcher(broken)
    errors: list[str] = []

    def worker() -> None:
        with pytest.raises(RuntimeError, match="index gone"):
            batcher.search(np.zeros((1, 4), np.float32), 1)
        errors.append("raised")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert errors == ["raised"] * 8
