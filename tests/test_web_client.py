"""The browser client: its preprocessing against Python's (node --test), the /demo routes (TestClient), and
the page itself in headless Chromium searching a real `distill serve` (needs `make web browser-deps`)."""

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skimage.data
from fastapi.testclient import TestClient

from device_eval import webclient
from device_eval.index import build_index
from device_eval.server import create_app
from distill.cli import main
from distill.data.images import load_image, preprocess
from distill.preprocess import PreprocessConfig
from tests.conftest import running_server

pytestmark = pytest.mark.integration  # node, Chromium and a real ONNX export

WEB = Path(webclient.__file__).parent / "web"
REPO = WEB.parents[1]
PHOTOS = Path(skimage.data.__file__).parent


def require_web_build() -> None:
    if not (WEB / "node_modules").is_dir() or not (webclient.DIST / "index.html").is_file():
        pytest.fail("the browser client is not built: run `make web`")


def test_js_preprocess_matches_python(tmp_path: Path) -> None:
    """Real photos, square and non-square targets, down- and up-scaling, both interpolations."""
    require_web_build()
    for name in ("astronaut.png", "coffee.png", "chelsea.png"):
        img = load_image(PHOTOS / name)
        for interp in ("bilinear", "bicubic"):
            for size in ((224, 224), (180, 320), (700, 600)):
                cfg = PreprocessConfig(size, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), interp, "squash")
                tag = f"{Path(name).stem}-{interp}-{size[0]}x{size[1]}"
                (tmp_path / f"{tag}.rgb").write_bytes(np.asarray(img).tobytes())
                (tmp_path / f"{tag}.f32").write_bytes(preprocess(img, cfg).astype("<f4").tobytes())
                meta = {"input_size": list(size), "mean": list(cfg.mean), "std": list(cfg.std), "interpolation": interp}
                (tmp_path / f"{tag}.json").write_text(json.dumps(
                    {"rgb": f"{tag}.rgb", "expected": f"{tag}.f32", "width": img.width, "height": img.height,
                     "meta": meta}))
    r = subprocess.run(["node", "--test", "tests/"], cwd=WEB, capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "PREPROCESS_CASES": str(tmp_path)})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "# pass 23" in r.stdout and "# fail 0" in r.stdout, r.stdout[-1000:]  # 18 Python cases + 5 own


def test_demo_routes(client_world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_web_build()
    w = client_world
    with TestClient(create_app(w["index"], web_artifact=w["onnx"])) as c:
        page = c.get("/demo/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="app.js">' in page.text
        assert c.get("/demo", follow_redirects=False).headers["location"] == "/demo/"
        meta = c.get("/demo/model.json").json()
        assert meta["compat_key"] == w["compat_key"] and meta["dim"] == 1280 and meta["input_size"] == [224, 224]
        assert meta["mean"] == [0.5] * 3 and meta["std"] == [0.5] * 3 and meta["interpolation"] == "bilinear"
        assert c.get("/demo/model.onnx").content == w["onnx"].read_bytes()
        assert c.get("/demo/app.js").headers["content-type"].startswith("text/javascript")
        assert c.get("/demo/ort-wasm-simd-threaded.wasm").headers["content-type"] == "application/wasm"
        assert c.get("/demo/secret.py").status_code == 404 and c.get("/demo/..%2fserver.py").status_code == 404
        assert "/demo/" not in c.get("/openapi.json").json()["paths"]
        monkeypatch.setattr(webclient, "DIST", tmp_path / "missing")
        r = c.get("/demo/")
        assert r.status_code == 503 and "run `make web`" in r.text
        assert c.get("/demo/app.js").status_code == 503 and "make web" in c.get("/demo/app.js").json()["error"]
    with TestClient(create_app(w["index"])) as c:
        r = c.get("/demo/model.json")
        assert r.status_code == 503 and "--web-artifact" in r.json()["error"]
    other = {"teacher": "another_teacher", "weights_sha256": None, "dim": 1280}
    build_index(w["db_embeddings"], [{"name": n, "path": ""} for n in w["db_names"]], other, tmp_path / "other")
    with TestClient(create_app(tmp_path / "other", web_artifact=w["onnx"])) as c:
        r = c.get("/demo/model.json")
        assert r.status_code == 409 and "exported for teacher" in r.json()["error"]
    assert main(["serve", "--index", str(tmp_path / "other"), "--web-artifact", str(w["onnx"])]) == 2
    assert main(["serve", "--index", str(w["index"]), "--web-artifact", str(w["ckpt"])]) == 2


@pytest.mark.parametrize("keyed", [False, True], ids=["open", "api-key"])
def test_browser_encodes_and_searches(client_world: dict[str, Any], tmp_path: Path, keyed: bool) -> None:
    """Upload the query photo in headless Chromium: top result a true positive, the browser's embedding that
    of Python onnxruntime; a non-image, an unreachable server and a model for another teacher are explained.
    Against a server that requires an API key: the page explains the 401, then sends the key its user enters
    (searches and thumbnails)."""
    require_web_build()
    if not Path("/usr/bin/chromium").is_file():
        pytest.fail("Debian chromium is missing: run `make browser-deps`")
    w = client_world
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("not a photo")
    shot = tmp_path / "web_demo.png"
    key, keys = "browser-" + "k" * 20, tmp_path / "keys"
    keys.write_text(key + "\n")
    guard = ["--api-key-file", str(keys)] if keyed else []
    with running_server(["--index", str(w["index"]), "--artifact", str(w["onnx"]), *guard]) as base:
        opts = {"base": base, "query": str(w["query"]), "notImage": str(not_image), "screenshot": str(shot),
                **({"apiKey": key} if keyed else {})}
        r = subprocess.run(["node", "tests/e2e.mjs", json.dumps(opts)], cwd=WEB, capture_output=True, text=True,
                           timeout=180)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    search = out["search"]
    assert search["state"] == "results", (search, out["logs"])
    assert search["names"][0] in w["positives"] and len(search["names"]) == 12
    emb = np.asarray(search["embedding"], np.float32)
    cosine = float(emb @ w["query_embedding"] / np.linalg.norm(emb) / np.linalg.norm(w["query_embedding"]))
    assert cosine >= 0.99
    print(f"\nbrowser vs Python onnxruntime cosine {cosine:.7f}, browser encode {search['encodeMs']:.0f} ms")
    assert out["notImage"]["state"] == "error" and "not an image" in out["notImage"]["status"]
    assert out["unreachable"]["state"] == "error" and "unreachable" in out["unreachable"]["status"]
    assert out["otherTeacher"]["state"] == "error"
    assert "exported for another teacher" in out["otherTeacher"]["status"]
    assert shot.stat().st_size > 10_000
    answers = {(a["name"], a.get("code")) for a in out["answers"]}  # what the page read, checked by ajv
    assert {("search-response", None), ("error", "space_mismatch")} <= answers, out["answers"]
    assert all(not a["errors"] for a in out["answers"]), out["answers"]
    if keyed:
        assert out["noKey"]["state"] == "error" and "needs an API key" in out["noKey"]["status"]
        assert ("error", "unauthorized") in answers and [r["keyed"] for r in out["requests"]][:2] == [False, True]
    # the page sends the compact form: its embedding as NumPy's float16, bit for bit
    sent = out["requests"][1 if keyed else 0]
    assert not sent["errors"] and sent["body"]["embedding"]["dtype"] == "float16", sent
    got = np.frombuffer(base64.b64decode(sent["body"]["embedding"]["b64"]), "<u2")
    np.testing.assert_array_equal(got, emb.astype("<f2").view("<u2"))
    if keyed:
        return
    (REPO / "build").mkdir(exist_ok=True)  # kept for a look (docs/web_demo.png is a copy of one)
    shutil.copyfile(shot, REPO / "build" / "web_demo.png")
