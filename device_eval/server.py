"""`distill serve`: the teacher index over HTTP (FastAPI + uvicorn).

The index (and, for `/search/image`, an exported student) is loaded in the app's lifespan; new generations
(`distill index add/remove`) are switched to while serving. Every error is a JSON body `{"error": ..., "code":
...}` with a 4xx status (`code` machine-readable, e.g. `space_mismatch` for a compat key of another space);
nothing a client sends can cause a 5xx. Around the app (outermost first): CORS (an allow-list), metrics,
API keys and the rate limit (`guards`), the body-size limit.
"""

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException

from device_eval.api import ArtifactSummary, Error, Health, SearchRequest, SearchResponse, ServerManifest
from device_eval.guards import BodyLimit, Guard, TokenBuckets
from device_eval.index import read_manifest
from device_eval.metrics import ServerMetrics
from device_eval.milvus_index import MilvusLocation
from device_eval.parity import require_artifact_fits
from device_eval.state import HTTPError, IndexLocation, ServerState, error_code, load_state, open_served
from device_eval.webclient import add_web_client, open_web_model
from distill.compat import SpaceMismatch
from distill.errors import DistillError
from export.artifact import open_artifact

ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Error} for code in (401, 404, 409, 413, 422, 429, 503)}
GRACEFUL_S = 30  # on SIGTERM/SIGINT: stop accepting, let requests in flight finish for up to this long


@dataclass(frozen=True)
class ServeOptions:
    """How `distill serve` serves (every field has a `distill serve` flag)."""

    max_k: int = 100  # largest k a client may ask for
    max_body_bytes: int = 8 << 20
    max_batch: int | None = None  # queries per index call (None: measured at startup)
    reload_interval: float = 1.0  # seconds between looks for a new generation (0: never)
    api_keys: tuple[str, ...] = ()  # bearer keys required on /search* and /thumbs (none: open)
    rate_limit: float | None = None  # requests/s per key (per client address without keys); None: off
    rate_burst: int = 20
    cors_origins: tuple[str, ...] = field(default=())  # origins whose pages may call the API


def _fastapi() -> Any:
    try:
        import fastapi
    except ImportError:
        raise DistillError("serving needs FastAPI: pip install 'asym-distill[serve]'") from None
    return fastapi


def create_app(index_path: IndexLocation, artifact: str | Path | None = None, *, web_artifact: str | Path | None = None,
               options: ServeOptions = ServeOptions()) -> Any:
    """The FastAPI app serving `index_path` (and the browser client, running `web_artifact`, under /demo/);
    nothing is loaded until the lifespan starts."""
    fastapi = _fastapi()
    from fastapi import Request, UploadFile
    from fastapi.concurrency import run_in_threadpool
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import JSONResponse, Response
    from pydantic import ValidationError

    log = logging.getLogger("uvicorn.error")
    metrics = ServerMetrics(lambda: (server().index.live, server().index.generation))

    async def watch_generations(path: str | Path, interval: float) -> None:
        """Every `interval` s: a new generation of the index (index add/remove) is opened off the event loop
        and switched to between two requests."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            s = server()
            new = await loop.run_in_executor(None, s.next_generation, path)
            if new is not None:
                s.switch(new)
                log.info("serving generation %d: %d items", new.generation, new.live)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        app.state.server = load_state(index_path, artifact, options.max_k, options.max_batch, metrics.batch.observe)
        watcher = None  # (a Milvus collection is live by itself: its inserts and deletes are searched at once)
        if options.reload_interval > 0 and not isinstance(index_path, MilvusLocation):
            watcher = asyncio.create_task(watch_generations(index_path, options.reload_interval))
        yield
        if watcher is not None:
            watcher.cancel()
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
        s = server()
        return Health(status="ok", count=s.index.live, generation=s.index.generation)

    @app.get("/metrics", responses={200: {"content": {"text/plain": {}}}})
    def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=metrics.content_type)

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
    app.add_middleware(BodyLimit, max_bytes=options.max_body_bytes)
    buckets = None if options.rate_limit is None else TokenBuckets(options.rate_limit, options.rate_burst)
    if options.api_keys or buckets is not None:
        app.add_middleware(Guard, keys=options.api_keys, buckets=buckets)
    app.add_middleware(metrics.middleware)
    if options.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(options.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "content-type"], max_age=600)
    return app


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(index_path: IndexLocation, host: str, port: int, artifact: str | Path | None = None, *,
          web_artifact: str | Path | None = None, options: ServeOptions = ServeOptions(), access_log: bool = True,
          ssl_certfile: str | None = None, ssl_keyfile: str | None = None, allow_plain_http: bool = False) -> None:
    """Run the app with uvicorn until interrupted (in-flight requests finish, `GRACEFUL_S`). Everything that
    can be checked is checked first, so a bad path or option fails fast in one line."""
    try:
        import uvicorn
    except ImportError:
        raise DistillError("serving needs uvicorn: pip install 'asym-distill[serve]'") from None
    manifest = open_served(index_path).manifest if isinstance(index_path, MilvusLocation) else read_manifest(index_path)
    if artifact is not None:
        require_artifact_fits(open_artifact(artifact).meta, manifest, str(index_path), artifact)
    if web_artifact is not None:
        open_web_model(web_artifact, manifest, str(index_path))
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise DistillError("--ssl-certfile and --ssl-keyfile go together")
    for path in (ssl_certfile, ssl_keyfile):
        if path is not None and not Path(path).is_file():
            raise DistillError(f"{path}: no such certificate/key file")
    if options.api_keys and ssl_certfile is None and not is_loopback(host) and not allow_plain_http:
        raise DistillError(f"--api-key-file on {host} without TLS would send keys in the clear: add --ssl-certfile "
                           f"and --ssl-keyfile (or --allow-plain-http behind a TLS proxy)")
    app = create_app(index_path, artifact, web_artifact=web_artifact, options=options)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log, ssl_certfile=ssl_certfile,
                ssl_keyfile=ssl_keyfile, timeout_graceful_shutdown=GRACEFUL_S)
