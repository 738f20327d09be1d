"""The index server: every endpoint through FastAPI's TestClient, every bad request a 4xx JSON error,
generated requests against the OpenAPI schema (schemathesis), and one real uvicorn server on loopback."""

import base64
import io
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from PIL import Image
from schemathesis import GenerationMode

from device_eval.index import build_index, open_index
from device_eval.server import ServeOptions, create_app
from device_eval.state import load_state
from distill.cache import load_cache
from distill.cli import main
from export.artifact import open_artifact
from export.pipeline import ExportRequest, export_student
from tests.conftest import running_server


@pytest.fixture(scope="module")
def served(tiny_asym_run: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An index of the mini benchmark's database and an fp32 ONNX student exported for it."""
    root = tmp_path_factory.mktemp("served")
    assert main(["index", "build", "--data", str(tiny_asym_run["bench"]), "--teacher-cache",
                 str(tiny_asym_run["bench_cache"]), "--out", str(root / "index")]) == 0
    report = export_student(ExportRequest(format="onnx", ckpt=str(tiny_asym_run["ckpt"]), out=str(root / "onnx"),
                                          calib=str(tiny_asym_run["calib"])))
    vectors, _ = load_cache(tiny_asym_run["bench_cache"])
    return {"index": root / "index", "artifact": Path(report["artifact"]), "db": vectors[:8],
            "key": open_index(root / "index").compat_key, "bench": tiny_asym_run["bench"]}


@pytest.fixture(scope="module")
def client(served: dict[str, Any]) -> Any:
    options = ServeOptions(max_k=5, max_body_bytes=200_000)
    with TestClient(create_app(served["index"], served["artifact"], options=options)) as c:
        yield c


def search(client: TestClient, emb: Any, key: str, **extra: Any) -> Any:
    return client.post("/search", json={"embedding": list(map(float, emb)), "compat_key": key, **extra})


def test_search_ranks_the_database_by_cosine(client: TestClient, served: dict[str, Any]) -> None:
    db = served["db"]
    r = search(client, db[3], served["key"], k=4)
    assert r.status_code == 200, r.text
    body = r.json()
    expected = np.argsort(-(db @ db[3]))[:4]
    assert [h["id"] for h in body["results"]] == expected.tolist()
    assert body["results"][0]["name"] == "db3" and abs(body["results"][0]["score"] - 1) < 1e-5
    assert [h["rank"] for h in body["results"]] == [1, 2, 3, 4] and body["renormalized"] is False
    r = search(client, 1.05 * db[3], served["key"], k=3)  # slightly off unit norm: rescaled, same ranking
    assert r.json()["renormalized"] is True and r.json()["results"][0]["id"] == 3


def f16(v: np.ndarray) -> dict[str, str]:
    return {"dtype": "float16", "b64": base64.b64encode(np.asarray(v, "<f2").tobytes()).decode()}


def i8(v: np.ndarray) -> dict[str, Any]:
    scale = float(np.abs(v).max()) / 127
    q = np.clip(np.round(np.asarray(v) / scale), -127, 127).astype(np.int8)
    return {"dtype": "int8", "b64": base64.b64encode(q.tobytes()).decode(), "scale": scale, "zero_point": 0}


def test_compact_embeddings_search_like_floats(client: TestClient, served: dict[str, Any]) -> None:
    db, key = served["db"], served["key"]
    for i in range(8):
        want = search(client, db[i], key, k=5).json()["results"]
        for compact in (f16(db[i]), i8(db[i])):
            r = client.post("/search", json={"embedding": compact, "compat_key": key, "k": 5})
            assert r.status_code == 200, r.text
            got = r.json()["results"]
            raw = np.frombuffer(base64.b64decode(compact["b64"]), "<f2" if compact["dtype"] == "float16" else "i1")
            decoded = raw.astype(np.float64) * compact.get("scale", 1.0)  # (zero point 0 here)
            exact = db @ (decoded / np.linalg.norm(decoded))  # the decoded vector's own exact ranking
            assert [h["id"] for h in got] == np.argsort(-exact)[:5].tolist()
            assert np.allclose([h["score"] for h in got], np.sort(exact)[::-1][:5], atol=1e-5)
            assert np.allclose([h["score"] for h in got], [h["score"] for h in want], atol=0.02)  # ≈ the f32 scores
    # 1 byte per value: scale × (q − zero_point), here with a zero point of 3
    q = np.round(db[5] / 0.01).astype(np.int8)
    body = {"dtype": "int8", "b64": base64.b64encode((q + 3).astype(np.int8).tobytes()).decode(), "scale": 0.01,
            "zero_point": 3}
    assert search_raw(client, body, key)["results"][0]["id"] == 5


def search_raw(client: TestClient, embedding: dict[str, Any], key: str) -> Any:
    r = client.post("/search", json={"embedding": embedding, "compat_key": key, "k": 3})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(("embedding", "needle"), [
    ({"dtype": "float16", "b64": "not base64!"}, "not base64"),
    ({"dtype": "float16", "b64": base64.b64encode(b"abc").decode()}, "3 bytes is not a whole number of float16"),
    ({"dtype": "float16", "b64": base64.b64encode(np.ones(4, "<f2").tobytes()).decode()},
     "embedding has 4 values, this index holds"),
    ({"dtype": "float16", "b64": base64.b64encode(np.full(256, np.inf, "<f2").tobytes()).decode()},
     "holds non-finite values"),
    ({"dtype": "float32", "b64": "AAAA"}, "embedding"),  # not a compact dtype the server takes
    ({"dtype": "int8", "b64": "AAAA"}, "scale"),  # int8 without its scale and zero point
    ({"dtype": "int8", "b64": "AAAA", "scale": 0, "zero_point": 0}, "greater than 0"),
    ({"dtype": "int8", "b64": "AAAA", "scale": 1, "zero_point": 300}, "less than or equal to 127"),
])
def test_bad_compact_embeddings_are_one_line_422s(client: TestClient, served: dict[str, Any], embedding: dict,
                                                   needle: str) -> None:
    r = client.post("/search", json={"embedding": embedding, "compat_key": served["key"]})
    assert r.status_code == 422 and needle in r.json()["error"] and "\n" not in r.json()["error"], r.text


def test_health_manifest_thumbnails_and_schema(client: TestClient, served: dict[str, Any]) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "count": 8, "generation": 1}
    man = client.get("/manifest").json()
    assert man["index"]["compat_key"] == served["key"] and man["image_search"] is True and man["max_k"] == 5
    thumb = client.get("/thumbs/2")
    assert thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).size == Image.open(served["bench"] / "jpg" / "db2.jpg").size
    assert client.get("/thumbs/8").status_code == 404 and "0 … 7" in client.get("/thumbs/8").json()["error"]
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/search", "/search/image", "/manifest", "/healthz", "/thumbs/{item_id}"} <= set(paths)


@pytest.mark.parametrize(("body", "status", "needle"), [
    ({"embedding": [0.1] * 3}, 422, "embedding has 3 values"),
    ({"embedding": "ZERO"}, 422, "embedding"),
    ({"k": 0}, 422, "k"),
    ({"k": 6}, 422, "k=6: expected 1 … 5"),
    ({"compat_key": "0123456789abcdef"}, 409, "use a student exported for it"),
    ({"unexpected": 1}, 422, "unexpected"),
    ({"scale": 5.0}, 422, "expected an L2-normalised vector"),
    ({"scale": 0.0}, 422, "norm 0"),
])
def test_bad_search_requests_are_4xx_json(client: TestClient, served: dict[str, Any], body: dict, status: int,
                                          needle: str) -> None:
    scale = body.pop("scale", 1.0)
    req = {"embedding": (scale * served["db"][0]).tolist(), "compat_key": served["key"], **body}
    r = client.post("/search", json=req)
    assert r.status_code == status and needle in r.json()["error"], r.text


def test_nan_oversized_and_malformed_bodies(client: TestClient, served: dict[str, Any]) -> None:
    emb = served["db"][0].tolist()
    nan = json.dumps({"embedding": [float("nan"), *emb[1:]], "compat_key": served["key"]})  # Python writes NaN
    r = client.post("/search", content=nan, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "embedding" in r.json()["error"]
    r = client.post("/search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    big = json.dumps({"embedding": [0.0] * 50_000, "compat_key": served["key"]})
    r = client.post("/search", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "200000 bytes" in r.json()["error"]


def test_image_search_encodes_with_the_exported_student(client: TestClient, served: dict[str, Any]) -> None:
    path = served["bench"] / "jpg" / "db5.jpg"
    r = client.post("/search/image?k=3", files={"image": ("db5.jpg", path.read_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    art = open_artifact(served["artifact"])
    from distill.data.images import ImageRef

    q = art.embed_refs([ImageRef(path)])
    want = np.argsort(-(served["db"] @ q[0]))[:3].tolist()
    assert [h["id"] for h in r.json()["results"]] == want
    bad = client.post("/search/image", files={"image": ("x.jpg", b"not an image", "image/jpeg")})
    assert bad.status_code == 422 and "not a readable image" in bad.json()["error"]


def test_uploaded_photos_are_made_upright_by_their_exif_orientation(client: TestClient, served: dict[str, Any]) -> None:
    """A phone stores a portrait photo sideways with orientation 6; the query is the upright view."""
    import io

    from PIL import Image

    upright = Image.open(served["bench"] / "jpg" / "db5.jpg").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buf, format="PNG", exif=exif)
    straight = io.BytesIO()
    upright.save(straight, format="PNG")
    answers = [client.post("/search/image?k=3", files={"image": ("q.png", b.getvalue(), "image/png")}).json()
               for b in (buf, straight)]
    assert answers[0]["results"] == answers[1]["results"]


def test_image_search_without_an_artifact_is_503(served: dict[str, Any]) -> None:
    with TestClient(create_app(served["index"])) as c:
        r = c.post("/search/image", files={"image": ("a.jpg", b"x", "image/jpeg")})
        assert r.status_code == 503 and "--artifact" in r.json()["error"]


def test_an_artifact_for_another_teacher_is_refused_at_startup(served: dict[str, Any], tmp_path: Path) -> None:
    other = {"teacher": "another_teacher", "weights_sha256": None, "dim": int(served["db"].shape[1])}
    build_index(served["db"], [{"name": f"i{i}", "path": ""} for i in range(8)], other, tmp_path)
    with pytest.raises(Exception, match="exported for teacher"):
        load_state(tmp_path, served["artifact"], 10)
    assert main(["serve", "--index", str(tmp_path), "--artifact", str(served["artifact"])]) == 2


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("keyed", [False, True], ids=["open", "api-key"])
def test_generated_requests_never_get_a_5xx(served: dict[str, Any], mode: str, keyed: bool) -> None:
    """schemathesis draws valid (positive) and schema-violating (negative) requests for every operation (with
    the API key when the server requires one)."""
    key = "fuzz-" + "k" * 20
    app = create_app(served["index"], served["artifact"], options=ServeOptions(max_k=5, api_keys=(key,) * keyed))
    app.state.server = load_state(served["index"], served["artifact"], 5)  # what the lifespan would do
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen: list[int] = []
    headers = {"authorization": f"Bearer {key}"} if keyed else {}
    for result in schema.get_all_operations():
        op = result.ok()

        @given(case=op.as_strategy(GenerationMode(mode)))
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            r = case.call(headers=headers)
            seen.append(r.status_code)
            assert r.status_code < 500 and r.status_code != 401, (f"{case.method} {case.path}: {r.status_code} "
                                                                  f"{r.text[:200]}")

        try:
            check()
        except Unsatisfiable:  # GET /healthz and /manifest take no input that could violate the schema
            assert mode == "negative" and op.method == "get" and "{" not in op.path
    assert len(seen) >= 5 * 10 and any(400 <= c < 500 for c in seen)


@pytest.mark.integration
def test_real_server_on_loopback(served: dict[str, Any]) -> None:
    with running_server(["--index", str(served["index"])]) as base:
        with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
            assert json.load(r)["count"] == 8
        body = json.dumps({"embedding": served["db"][6].tolist(), "compat_key": served["key"], "k": 2}).encode()
        req = urllib.request.Request(base + "/search", data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert json.load(r)["results"][0]["name"] == "db6"
