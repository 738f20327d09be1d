"""One space check: `distill.compat.same_space` decides "same embedding space" and `require_same_space`
words the refusal for every join — export fidelity's eval cache, index add, the server (artefact at
start-up, compat key per request, the browser model) and device-eval (artefacts, checkpoint)."""

import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from device_eval.index import add_to_index, build_index, database, open_index
from device_eval.parity import device_eval
from device_eval.server import create_app
from device_eval.state import load_state
from distill import compat
from distill.checkpoint import student_from_checkpoint
from distill.cli import main
from distill.compat import SpaceMismatch, require_same_space
from export.artifact import open_artifact
from export.fidelity import benchmark_map
from export.pipeline import ExportRequest, export_student


@pytest.fixture(scope="module")
def joined(tiny_asym_run: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An index of the mini benchmark's database and an fp32 ONNX student exported for its space."""
    root = tmp_path_factory.mktemp("space-check")
    run = tiny_asym_run
    vectors, items, man = database(run["bench"], run["bench_cache"])
    build_index(vectors, items, man, root / "index")
    report = export_student(ExportRequest(format="onnx", ckpt=str(run["ckpt"]), out=str(root / "onnx"),
                                          calib=str(run["calib"]), calib_count=4))
    return {**run, "root": root, "index": root / "index", "onnx": Path(report["artifact"]), "vectors": vectors,
            "items": items, "space": man}


@pytest.fixture
def refuse_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pair of sides is "another space" from now on."""
    monkeypatch.setattr(compat, "same_space", lambda have, want: False)


def test_compat_key_is_pinned() -> None:
    # every shipped artefact and index carries this key: a change to how it is computed orphans them all.
    # sha256 of '{"dim": 1280, "normalization": "l2", "teacher": "efficientnet_lite2_gem", "weights_sha256": "ab12"}'
    assert compat.compat_key("efficientnet_lite2_gem", "ab12", 1280) == "9a0bd0b049d8a8bd"
    assert compat.manifest_compat_key({"teacher": "efficientnet_lite2_gem", "weights_sha256": "ab12", "dim": 1280,
                                       "count": 5}) == "9a0bd0b049d8a8bd"


def test_refusal_is_one_line_naming_both_sides() -> None:
    cache = {"teacher": "tiny_test_gem", "weights_sha256": None, "dim": 16, "count": 3}
    index = {"teacher": "other", "weights_sha256": "ab" * 32, "dim": 32, "compat_key": "0123456789abcdef"}
    require_same_space(cache, {**cache, "count": 9}, what="a", against="b", where="w")  # same space: no error
    require_same_space(cache, {"compat_key": compat.manifest_compat_key(cache)}, what="a", against="b", where="w")
    with pytest.raises(SpaceMismatch) as e:
        require_same_space(cache, index, what="the cache", against="index I", where="C", hint="use another")
    msg = str(e.value)
    assert msg == (f"C: the cache for teacher tiny_test_gem gives 16-d embeddings, index I for teacher other holds "
                   f"32-d embeddings: compat keys differ ({compat.manifest_compat_key(cache)} ≠ 0123456789abcdef); "
                   f"use another")
    assert isinstance(e.value, compat.DistillError) and e.value.code == "space_mismatch"


def test_every_join_refuses_when_the_space_check_does(joined: dict[str, Any], refuse_all: None,
                                                      tmp_path: Path) -> None:
    onnx, index, ckpt = joined["onnx"], joined["index"], joined["ckpt"]
    # export fidelity: the eval teacher cache, before converting and while measuring
    with pytest.raises(SpaceMismatch, match=str(joined["bench_cache"])):
        export_student(ExportRequest(format="onnx", ckpt=str(ckpt), out=str(tmp_path / "out"),
                                     calib=str(joined["calib"]), eval_data=str(joined["bench"]),
                                     eval_teacher_cache=str(joined["bench_cache"])))
    assert not (tmp_path / "out").exists()
    art = open_artifact(onnx)
    model, _ = student_from_checkpoint(ckpt)
    with pytest.raises(SpaceMismatch, match="is not the space the student was exported for"):
        benchmark_map(art, art.runner(), model, joined["bench"], joined["bench_cache"])
    # index add
    copy = shutil.copytree(index, tmp_path / "index")
    with pytest.raises(SpaceMismatch, match="compat keys differ"):
        add_to_index(copy, joined["vectors"][:2], joined["items"][:2], joined["space"])
    assert open_index(copy).manifest["generation"] == 1
    # the server: the artefact at start-up, the compat key of each request, the browser model
    with pytest.raises(SpaceMismatch, match="exported for teacher"):
        load_state(index, onnx, 10)
    assert main(["serve", "--index", str(index), "--artifact", str(onnx)]) == 2
    with TestClient(create_app(index, web_artifact=onnx)) as c:
        key = open_index(index).compat_key
        r = c.post("/search", json={"embedding": joined["vectors"][0].tolist(), "compat_key": key})
        assert r.status_code == 409 and r.json()["code"] == "space_mismatch", r.text
        assert "use a student exported for it" in r.json()["error"]
        r = c.get("/demo/model.json")
        assert r.status_code == 409 and r.json()["code"] == "space_mismatch", r.text
    # device-eval: each artefact, then the checkpoint
    with pytest.raises(SpaceMismatch, match=f"^{onnx}: "):
        device_eval([str(onnx)], index, joined["bench"], ckpt)
    with pytest.raises(SpaceMismatch, match=f"^{ckpt}: the student trained for teacher tiny_test_gem"):
        device_eval([], index, joined["bench"], ckpt)


def test_the_same_joins_pass_in_one_space(joined: dict[str, Any], tmp_path: Path) -> None:
    onnx, index = joined["onnx"], joined["index"]
    copy = shutil.copytree(index, tmp_path / "index")
    assert add_to_index(copy, joined["vectors"][:2], joined["items"][:2], joined["space"])["count"] == 10
    assert load_state(index, onnx, 10).runner is not None
    with TestClient(create_app(index, web_artifact=onnx)) as c:
        key, query = open_index(index).compat_key, joined["vectors"][0].tolist()
        assert c.post("/search", json={"embedding": query, "compat_key": key}).status_code == 200
        assert c.get("/demo/model.json").json()["compat_key"] == key
        wrong = c.post("/search", json={"embedding": query, "compat_key": "f" * 16})
        assert wrong.status_code == 409 and wrong.json()["code"] == "space_mismatch"
        assert f"({'f' * 16} ≠ {key})" in wrong.json()["error"]
        missing = c.get("/thumbs/99").json()
        assert missing["code"] == "not_found" and "0 … 7" in missing["error"]
        assert c.get("/nowhere").json()["code"] == "not_found"
        assert c.post("/search", json={"k": 1}).json()["code"] == "invalid_request"
    assert device_eval([], index, joined["bench"], joined["ckpt"])["rows"][0]["model"] == "pytorch"
