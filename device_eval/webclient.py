"""The browser client under `/demo/`: the page and its bundle (device_eval/web/dist, built by `make web`),
the ONNX student the page runs (`/demo/model.onnx`) and that model's metadata (`/demo/model.json`).

The page encodes photos on the device with onnxruntime-web and posts the embeddings to `/search`."""

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from device_eval.parity import require_artifact_fits
from distill.compat import SpaceMismatch
from distill.errors import DistillError
from export.artifact import open_artifact

DIST = Path(__file__).parent / "web" / "dist"
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".mjs": "text/javascript; charset=utf-8", ".wasm": "application/wasm", ".map": "application/json"}
PAGE_FIELDS = ("student", "format", "quantization", "mode", "compat_key", "dim", "input_size", "mean", "std",
               "interpolation", "resize", "input_layout", "teacher")
NOT_BUILT = "the browser client is not built: run `make web` (npm ci + esbuild into device_eval/web/dist)"
NO_MODEL = "no browser model: start `distill serve` with --web-artifact student_fp32.onnx (or an .onnx --artifact)"


@dataclass
class WebModel:
    """The ONNX artefact served to the page, and the metadata the page needs to run it."""

    path: Path
    meta: dict[str, Any]


def open_web_model(path: str | Path, index_manifest: dict[str, Any], index_path: str | Path) -> WebModel:
    """Open the page's model and check it against the index (same space and dimension); one-line errors."""
    p = Path(path)
    if p.suffix != ".onnx":
        raise DistillError(f"--web-artifact {p}: the browser client runs ONNX models (.onnx), not {p.suffix or p.name}")
    art = open_artifact(p)
    require_artifact_fits(art.meta, index_manifest, index_path, p)
    if art.meta.input_layout != "NCHW" or art.meta.resize != "squash":
        raise DistillError(f"{p}: the browser client feeds NCHW squash-resized images, the model wants "
                           f"{art.meta.input_layout} / {art.meta.resize}")
    meta = asdict(art.meta)
    return WebModel(p, {k: meta[k] for k in PAGE_FIELDS})


def add_web_client(app: Any, web_artifact: str | Path | None, error: Callable[..., Exception],
                   index: Callable[[], Any]) -> None:
    """Mount `/demo/` on `app`. `index()` gives the opened RetrievalIndex; `error(status, message[, code])` is
    the app's JSON error. The model is opened (and checked against the index) on first use."""
    from fastapi.responses import FileResponse, RedirectResponse, Response

    cache: dict[str, WebModel] = {}

    def model() -> WebModel:
        if web_artifact is None:
            raise error(503, NO_MODEL)
        if "model" not in cache:
            ix = index()
            try:
                cache["model"] = open_web_model(web_artifact, ix.manifest, ix.path)
            except SpaceMismatch as e:
                raise error(409, str(e), e.code) from None
            except DistillError as e:
                raise error(409, str(e)) from None
        return cache["model"]

    def asset(name: str) -> Path:
        p = DIST / name
        if "/" in name or p.suffix not in MEDIA_TYPES or not p.is_file():
            if not (DIST / "index.html").is_file():
                raise error(503, NOT_BUILT)
            raise error(404, f"/demo/{name}: no such file")
        return p

    @app.get("/demo", include_in_schema=False)
    def demo_redirect() -> Response:
        return RedirectResponse("/demo/")

    @app.get("/demo/", include_in_schema=False)
    def page() -> Response:
        if not (DIST / "index.html").is_file():
            return Response(f"<!doctype html><title>not built</title><p>{NOT_BUILT}</p>", status_code=503,
                            media_type=MEDIA_TYPES[".html"])
        return FileResponse(DIST / "index.html", media_type=MEDIA_TYPES[".html"])

    @app.get("/demo/model.json", include_in_schema=False)
    def model_json() -> dict[str, Any]:
        return model().meta

    @app.get("/demo/model.onnx", include_in_schema=False)
    def model_onnx() -> Response:
        return FileResponse(model().path, media_type="application/octet-stream")

    @app.get("/demo/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        p = asset(name)
        return FileResponse(p, media_type=MEDIA_TYPES[p.suffix])
