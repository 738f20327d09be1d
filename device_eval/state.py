"""The state of a running index server: the served index generation with its search batcher, the optional
student artefact for image search, thumbnails, and the request checks that need the index (compat key,
embedding). Every refusal is an `HTTPError` (a 4xx with a one-line message and a machine-readable `code`).
Embedding policy: vectors must be finite and of the index's dimension; a norm within 1 ± 0.1 is
rescaled to 1 (int8 outputs drift slightly), anything else is refused as "not L2-normalised".
"""

import functools
import io
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from starlette.exceptions import HTTPException

from device_eval.api import Float16Embedding, Hit, Int8Embedding
from device_eval.batching import SearchBatcher, best_batch
from device_eval.index import RetrievalIndex, ServedIndex, open_index, read_manifest
from device_eval.milvus_index import MilvusLocation, open_milvus_index
from device_eval.parity import require_artifact_fits
from distill.compat import require_same_space
from distill.data.images import load_image, preprocess, upright
from distill.errors import DistillError
from export.artifact import open_artifact

NORM_TOLERANCE = 0.1
THUMB_PX = 256
THUMB_CACHE = 1024
ERROR_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 409: "conflict", 413: "too_large",
               422: "invalid_request", 429: "rate_limited", 503: "unavailable"}  # the body's `code` by status


def error_code(status: int) -> str:
    """The default `code` of an error body with HTTP `status`."""
    return ERROR_CODES.get(status, "bad_request")


class HTTPError(HTTPException):
    """A client error: its status, one-line message and `code` (by default the status's, `ERROR_CODES`)."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(status, message)
        self.code = code or error_code(status)


@dataclass
class ServerState:
    """What the running app holds: the index, optionally a student artefact, and thumbnail bytes."""

    index: ServedIndex
    max_k: int
    max_batch: int = 256  # most queries per index call (`best_batch` measures the index's own at startup)
    artifact: Any = None
    runner: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_batch: Callable[[int], None] | None = None  # told the size of every index call (metrics)
    refused: int | None = None  # a generation that could not be served (not tried again)
    batcher: SearchBatcher = field(init=False)  # concurrent searches coalesced into one FAISS call
    thumbnail: Callable[[int], bytes] = field(init=False)  # JPEG of item i, least recently used dropped

    def __post_init__(self) -> None:
        self.batcher = SearchBatcher(self.index.search, self.max_batch, self.on_batch)
        self.thumbnail = functools.lru_cache(maxsize=THUMB_CACHE)(self._thumbnail)

    def require_compat_key(self, key: str) -> None:
        """`SpaceMismatch` (answered 409) unless a request's compat key is this index's space."""
        require_same_space({"compat_key": key}, self.index.manifest, what="the query", against="this index",
                           where="/search", hint="use a student exported for it")

    def check_embedding(self, embedding: list[float] | Float16Embedding | Int8Embedding) -> tuple[np.ndarray, bool]:
        """The request vector (a JSON array or a compact base64 form) as 1×d float32, unit norm; HTTPError 422 if
        it cannot be one."""
        if isinstance(embedding, list):
            v = np.asarray(embedding, dtype=np.float64)
        else:
            try:
                v = embedding.values().astype(np.float64)
            except ValueError as e:
                raise HTTPError(422, str(e)) from None
            if not np.isfinite(v).all():
                raise HTTPError(422, f"embedding ({embedding.dtype}) holds non-finite values")
        if len(v) != self.index.dim:
            raise HTTPError(422, f"embedding has {len(v)} values, this index holds {self.index.dim}-d vectors")
        norm = float(np.linalg.norm(v))
        if not np.isfinite(norm) or abs(norm - 1) > NORM_TOLERANCE:
            raise HTTPError(422, f"embedding norm {norm:.4g}: expected an L2-normalised vector (1 ± {NORM_TOLERANCE})")
        return (v / norm).astype(np.float32)[None, :], abs(norm - 1) > 1e-3

    async def search(self, query: np.ndarray, k: int) -> list[Hit]:
        """Top-k hits of one unit query vector (coalesced with concurrent searches), all from the generation
        served when the search began."""
        if not 1 <= k <= self.max_k:
            raise HTTPError(422, f"k={k}: expected 1 … {self.max_k}")
        index, batcher = self.index, self.batcher
        scores, ids = await batcher.search(query, k)
        return [Hit(rank=r + 1, id=int(i), name=index.items[i]["name"], score=float(s), thumbnail=f"/thumbs/{i}")
                for r, (s, i) in enumerate(zip(scores[0].tolist(), ids[0].tolist(), strict=True)) if i >= 0]

    def switch(self, index: RetrievalIndex) -> None:
        """Serve `index` (a newer generation) from now on; searches already running finish on the old one."""
        old = self.batcher
        self.index, self.batcher = index, SearchBatcher(index.search, self.max_batch, self.on_batch)
        self.thumbnail = functools.lru_cache(maxsize=THUMB_CACHE)(self._thumbnail)
        old.close(wait=False)

    def next_generation(self, path: str | Path) -> RetrievalIndex | None:
        """The index at `path` if its manifest names a generation other than the one served (and not one already
        refused); None if not. A generation that cannot be opened, or is of another space, is refused: logged in
        one line, remembered, and the served one stays."""
        try:
            gen = int(read_manifest(path)["generation"])
        except DistillError:  # mid-replacement or broken manifest: the next look decides
            return None
        if gen in (self.index.generation, self.refused):
            return None
        try:
            new = open_index(path)
            require_same_space(new.manifest, self.index.manifest, what=f"generation {gen}", against="the served index",
                               where=str(path), hint="a served index keeps its space; start a server for the new one")
        except DistillError as e:
            self.refused = gen
            logging.getLogger("uvicorn.error").error("generation %d refused, still serving %d: %s", gen,
                                                     self.index.generation, e)
            return None
        return new

    def _thumbnail(self, i: int) -> bytes:
        """JPEG thumbnail of item i (uncached; `thumbnail` caches it)."""
        if not 0 <= i < len(self.index):
            raise HTTPError(404, f"id {i}: the index holds ids 0 … {len(self.index) - 1}")
        if self.index.is_removed(i):
            raise HTTPError(404, f"id {i}: removed from the index")
        try:
            img = load_image(self.index.items[i]["path"])
        except DistillError as e:
            raise HTTPError(404, f"id {i}: thumbnail unavailable ({e})") from None
        img.thumbnail((THUMB_PX, THUMB_PX))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=85)
        return buf.getvalue()

    def embed_image(self, data: bytes) -> np.ndarray:
        """The server-side student's embedding of an uploaded image (1×d)."""
        from PIL import Image

        if self.runner is None:
            raise HTTPError(503, "image search is off: start the server with --artifact student.onnx|.tflite")
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                img = upright(im)
        except Exception as e:  # PIL raises many types for bad or hostile files
            raise HTTPError(422, f"upload is not a readable image ({type(e).__name__})") from None
        x = preprocess(img, self.artifact.preprocess)[None]
        with self.lock:  # interpreters (TFLite) are not thread-safe
            out = self.runner.embed(x)
        return np.asarray(out, dtype=np.float32)


IndexLocation = str | Path | MilvusLocation  # a FAISS index directory, or a Milvus collection


def open_served(location: IndexLocation) -> ServedIndex:
    """The index at `location`, whichever backend holds it."""
    return open_milvus_index(location) if isinstance(location, MilvusLocation) else open_index(location)


def load_state(index_path: IndexLocation, artifact_path: str | Path | None, max_k: int,
               max_batch: int | None = None, on_batch: Callable[[int], None] | None = None) -> ServerState:
    """Open the index (and the artefact, checked against it) — what the lifespan does at startup. The batch
    cap is `max_batch`, or (None) the index's best batch size, measured (`batching.best_batch`)."""
    index = open_served(index_path)
    if max_batch is None:
        t0 = time.perf_counter()
        max_batch = best_batch(index.search, index.dim)
        logging.getLogger("uvicorn.error").info("batches of up to %d queries per index call (measured in %.1f s)",
                                                max_batch, time.perf_counter() - t0)
    state = ServerState(index=index, max_k=max_k, max_batch=max_batch, on_batch=on_batch)
    if artifact_path is not None:
        state.artifact = open_artifact(artifact_path)
        require_artifact_fits(state.artifact.meta, index.manifest, index.path, artifact_path)
        state.runner = state.artifact.runner(threads=1)
    return state
