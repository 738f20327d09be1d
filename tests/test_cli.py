"""The `distill` command: end to end on miniature sets, one-line errors with exit code 2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from distill.cache import load_cache
from distill.cli import main
from distill.data import load_revisited, open_dataset
from distill.encode import encode
from distill.metrics import revisited_map
from distill.models import create_model


def test_cache_then_eval_teacher_json(mini_revisited: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cache = tmp_path / "cache"
    assert main(["cache-teacher", "--data", str(mini_revisited), "--teacher", "mobilenetv2_gem",
                 "--out", str(cache)]) == 0
    out = tmp_path / "r.json"
    assert main(["eval", "--data", str(mini_revisited), "--mode", "teacher", "--teacher", "mobilenetv2_gem",
                 "--teacher-cache", str(cache), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["mode"] == "teacher" and res["n_queries"] == 2 and res["n_db"] == 6
    assert set(res["map"]) == {"easy", "medium", "hard"} and set(res["mp"]["medium"]) == {"1", "5", "10"}
    assert "medium" in capsys.readouterr().out
    # the same numbers from the cache ranked by NumPy (database rows first, then the cropped queries)
    values, _ = load_cache(cache)
    data = load_revisited(mini_revisited)
    db, q = np.asarray(values[:len(data.imlist)]), np.asarray(values[len(data.imlist):])
    want = revisited_map(np.argsort(-(q @ db.T), axis=1, kind="stable"), data.gnd)
    assert res["map"] == pytest.approx(want["map"], abs=1e-9)
    assert all(res["mp"][s] == pytest.approx(want["mp"][s], abs=1e-9) for s in want["mp"])


def test_eval_class_set_recall(mini_classes: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert main(["eval", "--data", str(mini_classes), "--mode", "sym", "--student", "mobilenetv2_gem",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["recall"]) == {"1", "2", "4", "8"} and res["n_queries"] == 9
    assert all(0.0 <= v <= 1.0 for v in res["recall"].values())
    # Recall@K by NumPy: a hit when one of the K nearest other images shares the query's class
    data = open_dataset(mini_classes)
    e = encode(create_model("mobilenetv2_gem"), data.refs)
    sims = e @ e.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")
    same = data.labels[order] == data.labels[:, None]
    assert res["recall"] == pytest.approx({str(k): same[:, :k].any(1).mean() for k in (1, 2, 4, 8)}, abs=1e-9)


def test_cache_for_other_teacher_is_one_line_error(mini_revisited: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    cache = tmp_path / "cache"
    main(["cache-teacher", "--data", str(mini_revisited), "--teacher", "mobilenetv2_gem", "--out", str(cache)])
    capsys.readouterr()
    code = main(["eval", "--data", str(mini_revisited), "--mode", "teacher", "--teacher", "efficientnet_lite2_gem",
                 "--teacher-cache", str(cache)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[0].startswith("error: ") and "teacher='mobilenetv2_gem'" in err[0] and len(err) == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["eval", "--data", "/nonexistent", "--mode", "teacher", "--teacher", "mobilenetv2_gem"], "dataset not found"),
    (["cache-teacher", "--data", "/nonexistent", "--teacher", "x", "--out", "/tmp/x"], "dataset not found"),
])
def test_bad_input_is_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_corrupt_image_reported_by_path_without_traceback(mini_revisited: Path, tmp_path: Path) -> None:
    (mini_revisited / "jpg" / "db3.jpg").write_bytes(b"garbage")
    proc = subprocess.run([sys.executable, "-m", "distill", "cache-teacher", "--data", str(mini_revisited),
                           "--teacher", "mobilenetv2_gem", "--out", str(tmp_path / "c")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "db3.jpg: not a readable image" in proc.stderr and "Traceback" not in proc.stderr


def test_asym_needs_student(mini_revisited: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", "--data", str(mini_revisited), "--mode", "asym", "--teacher", "mobilenetv2_gem"]) == 2
    assert "needs --student" in capsys.readouterr().err
