"""The revisited +1M protocol: distractors join the database, are never positives, and cost exactly the
AP that their ranks say; bad distractor files are one-line errors."""

import json
from pathlib import Path

import numpy as np
import pytest

from distill.cache import load_cache
from distill.cli import main
from distill.data import RevisitedSet, open_dataset
from distill.errors import DistillError
from distill.evaluate import Embeddings, evaluate, load_distractors


def test_a_distractor_ahead_of_the_positive_halves_its_precision(tmp_path: Path) -> None:
    e = np.eye(4, dtype=np.float32)
    pos = np.array([0.9, np.sqrt(1 - 0.81), 0, 0], np.float32)
    db = np.stack([pos, e[2], e[3]])  # positive (cos 0.9) and two negatives (cos 0)
    gnd = [{"easy": np.array([0]), "hard": np.array([], int), "junk": np.array([], int), "bbx": [0, 0, 1, 1]}]
    data = RevisitedSet("toy", tmp_path, ["p", "n1", "n2"], ["q"], gnd)
    q = Embeddings(e[[0]], "t")
    assert evaluate(data, q, Embeddings(db, "t"), "teacher", "toy")["map"]["easy"] == pytest.approx(1.0)
    res = evaluate(data, q, Embeddings(db, "t"), "teacher", "toy", distractors=e[[0]])  # the query itself
    # the positive now sits at rank 1 (0-based): trapezoid AP = (0/1 + 1/2) / 2
    assert res["map"]["easy"] == pytest.approx(0.25) and res["n_distractors"] == 1
    far = evaluate(data, q, Embeddings(db, "t"), "teacher", "toy", distractors=-e[[0]])  # ranked last
    assert far["map"]["easy"] == pytest.approx(1.0)


def test_eval_cli_with_distractors_and_bad_files(tiny_asym_run: dict[str, Path], tmp_path: Path) -> None:
    bench, cache = tiny_asym_run["bench"], tiny_asym_run["bench_cache"]
    _, man = load_cache(cache)
    rng = np.random.default_rng(0)
    d = rng.normal(size=(500, man["dim"])).astype(np.float32)
    np.save(tmp_path / "d.npy", d / np.linalg.norm(d, axis=1, keepdims=True))
    base = ["eval", "--data", str(bench), "--mode", "teacher", "--teacher-cache", str(cache)]
    assert main([*base, "--json", str(tmp_path / "a.json")]) == 0
    assert main([*base, "--distractors", str(tmp_path / "d.npy"), "--json", str(tmp_path / "b.json")]) == 0
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert b["n_distractors"] == 500 and all(b["map"][k] <= a["map"][k] + 1e-9 for k in a["map"])
    # copies of the queries' own embeddings rank first for each query, ahead of every positive: mAP must fall
    values, _ = load_cache(cache)
    np.save(tmp_path / "q.npy", np.asarray(values[len(open_dataset(bench).imlist):]))
    assert main([*base, "--distractors", str(tmp_path / "q.npy"), "--json", str(tmp_path / "c.json")]) == 0
    c = json.loads((tmp_path / "c.json").read_text())
    assert a["map"]["medium"] > 0 and all(c["map"][k] < a["map"][k] for k in a["map"] if a["map"][k] > 0)
    np.save(tmp_path / "bad.npy", 2 * d[:, :8])
    with pytest.raises(DistillError, match=r"expected N×\d+ floats"):
        load_distractors(tmp_path / "bad.npy", man["teacher"], man["dim"])
    np.save(tmp_path / "raw.npy", d)
    with pytest.raises(DistillError, match="L2-normalised"):
        load_distractors(tmp_path / "raw.npy", man["teacher"], man["dim"])
    with pytest.raises(DistillError, match="distractors encoded by"):
        load_distractors(cache, "another_teacher", man["dim"])
    with pytest.raises(DistillError, match=r"expects an N×d \.npy"):
        load_distractors(tmp_path / "a.json", man["teacher"], man["dim"])
