"""`distill serve`: the teacher index over HTTP (FastAPI + uvicorn).

The index (and, for `/search/image`, an exported student) is loaded in the app's lifespan. Every
error is a JSON body `{"error": ..., "code": ...}` with a 4xx status (`code` machine-readable, e.g.
`space_mismatch` for a compat key of another space); nothing a client sends can cause a 5xx.
Embedding policy: vectors must be finite and of the index's dimension; a norm within 1 ± 0.1 is
rescaled to 1 (int8 outputs drift slightly), anything else is refused as "not L2-normalised".
"""

import functools
import io
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from starlette.exceptions import HTTPException

from device_eval.api import (
    ArtifactSummary,
    Error,
    Float16Embedding,
    Health,
    Hit,
    Int8Embedding,
    SearchRequest,
    SearchResponse,
    ServerManifest,
)
from device_eval.batching import SearchBatcher, best_batch
from device_eval.index import RetrievalIndex, open_index, read_manifest
from device_eval.parity import require_artifact_fits
from device_eval.webclient import add_web_client, open_web_model
from distill.compat import SpaceMismatch, require_same_space
from distill.data.images import load_image, preprocess, upright
from distill.errors import DistillError
from export.artifact import open_artifact

NORM_TOLERANCE = 0.1
THUMB_PX = 256
THUMB_CACHE = 1024
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Error} for code in (404, 409, 413, 422, 503)}
ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid_request",
               503: "unavailable"}  # the body's `code` by status, unless the error names its own


def _fastapi() -> Any:
    try:
        import fastapi
    except ImportError:
        raise DistillError("serving needs FastAPI: pip install 'asym-distill[serve]'") from None
    return fastapi


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

    index: RetrievalIndex
    max_k: int
    max_batch: int = 256  # most queries per index call (`best_batch` measures the index's own at startup)
    artifact: Any = None
    runner: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    batcher: SearchBatcher = field(init=False)  # concurrent searches coalesced into one FAISS call
    thumbnail: Callable[[int], bytes] = field(init=False)  # JPEG of item i, least recently used dropped

    def __post_init__(self) -> None:
        self.batcher = SearchBatcher(self.index.search, self.max_batch)
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
        """Top-k hits of one unit query vector (coalesced with concurrent searches)."""
        if not 1 <= k <= self.max_k:
            raise HTTPError(422, f"k={k}: expected 1 … {self.max_k}")
        scores, ids = await self.batcher.search(query, k)
        return [Hit(rank=r + 1, id=int(i), name=self.index.items[i]["name"], score=float(s), thumbnail=f"/thumbs/{i}")
                for r, (s, i) in enumerate(zip(scores[0].tolist(), ids[0].tolist(), strict=True)) if i >= 0]

    def _thumbnail(self, i: int) -> bytes:
        """JPEG thumbnail of item i (uncached; `thumbnail` caches it)."""
        if not 0 <= i < len(self.index):
            raise HTTPError(404, f"id {i}: the index holds ids 0 … {len(self.index) - 1}")
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


def load_state(index_path: str | Path, artifact_path: str | Path | None, max_k: int,
               max_batch: int | None = None) -> ServerState:
    """Open the index (and the artefact, checked against it) — what the lifespan does at startup. The batch
    cap is `max_batch`, or (None) the index's best batch size, measured (`batching.best_batch`)."""
    index = open_index(index_path)
    if max_batch is None:
        t0 = time.perf_counter()
        max_batch = best_batch(index.search, index.dim)
        logging.getLogger("uvicorn.error").info("batches of up to %d queries per index call (measured in %.1f s)",
                                                max_batch, time.perf_counter() - t0)
    state = ServerState(index=index, max_k=max_k, max_batch=max_batch)
    if artifact_path is not None:
        state.artifact = open_artifact(artifact_path)
        require_artifact_fits(state.artifact.meta, index.manifest, index.path, artifact_path)
        state.runner = state.artifact.runner(threads=1)
    return state


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` is answered 413 before the app sees it."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return None
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > self.max_bytes:
                return await _send_json(send, 413, {"error": f"request body over {self.max_bytes} bytes",
                                                    "code": error_code(413)})
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return dict(await receive())
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


async def _send_json(send: Any, status: int, obj: dict) -> None:
    import json

    data = json.dumps(obj).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def create_app(index_path: str | Path, artifact: str | Path | None = None, max_k: int = 100,
               max_body_bytes: int = 8 << 20, web_artifact: str | Path | None = None,
               max_batch: int | None = None) -> Any:
    """The FastAPI app serving `index_path` (and the browser client, running `web_artifact`, under /demo/);
    nothing is loaded until the lifespan starts."""
    fastapi = _fastapi()
    from fastapi import Request, UploadFile
    from fastapi.concurrency import run_in_threadpool
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import JSONResponse, Response
    from pydantic import ValidationError

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        app.state.server = load_state(index_path, artifact, max_k, max_batch)
        yield
        app.state.server.batcher.close()

    app = fastapi.FastAPI(title="asym-distill index", version="1", lifespan=lifespan,
                          description="Teacher-database search for asymmetric students (see README).")

    def server() -> ServerState:
        return app.state.server

    @app.exception_handler(HTTPException)  # ours (HTTPError) and Starlette's own (unknown path, method)
    async def _http_error(request: Any, exc: HTTPException) -> JSONResponse:
        code = exc.code if isinstance(exc, HTTPError) else error_code(exc.status_code)
        return JSONResponse({"error": str(exc.detail), "code": code}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(SpaceMismatch)
    async def _space_mismatch(request: Any, exc: SpaceMismatch) -> JSONResponse:
        return JSONResponse({"error": str(exc), "code": exc.code}, status_code=409)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Any, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors(), custom_encoder={Exception: str, bytes: lambda b: repr(b[:64])})
        # of a union's branches, report the one the client meant: a type mismatch ("should be a valid list") only
        # when no branch got further; branch labels ("list[float]", "tagged-union[…]") left out of the path
        first: dict[str, Any] = min(errors, key=lambda e: str(e.get("type", "")).endswith("_type"), default={})
        where = ".".join(str(p) for p in first.get("loc", ()) if "[" not in str(p))
        return JSONResponse({"error": f"invalid request: {where}: {first.get('msg', '')}", "code": error_code(422),
                             "detail": [{k: e.get(k) for k in ("loc", "msg", "type")} for e in errors]},
                            status_code=422)

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        return Health(status="ok", count=len(server().index))

    @app.get("/manifest", response_model=ServerManifest)
    def manifest() -> ServerManifest:
        s = server()
        meta = None if s.artifact is None else ArtifactSummary(**{k: getattr(s.artifact.meta, k) for k in
                                                                  ArtifactSummary.model_fields})
        return ServerManifest(index=s.index.manifest, max_k=s.max_k, image_search=s.runner is not None, artifact=meta)

    # the hot path: the body is parsed and validated by pydantic-core in one pass from its bytes (no dict of
    # 1280 Python floats first), and the answer is serialised once, without FastAPI's response re-validation
    @app.post("/search", response_model=SearchResponse, responses=ERRORS, openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SearchRequest"}}}}})
    async def search(request: Request) -> Response:
        s = server()
        try:
            req = SearchRequest.model_validate_json(await request.body())
        except ValidationError as e:
            raise RequestValidationError([{**err, "loc": ("body", *err["loc"])} for err in e.errors()]) from None
        s.require_compat_key(req.compat_key)
        query, renormalized = s.check_embedding(req.embedding)
        answer = SearchResponse(k=req.k, renormalized=renormalized, results=await s.search(query, req.k))
        return Response(answer.model_dump_json(), media_type="application/json")

    @app.post("/search/image", response_model=SearchResponse, responses=ERRORS)
    async def search_image(image: UploadFile, k: int = 10) -> SearchResponse:
        s = server()
        query = await run_in_threadpool(s.embed_image, await image.read())
        return SearchResponse(k=k, renormalized=False, results=await s.search(query, k))

    @app.get("/thumbs/{item_id}", responses={200: {"content": {"image/jpeg": {}}}, **ERRORS})
    def thumbs(item_id: int) -> Response:
        return Response(server().thumbnail(item_id), media_type="image/jpeg",
                        headers={"cache-control": "public, max-age=86400"})

    def openapi() -> dict[str, Any]:
        """FastAPI's schema, plus the /search request body (read by the handler itself, so not seen by FastAPI)."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            body = SearchRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            schema["components"]["schemas"].update({**body.pop("$defs", {}), "SearchRequest": body})
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    add_web_client(app, web_artifact, HTTPError, lambda: server().index)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app


def serve(index_path: str | Path, host: str, port: int, artifact: str | Path | None = None, max_k: int = 100,
          max_body_bytes: int = 8 << 20, web_artifact: str | Path | None = None, *, max_batch: int | None = None,
          access_log: bool = True) -> None:
    """Run the app with uvicorn until interrupted. The index is opened first, so a bad path fails fast."""
    try:
        import uvicorn
    except ImportError:
        raise DistillError("serving needs uvicorn: pip install 'asym-distill[serve]'") from None
    manifest = read_manifest(index_path)  # fail fast, in one line, before uvicorn starts
    if artifact is not None:
        require_artifact_fits(open_artifact(artifact).meta, manifest, index_path, artifact)
    if web_artifact is not None:
        open_web_model(web_artifact, manifest, index_path)
    uvicorn.run(create_app(index_path, artifact, max_k, max_body_bytes, web_artifact, max_batch), host=host,
                port=port, log_level="info", access_log=access_log)
