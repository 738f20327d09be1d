"""Removal and live updates: `index remove` tombstones ids in a new generation (other ids unchanged, every kind),
and a running server switches to each new generation under load with no error and no lost or duplicated id;
a corrupt generation is refused and the old one keeps serving."""

import json
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from device_eval import index as index_module
from device_eval.index import add_to_index, build_index, open_index, read_manifest, remove_from_index, tune_index
from device_eval.index_kinds import IndexSpec
from distill.cli import main
from distill.errors import DistillError
from tests.conftest import running_server
from tests.test_index import SPACE, items, synthetic


@pytest.mark.parametrize("spec", [IndexSpec(kind="flat"), IndexSpec(kind="hnsw", pca=8, refine=4),
                                  IndexSpec(kind="ivf-sq8", ivf=16, nprobe=16)], ids=["flat", "pca-hnsw", "ivf"])
def test_removed_ids_are_never_returned_and_the_others_keep_theirs(spec: IndexSpec, tmp_path: Path) -> None:
    x = synthetic(3000, 32, 3)
    build_index(x, items(3000), SPACE, tmp_path, spec)
    before_scores, before = open_index(tmp_path).search(x[:20], 10)
    gone = sorted({int(i) for i in before[:, 1]} | {5, 7})  # each query's second hit, and two more
    man = remove_from_index(tmp_path, [f"x{i}" for i in gone], source="test")
    files = read_manifest(tmp_path)["files"]
    assert (man["removed"], man["count"], files["removed"]) == (len(gone), 3000, f"removed-{man['generation']:06d}.npy")
    idx = open_index(tmp_path)
    assert idx.live == 3000 - len(gone) and idx.is_removed(5) and not idx.is_removed(6)
    scores, ids = idx.search(x[:20], 10)
    assert not set(ids.ravel().tolist()) & set(gone) and (ids >= 0).all()
    exact_scores = spec.kind != "ivf-sq8"  # (8-bit codes: approximate scores)
    np.testing.assert_allclose(scores, np.take_along_axis(x[:20] @ x.T, ids, 1), atol=1e-5 if exact_scores else 0.02)
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    for row_b, row_s, new_ids, new_s in zip(before, before_scores, ids, scores, strict=True):
        kept = [(i, s) for i, s in zip(row_b, row_s, strict=True) if i not in gone]  # the same order, minus gone
        if spec.kind != "hnsw":  # (exact kinds here; HNSW + refine re-ranks more candidates for a larger k)
            assert [int(i) for i in new_ids[: len(kept)]] == [int(i) for i, _ in kept]
            np.testing.assert_allclose(new_s[: len(kept)], [s for _, s in kept], rtol=1e-6)
    assert open_index(tmp_path).search(x[:1], 5000)[1].shape == (1, 3000 - len(gone))  # k capped at the live count
    added = add_to_index(tmp_path, x[5:6], items(1, "back"), SPACE)  # row 5's vector again, under a new id
    assert added["removed"] == len(gone) and open_index(tmp_path).search(x[5:6], 1)[1].tolist() == [[3000]]


def test_bad_removals_and_a_corrupt_tombstone_file_are_one_line_errors(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    build_index(synthetic(50, 32), items(50), SPACE, tmp_path)
    remove_from_index(tmp_path, ["x1"])
    with pytest.raises(DistillError, match=r"1 of 2 names are not live items of index .* \(e.g. 'x1'\)"):
        remove_from_index(tmp_path, ["x2", "x1"])  # x1 is already gone
    monkeypatch.setattr(index_module, "MAX_REMOVED", 3)
    with pytest.raises(DistillError, match="4 removed ids would exceed 3"):
        remove_from_index(tmp_path, ["x2", "x3", "x4"])
    names = tmp_path / "names.txt"
    names.write_text("x2\n\nx3\n")
    assert main(["index", "remove", "--index", str(tmp_path), "--names-file", str(names)]) == 0
    assert "2 removed, now 47 searchable of 50 ids" in capsys.readouterr().out
    assert main(["index", "remove", "--index", str(tmp_path)]) == 2
    assert "name the items" in capsys.readouterr().err
    np.save(tmp_path / read_manifest(tmp_path)["files"]["removed"], np.array([3, 1]))
    with pytest.raises(DistillError, match="expected the manifest's 3 removed ids, sorted, unique"):
        open_index(tmp_path)


def get(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return json.load(r)


def post(base: str, vec: np.ndarray, key: str, k: int = 10) -> dict:
    body = json.dumps({"embedding": vec.tolist(), "k": k, "compat_key": key}).encode()
    req = urllib.request.Request(base + "/search", body, {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def wait_for_generation(base: str, gen: int, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while (health := get(base, "/healthz"))["generation"] != gen:
        assert time.monotonic() < deadline, f"the server still serves generation {health['generation']}, not {gen}"
        time.sleep(0.05)
    return health


@pytest.mark.integration
def test_a_running_server_switches_generations_under_load(tmp_path: Path) -> None:
    x = synthetic(4000, 32, 4)
    build_index(x[:3000], items(3000), SPACE, tmp_path / "idx")
    key = read_manifest(tmp_path / "idx")["compat_key"]
    names = {i: f"x{i}" for i in range(3000)} | {3000 + i: f"new{i}" for i in range(1000)}  # what each id must be
    failures: list[str] = []
    served: list[int] = []
    stop = threading.Event()

    def client(seed: int) -> None:
        rng = np.random.default_rng(seed)
        while not stop.is_set():
            try:
                hits = post(base, x[rng.integers(0, 4000)], key)["results"]
            except Exception as e:  # any failure of a request is what the test counts
                failures.append(f"{type(e).__name__}: {e}")
                continue
            ids = [h["id"] for h in hits]
            if len(set(ids)) != len(ids) or any(names[h["id"]] != h["name"] for h in hits):
                failures.append(f"inconsistent answer {[(h['id'], h['name']) for h in hits]}")
            served.append(len(ids))

    with running_server(["--index", str(tmp_path / "idx"), "--reload-interval", "0.1", "--max-batch", "8"]) as base:
        threads = [threading.Thread(target=client, args=(s,)) for s in range(6)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            add_to_index(tmp_path / "idx", x[3000:], items(1000, "new"), SPACE)  # generation 2
            assert wait_for_generation(base, 2)["count"] == 4000
            hit = post(base, x[3500], key, k=1)["results"][0]
            assert (hit["id"], hit["name"]) == (3500, "new500") and hit["score"] == pytest.approx(1, abs=1e-5)
            remove_from_index(tmp_path / "idx", [f"x{i}" for i in range(100)] + ["new500"])  # generation 3
            assert wait_for_generation(base, 3)["count"] == 4000 - 101
            for i in [*range(0, 100, 7), 3500]:  # a removed item is never found, not even by its own vector
                assert i not in [h["id"] for h in post(base, x[i], key, k=20)["results"]]
            # a corrupt generation 4: refused, generation 3 keeps serving
            man = read_manifest(tmp_path / "idx")
            (tmp_path / "idx" / "index-000004-s0.faiss").write_bytes(b"not a faiss index")
            bad = {**man, "generation": 4, "files": {**man["files"], "index": ["index-000004-s0.faiss"]}}
            (tmp_path / "idx" / "manifest.json").write_text(json.dumps(bad))
            time.sleep(1.0)
            assert get(base, "/healthz") == {"status": "ok", "count": 3899, "generation": 3}
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
    assert not failures, failures[:5]
    assert len(served) > 100 and set(served) == {10}


def test_tune_changes_search_parameters_in_a_new_generation(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    x = synthetic(3000, 32, 5)
    build_index(x, items(3000), SPACE, tmp_path, IndexSpec(kind="hnsw", pca=8, refine=4, ef_search=16))
    files = read_manifest(tmp_path)["files"]
    assert main(["index", "tune", "--index", str(tmp_path), "--ef-search", "64", "--refine", "8"]) == 0
    assert "now searches with efSearch=64,k_factor_rf=8 (generation 2)" in capsys.readouterr().out
    man = read_manifest(tmp_path)
    assert man["files"]["index"] == files["index"]  # the same FAISS file, only new parameters
    index = open_index(tmp_path).index
    assert index.k_factor == 8  # IndexRefineFlat over the projection and HNSW, as reopened
    with pytest.raises(DistillError, match=r"--nprobe: index .* is PCAR8,HNSW32,RFlat, which has no nprobe"):
        tune_index(tmp_path, nprobe=4)
    assert main(["index", "tune", "--index", str(tmp_path)]) == 2
