"""Coalescing of concurrent searches: requests that arrive while a search runs are answered together by the
next index call, made on one worker thread (FAISS releases the GIL, so the event loop keeps parsing requests
meanwhile). For an exact index that turns N memory-bound scans of the database into one matrix product; for
HNSW or IVF the batch is spread over FAISS's OpenMP threads (README: Hosted index).

`best_batch` picks the cap: the smallest batch whose throughput is within 10% of the best measured."""

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

SearchFn = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
ALWAYS_TRIED = 16  # (a slow backend still batches as many as typical concurrent clients)


@dataclass
class _Pending:
    query: np.ndarray  # 1×d
    k: int
    future: asyncio.Future


@dataclass
class SearchBatcher:
    """`await search(query, k)` from the event loop; whichever caller finds no search running starts a drain
    that searches everything queued (up to `max_batch` per call) until the queue is empty."""

    search_fn: SearchFn
    max_batch: int = 256
    on_batch: Callable[[int], None] | None = None  # told the size of every call (metrics)
    _queue: list[_Pending] = field(default_factory=list)
    _running: bool = False
    _closing: bool = False
    _worker: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "search"))

    async def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores 1×k, ids 1×k) for one query, exactly as `search_fn` alone would give them."""
        me = _Pending(query, k, asyncio.get_running_loop().create_future())
        self._queue.append(me)
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await me.future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch:]
                k = max(p.k for p in batch)
                queries = np.concatenate([p.query for p in batch])
                if self.on_batch is not None:
                    self.on_batch(len(batch))
                try:
                    scores, ids = await loop.run_in_executor(self._worker, self.search_fn, queries, k)
                except Exception as e:  # every waiter gets the failure, none hangs
                    for p in batch:
                        if not p.future.done():
                            p.future.set_exception(e)
                    continue
                for i, p in enumerate(batch):
                    if not p.future.done():  # (a cancelled request's future is done)
                        p.future.set_result((scores[i: i + 1, : p.k], ids[i: i + 1, : p.k]))
        finally:
            self._running = False
            if self._closing:
                self._worker.shutdown(wait=False)

    def close(self, wait: bool = True) -> None:
        """Stop the worker thread once every search queued so far is answered (now if none is running; `wait`:
        block until the running one ends). Call it when no new searches will come."""
        self._closing = True
        if not self._running:
            self._worker.shutdown(wait=wait)


def best_batch(search_fn: SearchFn, dim: int, budget_s: float = 2.0, k: int = 10, seed: int = 0) -> int:
    """The smallest batch size (of `BATCHES`) whose searches/s are within 10% of the best measured with
    random unit queries: sizes up to `ALWAYS_TRIED` are always measured, larger ones while the measuring has
    taken under `budget_s` seconds."""
    q = np.random.default_rng(seed).standard_normal((BATCHES[-1], dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    search_fn(q[:1], k)  # warm-up (first-touch of the index pages)
    rates: dict[int, float] = {}
    start = time.perf_counter()
    for b in BATCHES:
        if b > ALWAYS_TRIED and time.perf_counter() - start > budget_s:
            break
        t0 = time.perf_counter()
        search_fn(q[:b], k)
        rates[b] = b / max(time.perf_counter() - t0, 1e-9)
    best = max(rates.values())
    return min(b for b, r in rates.items() if r >= 0.9 * best)
