"""Milvus as a second backend (Milvus Lite, embedded, on a local file): built by `index build --backend milvus`,
searched like the FAISS index (same ids and scores), served through the same HTTP API, refused in one line
for another teacher's space, an existing collection or an unreachable URI."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from device_eval.index import build_index, open_index
from device_eval.milvus_index import MilvusLocation, build_milvus_index, open_milvus_index
from device_eval.server import create_app
from distill.cli import main
from distill.errors import DistillError
from export.pipeline import ExportRequest, export_student
from tests.test_index import SPACE, items, synthetic

pytestmark = pytest.mark.integration  # (an embedded Milvus starts per file: seconds)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("milvus")
    x = synthetic(1500, 32, 11)
    build_index(x, items(1500), SPACE, root / "faiss")
    where = MilvusLocation(str(root / "milvus.db"), "bench")
    build_milvus_index(x, items(1500), SPACE, where.uri, where.collection, source="test")
    return {"x": x, "faiss": root / "faiss", "milvus": where, "root": root}


def test_milvus_searches_like_exact_faiss(built: dict[str, Any]) -> None:
    idx, ref = open_milvus_index(built["milvus"]), open_index(built["faiss"])
    assert (idx.manifest["compat_key"], idx.live, idx.dim) == (ref.compat_key, 1500, 32)
    assert idx.items[7] == {"name": "x7", "path": "/nowhere/x7.jpg"}
    q = built["x"][:20] + 0.05 * np.random.default_rng(0).standard_normal((20, 32)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    scores, ids = idx.search(q, 10)
    ref_scores, ref_ids = ref.search(q, 10)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    assert (ids == ref_ids).mean() > 0.99  # (exact ties may swap)


def test_the_server_serves_a_milvus_collection(built: dict[str, Any]) -> None:
    x, key = built["x"], open_index(built["faiss"]).compat_key
    with TestClient(create_app(built["milvus"])) as c, TestClient(create_app(built["faiss"])) as f:
        body = {"embedding": x[42].tolist(), "k": 5, "compat_key": key}
        got, want = c.post("/search", json=body).json()["results"], f.post("/search", json=body).json()["results"]
        assert [h["id"] for h in got] == [h["id"] for h in want] and got[0]["name"] == "x42"
        assert c.get("/healthz").json() == {"status": "ok", "count": 1500, "generation": 1}
        other = c.post("/search", json={**body, "compat_key": "0123456789abcdef"})
        assert other.status_code == 409 and other.json()["code"] == "space_mismatch"


def test_bad_milvus_requests_are_one_line_errors(built: dict[str, Any], tiny_asym_run: dict[str, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    where = built["milvus"]
    with pytest.raises(DistillError, match="the collection exists; choose another --collection"):
        build_milvus_index(built["x"], items(1500), SPACE, where.uri, where.collection)
    with pytest.raises(DistillError, match="no such collection"):
        open_milvus_index(MilvusLocation(where.uri, "nothing"))
    assert main(["serve", "--backend", "milvus", "--milvus-uri", "http://127.0.0.1:1", "--collection", "x"]) == 2
    err = capsys.readouterr().err
    assert "Milvus at http://127.0.0.1:1: unreachable" in err and err.count("\n") == 1
    assert main(["serve", "--backend", "milvus"]) == 2 and "give --milvus-uri" in capsys.readouterr().err
    # a collection of another teacher's space refuses a student exported for this one, in one line
    uri = str(built["root"] / "cli.db")
    assert main(["index", "build", "--backend", "milvus", "--milvus-uri", uri, "--collection", "demo", "--data",
                 str(tiny_asym_run["bench"]), "--teacher-cache", str(tiny_asym_run["bench_cache"])]) == 0
    assert "index Milvus FLAT: 8 ×" in capsys.readouterr().out
    other = MilvusLocation(uri, "synthetic")
    build_milvus_index(built["x"][:10], items(10), SPACE, other.uri, other.collection)
    report = export_student(ExportRequest(format="onnx", ckpt=str(tiny_asym_run["ckpt"]),
                                          out=str(built["root"] / "onnx"), calib=str(tiny_asym_run["calib"])))
    assert main(["serve", "--backend", "milvus", "--milvus-uri", uri, "--collection", "synthetic", "--artifact",
                 report["artifact"]]) == 2
    err = capsys.readouterr().err
    assert "exported for teacher" in err and err.count("\n") == 1
