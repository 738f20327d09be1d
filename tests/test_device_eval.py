"""device-eval: exported-student queries through the index give PyTorch's mAP (fp32 exactly, int8
within tolerance); artefacts for another space or dimension are refused in one line."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from device_eval.index import build_index, open_index
from device_eval.parity import device_eval, format_table, index_ranks
from distill.cli import main
from distill.data import RevisitedSet, open_dataset
from distill.errors import DistillError
from distill.metrics import revisited_map
from export.artifact import Artifact
from export.pipeline import ExportRequest, export_student

pytestmark = pytest.mark.integration  # real exported artefacts


@pytest.fixture(scope="module")
def setup(tiny_asym_run: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("device-eval")
    run = tiny_asym_run
    assert main(["index", "build", "--data", str(run["bench"]), "--teacher-cache", str(run["bench_cache"]),
                 "--out", str(root / "index")]) == 0
    arts = [export_student(ExportRequest(format=f, ckpt=str(run["ckpt"]), out=str(root / f), calib=str(run["calib"]),
                                         quantize=q))["artifact"] for f, q in (("onnx", "fp32"), ("tflite", "int8"))]
    return {**run, "index": root / "index", "artifacts": arts, "root": root}


def test_index_ranks_equal_the_brute_force_ranking_with_distractors_never_positive(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    names = ["a", "b", "c", "d", "e", "f", "g"]  # g is a distractor: not in the data's imlist
    build_index(x, [{"name": n, "path": ""} for n in names], {"teacher": "t", "dim": 8}, tmp_path)
    data = RevisitedSet("mini", tmp_path, ["c", "a", "b", "d", "e", "f"], ["q"],
                        [{"easy": np.array([0]), "hard": np.array([]), "junk": np.array([]), "bbx": [0, 0, 1, 1]}])
    q = x[[6]]  # the distractor itself is the nearest item
    ranks = index_ranks(open_index(tmp_path), q, data)
    by_name = [names[i] for i in np.argsort(-(x @ q[0]))]
    assert ranks[0].tolist() == [6 if n == "g" else data.imlist.index(n) for n in by_name]
    r = by_name.index("c")  # the one positive's rank; the distractor ahead of it counts as a negative
    assert r > 0
    assert revisited_map(ranks, data.gnd)["map"]["easy"] == pytest.approx(0.5 / (r + 1))  # trapezoid AP, 1 positive
    del data.imlist[0]
    data.imlist.append("zz")
    with pytest.raises(DistillError, match="lacks 1 of the 6 database images"):
        index_ranks(open_index(tmp_path), q, data)


def test_device_eval_table_fp32_equal_int8_within_tolerance(setup: dict[str, Any], capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    out = setup["root"] / "result.json"
    args = ["device-eval", "--index", str(setup["index"]), "--data", str(setup["bench"]), "--ckpt",
            str(setup["ckpt"]), "--json", str(out)]
    for a in setup["artifacts"]:
        args += ["--artifact", a]
    code = main(args)
    text = capsys.readouterr().out
    result = json.loads(out.read_text())
    pt, fp32, int8 = result["rows"]
    assert pt["model"] == "pytorch" and "reference" in text and "student_fp32.onnx" in text
    assert fp32["delta_points"] == {k: 0.0 for k in pt["map"]} and fp32["cosine"]["min"] > 0.9999
    assert int8["quantization"] == "int8" and int8["cosine"]["median"] > 0.9
    assert code == (0 if result["passed"] else 2)
    assert fp32["passed"] is True
    # the same mAP as distill's own asym evaluation against the cache (a different code path: no index)
    from distill.cache import load_cache
    from distill.checkpoint import student_from_checkpoint
    from distill.encode import encode
    from distill.evaluate import Embeddings, evaluate

    data = open_dataset(setup["bench"])
    model, _ = student_from_checkpoint(setup["ckpt"])
    assert isinstance(data, RevisitedSet)
    ref = evaluate(data, Embeddings(encode(model, data.query_refs), "s"),
                   Embeddings(load_cache(setup["bench_cache"])[0], "t"), "asym", setup["bench"])
    assert pt["map"] == pytest.approx(ref["map"])


def test_an_artifact_that_ranks_otherwise_fails_unless_tolerated(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    real = Artifact.embed_refs
    monkeypatch.setattr(Artifact, "embed_refs", lambda self, *a, **k: -real(self, *a, **k))  # every ranking reversed
    args = ["device-eval", "--index", str(setup["index"]), "--data", str(setup["bench"]), "--ckpt", str(setup["ckpt"]),
            "--artifact", setup["artifacts"][0]]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert "FAIL (|Δ| ≤ 0.5)" in out and err.strip().splitlines()[-1] == (
        "error: device-eval: an artefact's mAP differs from PyTorch's beyond the tolerance (see table)")
    assert main([*args, "--tol-fp", "100"]) == 0  # mAP lies in [0, 100]: any artefact is within 100 points
    assert "PASS (|Δ| ≤ 100)" in capsys.readouterr().out


def test_refuses_artifacts_for_another_space_or_dimension(setup: dict[str, Any], tmp_path: Path) -> None:
    onnx = setup["artifacts"][0]
    db = np.eye(8, 16, dtype=np.float32)
    items = [{"name": f"db{i}", "path": ""} for i in range(8)]
    build_index(db, items, {"teacher": "tiny_test_gem", "weights_sha256": None, "dim": 16}, tmp_path / "d16")
    with pytest.raises(DistillError, match=r"gives .*-d embeddings, index .* holds 16-d"):
        device_eval([onnx], tmp_path / "d16", setup["bench"], setup["ckpt"])
    idx = open_index(setup["index"])
    vecs = idx.index.reconstruct_n(0, len(idx))
    build_index(vecs, idx.items, {"teacher": "another_teacher", "dim": idx.dim}, tmp_path / "other")
    with pytest.raises(DistillError, match="exported for teacher tiny_test_gem"):
        device_eval([onnx], tmp_path / "other", setup["bench"], setup["ckpt"])
    assert "PASS" in format_table(device_eval([onnx], setup["index"], setup["bench"], setup["ckpt"]))
