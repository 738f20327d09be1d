"""Golden vectors for the device clients: what the Python side computes, for clients to reproduce.

`write_goldens` (`distill client-goldens`) takes an exported float-I/O artefact (fp32 ONNX) and real
photos and writes, under `out/`:
- `images/`: the decoded photos as lossless RGB PNGs (every platform decodes the same pixels), the
  original JPEGs, and a small photo stored with each EXIF orientation tag;
- `tensors/`: the input tensor `preprocess` makes of each (little-endian float32, NCHW), for the
  artefact's preprocessing and for further ones (bicubic, non-square, upscaling);
- `embeddings/`: the artefact's embedding of each photo;
- `responses/`: the real server's answers to good and bad requests; `model.tflite`: the metadata in a
  TFLite file; `goldens.json`: all of it described.
The Android core's JUnit tests read this folder (`make android-core-test`).
"""

import base64
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from device_eval.index import build_index
from distill.data.images import load_image, preprocess, upright
from distill.errors import DistillError
from distill.preprocess import PreprocessConfig
from export.artifact import open_artifact
from export.base import need
from export.tflite_format import HINT, write_metadata

SKIMAGE_PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "camera.png", "rocket.jpg")
EXTRA_CONFIGS = {  # preprocessing variants beyond the artefact's own (tensor goldens only)
    "bicubic_260": PreprocessConfig((260, 260), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic"),
    "bilinear_192x256_imagenet": PreprocessConfig((192, 256), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
UPSCALE_CONFIG = PreprocessConfig((500, 600), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bicubic")
ORIENTATION_CONFIG = PreprocessConfig((48, 40), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
# EXIF orientation → the transpose that makes an upright photo look like the stored pixels
STORED_AS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
             5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_270}


def skimage_photos() -> list[Path]:
    """Real photos bundled with scikit-image (no download)."""
    try:
        import skimage
    except ImportError:
        raise DistillError("golden vectors use scikit-image's photos: pip install scikit-image") from None
    root = Path(skimage.__file__).parent / "data"
    return [root / name for name in SKIMAGE_PHOTOS]


def write_goldens(artifact_path: str | Path, out: str | Path, photos: Sequence[str | Path] | None = None) -> Path:
    """Write the golden folder for `artifact_path` (a float-I/O artefact) to `out`; returns goldens.json."""
    artifact = open_artifact(artifact_path)
    if artifact.meta.quantization == "int8" and artifact.meta.format == "tflite":
        raise DistillError(f"{artifact_path}: goldens need a float-I/O artefact (distill export onnx --quantize fp32)")
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    for sub in ("images", "tensors", "embeddings", "responses"):
        (out / sub).mkdir(parents=True)
    runner = artifact.runner(threads=1)
    cases, embeddings, names = [], [], []
    for path in photos or skimage_photos():
        img, name = load_image(path), Path(path).stem
        image = _write_rgb(img, out / "images" / f"{name}.png")
        x = preprocess(img, artifact.preprocess)
        emb = runner.embed(x[None])[0]
        embeddings.append(emb)
        names.append(name)
        cases.append(_case(out, name, image, 1, artifact.preprocess, x, emb))
        if Path(path).suffix.lower() in (".jpg", ".jpeg"):  # the original file, for the clients' JPEG decoders
            shutil.copyfile(path, out / "images" / Path(path).name)
            cases.append(_case(out, f"{name}_jpeg", f"images/{Path(path).name}", 1, artifact.preprocess, x, emb))
        for label, cfg in EXTRA_CONFIGS.items():
            cases.append(_case(out, f"{name}_{label}", image, 1, cfg, preprocess(img, cfg)))
        if img.width < UPSCALE_CONFIG.input_size[1] and img.height < UPSCALE_CONFIG.input_size[0]:
            cases.append(_case(out, f"{name}_upscale", image, 1, UPSCALE_CONFIG, preprocess(img, UPSCALE_CONFIG)))
    cases += _orientation_cases(out, load_image(photos[0] if photos else skimage_photos()[1]))
    doc = {"metadata": json.loads(artifact.meta.to_json()), "artifact": artifact.path.name, "cases": cases,
           "responses": _server_responses(artifact, np.stack(embeddings), names, out),
           "tflite": _metadata_tflite(artifact, out / "model.tflite")}
    (out / "goldens.json").write_text(json.dumps(doc, indent=1))
    return out / "goldens.json"


def _metadata_tflite(artifact: Any, path: Path) -> str:
    """A .tflite file carrying the artefact's metadata, for the clients' metadata readers: the artefact
    itself when it is one, else a weightless model written with the TFLite schema and `write_metadata`."""
    if artifact.meta.format == "tflite":
        shutil.copyfile(artifact.path, path)
        return path.name
    schema = need("ai_edge_litert.schema_py_generated", HINT)
    model = schema.ModelT()
    model.version, model.buffers, model.subgraphs = 3, [schema.BufferT()], []
    model.description = b"asym-distill golden: metadata only"
    need("ai_edge_litert.tools.flatbuffer_utils", HINT).write_model(model, str(path))
    write_metadata(path, artifact.meta.to_json())
    return path.name


def _write_rgb(img: Image.Image, path: Path) -> str:
    img.convert("RGB").save(path, format="PNG")
    return f"images/{path.name}"


def _case(out: Path, name: str, image: str, orientation: int, cfg: PreprocessConfig, x: np.ndarray,
          emb: np.ndarray | None = None) -> dict[str, Any]:
    tensor = f"tensors/{name}.f32"
    x.astype("<f4").tofile(out / tensor)
    case: dict[str, Any] = {"name": name, "image": image, "orientation": orientation, "preprocess": asdict(cfg),
                            "shape": list(x.shape), "tensor": tensor, "embedding": None}
    if emb is not None:
        case["embedding"] = f"embeddings/{name}.f32"
        np.asarray(emb, "<f4").tofile(out / case["embedding"])
    return case


def _orientation_cases(out: Path, photo: Image.Image) -> list[dict[str, Any]]:
    """A photo stored sideways/mirrored with each EXIF orientation tag; golden = Pillow's upright view."""
    small = photo.resize((60, 40), Image.Resampling.BILINEAR)
    cases = []
    for tag, stored_as in STORED_AS.items():
        stored = small.transpose(stored_as)
        exif = Image.Exif()
        exif[0x0112] = tag
        path = out / "images" / f"orientation{tag}.png"
        stored.save(path, format="PNG", exif=exif)
        with Image.open(path) as reread:
            view = upright(reread)
        if view.tobytes() != small.tobytes():
            raise DistillError(f"EXIF orientation {tag}: Pillow's upright view differs from the original")
        cases.append(_case(out, f"orientation{tag}", f"images/{path.name}", tag, ORIENTATION_CONFIG,
                           preprocess(view, ORIENTATION_CONFIG)))
    return cases


def _server_responses(artifact: Any, embeddings: np.ndarray, names: list[str], out: Path) -> list[dict[str, Any]]:
    """The real server's answers (status, body) over an index of the golden embeddings."""
    from fastapi.testclient import TestClient

    from device_eval.server import (  # lazy, like FastAPI: the server module needs the serve extra
        ServeOptions,
        create_app,
    )

    m = artifact.meta
    index_dir = out / "index"
    build_index(embeddings, [{"name": n, "path": ""} for n in names], m.space(), index_dir, source="goldens")
    q = embeddings[0].tolist()
    requests = {
        "search_ok": ("post", "/search", {"embedding": q, "k": 3, "compat_key": m.compat_key}, "ok"),
        "other_teacher": ("post", "/search", {"embedding": q, "k": 3, "compat_key": "0123456789abcdef"},
                          "INCOMPATIBLE_MODEL"),
        "wrong_dim": ("post", "/search", {"embedding": q[:-1], "k": 3, "compat_key": m.compat_key}, "REJECTED_QUERY"),
        "not_normalised": ("post", "/search", {"embedding": [2 * v for v in q], "k": 3, "compat_key": m.compat_key},
                           "REJECTED_QUERY"),
        "k_too_large": ("post", "/search", {"embedding": q, "k": 10_000, "compat_key": m.compat_key},
                        "REJECTED_QUERY"),
        "too_large": ("post", "/search", {"embedding": q * 40, "k": 3, "compat_key": m.compat_key}, "TOO_LARGE"),
        "manifest": ("get", "/manifest", None, "ok"),
        "missing_thumbnail": ("get", f"/thumbs/{len(names)}", None, "NOT_FOUND"),
    }
    f16 = {"dtype": "float16", "b64": base64.b64encode(np.asarray(q, "<f2").tobytes()).decode()}
    requests["search_ok_f16"] = ("post", "/search", {"embedding": f16, "k": 3, "compat_key": m.compat_key}, "ok")
    key = {"authorization": "Bearer golden-key-" + "k" * 16}
    keyed = {  # a server started with --api-key-file and --rate-limit (1 request, then one per 1000 s)
        "no_api_key": ("post", "/search", requests["search_ok"][2], "UNAUTHORIZED", {}),
        "keyed_ok": ("post", "/search", requests["search_ok"][2], "ok", key),
        "rate_limited": ("post", "/search", requests["search_ok"][2], "RATE_LIMITED", key),
    }
    answers = []
    options = ServeOptions(max_k=50, max_body_bytes=64 << 10)
    guarded = replace(options, api_keys=(key["authorization"].removeprefix("Bearer "),), rate_limit=1e-3, rate_burst=1)
    for opts, reqs in ((options, {n: (*r, {}) for n, r in requests.items()}), (guarded, keyed)):
        with TestClient(create_app(index_dir, options=opts)) as client:
            for name, (method, path, body, expect, headers) in reqs.items():
                r = client.request(method.upper(), path, json=body, headers=headers)
                (out / "responses" / f"{name}.json").write_bytes(r.content)
                answers.append({"name": name, "method": method.upper(), "path": path, "status": r.status_code,
                                "body": f"responses/{name}.json", "expect": expect})
    shutil.rmtree(index_dir)
    return answers
