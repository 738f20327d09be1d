"""Index kinds: every registered kind builds, reopens with its search parameters and finds exact search's
neighbours; the default stays Flat for small databases; a projection of data that lies in D dimensions
loses nothing; older manifests keep their nprobe; bad requests are one-line errors."""

import json
from pathlib import Path

import numpy as np
import pytest

from device_eval.index import add_to_index, build_index, open_index, read_manifest
from device_eval.index_kinds import FLAT_BELOW, IndexSpec, default_spec, faiss_module, list_index_kinds
from distill.cli import main
from distill.errors import DistillError
from tests.test_index import SPACE, items, synthetic, unit

EXACT_ENOUGH = {"flat": 1.0, "hnsw": 0.97, "hnsw-sq8": 0.9, "ivf-sq8": 0.9, "ivf-fp16": 0.97, "ivf-pq": 0.3,
                "ivf-pq-refine": 0.9}  # top-10 overlap with exact search on clustered 32-d data, all 16 lists probed


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a, b, strict=True)]))


@pytest.mark.parametrize("kind", sorted(EXACT_ENOUGH))
def test_every_kind_finds_the_exact_neighbours(kind: str, tmp_path: Path) -> None:
    assert set(list_index_kinds()) == set(EXACT_ENOUGH)
    x = synthetic(3000, 32, 5)
    q = unit(x[:100] + 0.05 * np.random.default_rng(6).normal(size=(100, 32)))
    exact = np.argsort(-(q @ x.T), axis=1)[:, :10]
    man = build_index(x, items(3000), SPACE, tmp_path, IndexSpec(kind=kind, ivf=16, pq=8, nprobe=16))
    assert man["index_kind"] == kind and man["dim"] == 32 and man["transform"] is None
    idx = open_index(tmp_path)
    scores, got = idx.search(q, 10)
    assert overlap(got, exact) >= EXACT_ENOUGH[kind]
    if kind in ("flat", "hnsw", "ivf-pq-refine"):  # full vectors: the scores are the exact inner products
        np.testing.assert_allclose(scores, np.take_along_axis(q @ x.T, got, axis=1), atol=1e-5)
    add_to_index(tmp_path, x[:3], items(3, "again"), SPACE)  # copies of rows 0–2 become ids 3000–3002
    k = 3003 if kind == "ivf-pq" else 10  # PQ scores are approximate: the copies rank together, not first
    scores, ids = open_index(tmp_path).search(x[:3], k)
    for i, (row, score) in enumerate(zip(ids.tolist(), scores.tolist(), strict=True)):
        assert {i, 3000 + i} <= set(row) and score[row.index(i)] == pytest.approx(score[row.index(3000 + i)])


def test_search_parameters_are_stored_and_applied(tmp_path: Path) -> None:
    x = synthetic(3000, 32, 5)
    man = build_index(x, items(3000), SPACE, tmp_path / "h", IndexSpec(kind="hnsw", hnsw_m=16, ef_search=48))
    assert (man["kind"], man["search_params"]) == ("HNSW16", "efSearch=48")
    assert faiss_module().downcast_index(open_index(tmp_path / "h").index).hnsw.efSearch == 48
    build_index(x, items(3000), SPACE, tmp_path / "i", IndexSpec(kind="ivf-sq8", ivf=16, nprobe=5))
    assert open_index(tmp_path / "i").index.nprobe == 5
    # an index written before index kinds: only `nprobe` in its manifest
    path = tmp_path / "i" / "manifest.json"
    old = {k: v for k, v in json.loads(path.read_text()).items() if k not in ("search_params", "index_kind",
                                                                            "transform")}
    path.write_text(json.dumps({**old, "nprobe": 7}))
    assert open_index(tmp_path / "i").index.nprobe == 7


def test_default_is_flat_below_the_threshold(tmp_path: Path) -> None:
    none = IndexSpec()
    assert default_spec(none, FLAT_BELOW - 1, 1280) == IndexSpec(kind="flat")
    assert default_spec(none, FLAT_BELOW, 1280) == IndexSpec(kind="hnsw", pca=256, refine=4)
    assert default_spec(none, FLAT_BELOW, 384) == IndexSpec(kind="hnsw")  # too few dims to project
    assert default_spec(IndexSpec(refine=0), FLAT_BELOW, 1280) == IndexSpec(kind="hnsw", pca=256, refine=0)
    assert default_spec(IndexSpec(kind="ivf-sq8"), 10**6, 1280) == IndexSpec(kind="ivf-sq8")  # asked for: kept
    assert build_index(synthetic(50, 32), items(50), SPACE, tmp_path)["kind"] == "Flat"


def test_a_projection_of_data_in_its_own_subspace_is_lossless(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(32, 8)))[0]  # 8 orthonormal columns in 32-d
    x = unit(rng.normal(size=(2000, 8)) @ basis.T)
    q = unit(rng.normal(size=(50, 8)) @ basis.T)
    man = build_index(x, items(2000), SPACE, tmp_path, IndexSpec(kind="flat", pca=8))
    assert man["kind"] == "PCAR8,Flat" and man["dim"] == 32 and man["transform"]["dim"] == 8
    scores, got = open_index(tmp_path).search(q, 10)  # 32-d queries, as clients send them
    exact = np.argsort(-(q @ x.T), axis=1)[:, :10]
    assert overlap(got, exact) == 1.0
    np.testing.assert_allclose(scores, np.take_along_axis(q @ x.T, got, axis=1), atol=1e-5)
    assert read_manifest(tmp_path)["compat_key"] == man["compat_key"]  # still the teacher space's identity


def test_bad_index_requests_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = synthetic(300, 32)
    with pytest.raises(DistillError, match=r"--pca 32: expected 1 … 31"):
        build_index(x, items(300), SPACE, tmp_path / "a", IndexSpec(kind="flat", pca=32))
    with pytest.raises(DistillError, match="unknown index kind 'annoy'; expected one of: flat, hnsw"):
        build_index(x, items(300), SPACE, tmp_path / "b", IndexSpec(kind="annoy"))
    with pytest.raises(DistillError, match=r"IVF64,SQ8 needs at least 256 training vectors, the data has 200"):
        build_index(x[:200], items(200), SPACE, tmp_path / "c", IndexSpec(kind="ivf-sq8", ivf=64))


def test_cli_builds_the_kind_asked_for(tiny_asym_run: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    base = ["index", "build", "--data", str(tiny_asym_run["bench"]), "--teacher-cache",
            str(tiny_asym_run["bench_cache"])]
    assert main([*base, "--out", str(tmp_path / "h"), "--kind", "hnsw", "--hnsw-m", "8", "--ef-search", "64"]) == 0
    man = read_manifest(tmp_path / "h")
    assert (man["kind"], man["index_kind"], man["search_params"]) == ("HNSW8", "hnsw", "efSearch=64")
    assert "index HNSW8: 8 ×" in capsys.readouterr().out
    assert main([*base, "--out", str(tmp_path / "p"), "--kind", "ivf-sq8"]) == 2
    assert "needs at least 256 training vectors, the data has 8" in capsys.readouterr().err


def test_refine_rescores_a_projection_exactly(tmp_path: Path) -> None:
    x = synthetic(3000, 32, 5)
    q = unit(x[:100] + 0.05 * np.random.default_rng(6).normal(size=(100, 32)))
    exact = np.argsort(-(q @ x.T), axis=1)[:, :10]
    plain = build_index(x, items(3000), SPACE, tmp_path / "p", IndexSpec(kind="hnsw", pca=4))
    man = build_index(x, items(3000), SPACE, tmp_path / "r", IndexSpec(kind="hnsw", pca=4, refine=8))
    assert (man["kind"], man["search_params"]) == ("PCAR4,HNSW32,RFlat", "efSearch=128,k_factor_rf=8")
    assert plain["kind"] == "PCAR4,HNSW32"
    p_scores, p_ids = open_index(tmp_path / "p").search(q, 10)
    scores, got = open_index(tmp_path / "r").search(q, 10)
    # 4 of 32 dims choose the candidates; the full vectors score them: exact cosines, more of exact's top 10
    np.testing.assert_allclose(scores, np.take_along_axis(q @ x.T, got, axis=1), atol=1e-5)
    assert not np.allclose(p_scores, np.take_along_axis(q @ x.T, p_ids, axis=1), atol=1e-3)
    assert overlap(p_ids, exact) < 0.3 and overlap(got, exact) >= 0.85
    with pytest.raises(DistillError, match="--refine -1: expected 0"):
        build_index(x, items(3000), SPACE, tmp_path / "bad", IndexSpec(kind="flat", refine=-1))
