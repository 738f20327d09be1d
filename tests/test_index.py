"""The hosted index: build, search, atomic add (also under SIGKILL), IVF-PQ, and one-line errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from device_eval.distractors import gaussian_like
from device_eval.index import add_to_index, build_index, database, legacy_spec, open_index, read_manifest
from distill.cache import load_cache
from distill.cli import main
from distill.compat import manifest_compat_key
from distill.errors import DistillError


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic(n: int, d: int, seed: int = 0, centres: int = 50) -> np.ndarray:
    """Clustered unit vectors (so that an approximate index has structure to exploit)."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, d))
    return unit(c[rng.integers(0, centres, n)] + 0.3 * rng.normal(size=(n, d)))


SPACE = {"teacher": "synthetic", "weights_sha256": None, "dim": 32}


def items(n: int, prefix: str = "x") -> list[dict[str, str]]:
    return [{"name": f"{prefix}{i}", "path": f"/nowhere/{prefix}{i}.jpg"} for i in range(n)]


def test_build_indexes_the_database_images_with_the_cache_identity(tiny_asym_run: dict[str, Path],
                                                                  tmp_path: Path) -> None:
    vectors, its, space = database(tiny_asym_run["bench"], tiny_asym_run["bench_cache"])
    assert [it["name"] for it in its] == [f"db{i}" for i in range(8)]  # queries are not in the database
    assert main(["index", "build", "--data", str(tiny_asym_run["bench"]), "--teacher-cache",
                 str(tiny_asym_run["bench_cache"]), "--out", str(tmp_path / "idx")]) == 0
    idx = open_index(tmp_path / "idx")
    cache, man = load_cache(tiny_asym_run["bench_cache"])
    assert (len(idx), idx.dim, idx.compat_key) == (8, man["dim"], manifest_compat_key(man))
    scores, ids = idx.search(cache[:8], 3)
    assert ids[:, 0].tolist() == list(range(8))  # each database image finds itself first
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(scores, np.sort(cache[:8] @ cache[:8].T, axis=1)[:, ::-1][:, :3], atol=1e-5)
    with pytest.raises(DistillError, match="an index exists there"):
        build_index(vectors, its, space, tmp_path / "idx")


def test_add_appends_a_new_generation_and_removes_the_old(tmp_path: Path) -> None:
    a, b = synthetic(100, 32, 1), synthetic(40, 32, 2)
    build_index(a, items(100), SPACE, tmp_path)
    man = add_to_index(tmp_path, b, items(40, "y"), SPACE, source="more")
    assert (man["count"], man["generation"]) == (140, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index-000002-s0.faiss", "items-000002.jsonl",
                                                           "manifest.json"]
    idx = open_index(tmp_path)
    _, ids = idx.search(b[:5], 1)
    assert ids[:, 0].tolist() == [100, 101, 102, 103, 104]
    assert idx.items[100]["name"] == "y0"
    with pytest.raises(DistillError, match="compat keys differ"):
        add_to_index(tmp_path, synthetic(5, 16), items(5), {"teacher": "other", "dim": 16})
    with pytest.raises(DistillError, match="L2-normalised"):
        add_to_index(tmp_path, 3 * b[:5], items(5), SPACE)


@pytest.mark.integration
def test_ivf_pq_is_approximate_but_close_to_flat(tmp_path: Path) -> None:
    x = synthetic(4000, 32, 3)
    q = unit(x[:200] + 0.05 * np.random.default_rng(4).normal(size=(200, 32)))
    man = build_index(x, items(4000), SPACE, tmp_path / "ivf", legacy_spec(16, 16, nprobe=16))
    assert man["kind"] == "IVF16,PQ16"
    ivf = open_index(tmp_path / "ivf")
    assert ivf.index.nprobe == 16
    exact = np.argsort(-(q @ x.T), axis=1)[:, :10]
    _, got = ivf.search(q, 10)
    recall = np.mean([len(set(e) & set(g)) / 10 for e, g in zip(exact, got, strict=True)])
    assert 0.6 < recall < 1.0  # 2-d PQ codes lose some order; nprobe = all lists loses nothing to IVF
    assert np.mean(got[:, 0] == exact[:, 0]) > 0.8
    with pytest.raises(DistillError, match="at least 256 training vectors"):
        build_index(x[:100], items(100), SPACE, tmp_path / "small", legacy_spec(4, 8))
    with pytest.raises(DistillError, match="must divide"):
        build_index(x, items(4000), SPACE, tmp_path / "bad", legacy_spec(4, 5))
    with pytest.raises(DistillError, match="go together"):
        build_index(x, items(4000), SPACE, tmp_path / "bad", legacy_spec(4, None))


def test_bad_index_directories_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DistillError, match="not an index"):
        open_index(tmp_path)
    build_index(synthetic(10, 32), items(10), SPACE, tmp_path)
    man = read_manifest(tmp_path)
    (tmp_path / man["files"]["items"]).write_text('{"name": "only one"}\n')
    with pytest.raises(DistillError, match="manifest says 10×32"):
        open_index(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"teacher": "x"}))
    with pytest.raises(DistillError, match="missing format_version"):
        open_index(tmp_path)


ADD_SCRIPT = """
import sys, numpy as np
from device_eval.distractors import gaussian_like
from device_eval.index import add_to_index
rng = np.random.default_rng(int(sys.argv[2]))
x = rng.normal(size=(int(sys.argv[3]), 32)).astype(np.float32)
x /= np.linalg.norm(x, axis=1, keepdims=True)
space = {"teacher": "synthetic", "weights_sha256": None, "dim": 32}
add_to_index(sys.argv[1], x, [{"name": f"n{i}", "path": ""} for i in range(len(x))], space)
"""


def unnamed_files(path: Path) -> bool:
    """Whether `path` holds a file its manifest does not name (a generation being written or left half-written)."""
    files = read_manifest(path)["files"]
    named = {*files["index"], files["items"], "manifest.json"}
    return any(p.name not in named for p in path.iterdir())


@pytest.mark.integration
def test_an_add_killed_at_any_moment_leaves_the_old_or_the_new_index(tmp_path: Path) -> None:
    n0, n_add = 50_000, 100_000
    build_index(synthetic(n0, 32), items(n0), SPACE, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-c", ADD_SCRIPT, str(tmp_path), "0", str(n_add)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    full = time.perf_counter() - t0
    expected, mid_write = n0 + n_add, 0
    for i, frac in enumerate(np.linspace(0.5, 1.0, 10)):
        proc = subprocess.Popen([*cmd[:-2], str(i + 1), str(n_add)], env=env)
        if i % 2:  # at a fraction of a whole add's time: before, during or after the write
            time.sleep(full * frac)
        else:  # once a file of the new generation appears (the moment timing alone misses on a busy machine)
            while proc.poll() is None and not unnamed_files(tmp_path):
                time.sleep(0.0005)
            time.sleep(0.002 * i)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        mid_write += unnamed_files(tmp_path)  # a half-written generation
        idx = open_index(tmp_path)  # always opens, whatever the moment of the kill
        assert len(idx) in (expected, expected + n_add)
        expected = len(idx)
    assert mid_write, "no kill landed while a generation was being written: the test proved nothing"


def test_gaussian_distractors_match_the_real_moments() -> None:
    real = synthetic(3000, 32, 5, centres=1)  # a Gaussian cloud: normalising both keeps them alike
    fake = gaussian_like(real, 20_000, seed=1)
    assert fake.shape == (20_000, 32) and fake.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(fake, axis=1), 1.0, atol=1e-5)
    mu = real.mean(0) / np.linalg.norm(real.mean(0))
    # cosine to the mean direction: the same distribution up to sampling error
    assert abs(np.mean(fake @ mu) - np.mean(real @ mu)) < 0.03
    assert abs(np.std(fake @ mu) - np.std(real @ mu)) < 0.03
    np.testing.assert_array_equal(fake[:10], gaussian_like(real, 10, seed=1))
    with pytest.raises(DistillError, match="at least 2 real embeddings"):
        gaussian_like(real[:1], 5)


@pytest.mark.integration
@pytest.mark.parametrize(("ivf", "pq"), [(None, None), (16, 16)])
def test_sharded_index_searches_like_one_and_takes_adds(tmp_path: Path, ivf: int | None, pq: int | None) -> None:
    x, q = synthetic(3000, 32, 6), synthetic(50, 32, 7)
    one = build_index(x, items(3000), SPACE, tmp_path / "one", legacy_spec(ivf, pq, nprobe=16))
    three = build_index(x, items(3000), SPACE, tmp_path / "three", legacy_spec(ivf, pq, nprobe=16), shards=3)
    assert (one["shards"], three["shards"], len(three["files"]["index"])) == (1, 3, 3)
    a, b = open_index(tmp_path / "one"), open_index(tmp_path / "three")
    assert [p.ntotal for p in b.parts] == [1000, 1000, 1000]
    sa, ia = a.search(q, 10)
    sb, ib = b.search(q, 10)
    np.testing.assert_allclose(sb, sa, atol=1e-5)
    assert (ia == ib).mean() > 0.99  # ids are global across shards (only exact score ties may swap)
    add_to_index(tmp_path / "three", x[:5], items(5, "again"), SPACE)
    b = open_index(tmp_path / "three")
    assert [p.ntotal for p in b.parts] == [1000, 1000, 1005] and b.items[3000]["name"] == "again0"
    if ivf is None:
        _, ids = b.search(x[:1], 2)
        assert sorted(ids[0].tolist()) == [0, 3000]  # the original and its re-added copy
    with pytest.raises(DistillError, match="--shards 0"):
        build_index(x, items(3000), SPACE, tmp_path / "bad", shards=0)
