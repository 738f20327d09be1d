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
    from starlette.staticfiles import StaticFiles

    class Bundle(StaticFiles):
        """The built bundle (Starlette's static files: media types, ranges, ETags, no path escapes);
        503 with the build command while it is not built."""

        async def get_response(self, path: str, scope: Any) -> Response:
            if not (DIST / "index.html").is_file():
                raise error(503, NOT_BUILT)
            return await super().get_response(path, scope)

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

    @app.get("/demo", include_in_schema=False)
    def demo_redirect() -> Response:
        return RedirectResponse("/demo/")

    @app.get("/demo/", include_in_schema=False)
    def page() -> Response:
        if not (DIST / "index.html").is_file():
            return Response(f"<!doctype html><title>not built</title><p>{NOT_BUILT}</p>", status_code=503,
                            media_type="text/html; charset=utf-8")
        return FileResponse(DIST / "index.html")

    @app.get("/demo/model.json", include_in_schema=False)
    def model_json() -> dict[str, Any]:
        return model().meta

    @app.get("/demo/model.onnx", include_in_schema=False)
    def model_onnx() -> Response:
        return FileResponse(model().path, media_type="application/octet-stream")

    app.mount("/demo", Bundle(directory=DIST, check_dir=False), name="web-client")  # after the routes above
