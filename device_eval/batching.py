"""Coalescing of concurrent searches: requests that arrive while a search runs are answered together by
the next FAISS call. For an exact index that turns N memory-bound scans of the database into one
matrix product (see README: single-query vs batched searches/s)."""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

SearchFn = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


@dataclass
class _Pending:
    query: np.ndarray  # 1×d
    k: int
    done: bool = False
    result: tuple[np.ndarray, np.ndarray] | None = None
    error: BaseException | None = None


@dataclass
class SearchBatcher:
    """Thread-safe `search(query, k)`; whichever waiting thread finds no search running becomes the
    leader, searches everything queued (up to `max_batch`) in one call and hands out the rows."""

    search_fn: SearchFn
    max_batch: int = 256
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _queue: list[_Pending] = field(default_factory=list)
    _running: bool = False

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores 1×k, ids 1×k) for one query, exactly as `search_fn` alone would give them."""
        me = _Pending(query, k)
        with self._cond:
            self._queue.append(me)
            while not me.done and self._running:
                self._cond.wait()
            if not me.done:
                self._running = True
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch:]
        if not me.done:
            self._run(batch)
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result

    def _run(self, batch: list[_Pending]) -> None:
        try:
            k = max(p.k for p in batch)
            scores, ids = self.search_fn(np.concatenate([p.query for p in batch]), k)
            for i, p in enumerate(batch):
                p.result = (scores[i: i + 1, : p.k], ids[i: i + 1, : p.k])
        except BaseException as e:  # every waiter gets the failure, none hangs
            for p in batch:
                p.error = e
        finally:
            with self._cond:
                for p in batch:
                    p.done = True
                self._running = False
                self._cond.notify_all()
