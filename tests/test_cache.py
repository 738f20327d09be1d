"""Teacher cache: resumable encoding, manifest checks, memory-mapped loading."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import distill.cache as cache_mod
from distill.cache import build_cache, expected_manifest, load_cache
from distill.data import load_revisited
from distill.errors import DistillError
from distill.models import create_model


@pytest.fixture(scope="module")
def tiny_teacher():
    torch.manual_seed(0)
    return create_model("mobilenetv2_gem", pretrained=False, dim=16)


def test_cache_roundtrip_and_manifest(tiny_teacher, mini_revisited: Path, tmp_path: Path) -> None:
    data = load_revisited(mini_revisited)
    out = build_cache(tiny_teacher, data, tmp_path / "c", batch_size=3)
    emb, man = load_cache(out, expected_manifest(tiny_teacher, data))
    assert emb.shape == (8, 16) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    assert man["teacher"] == "mobilenetv2_gem" and man["image_list_sha256"] == data.list_sha256()
    assert not (out / "progress.json").exists() and not (out / "embeddings.partial.npy").exists()


def test_interrupted_cache_resumes_to_same_result(tiny_teacher, mini_revisited: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    data = load_revisited(mini_revisited)
    full, _ = load_cache(build_cache(tiny_teacher, data, tmp_path / "full", batch_size=3))
    real = cache_mod.iter_batches
    seen: list[int] = []

    def dies_after_one_batch(*args, **kwargs):
        for i, b in enumerate(real(*args, **kwargs)):
            if i == 1:
                raise KeyboardInterrupt
            seen.append(len(b))
            yield b

    monkeypatch.setattr(cache_mod, "iter_batches", dies_after_one_batch)
    with pytest.raises(KeyboardInterrupt):
        build_cache(tiny_teacher, data, tmp_path / "part", batch_size=3)
    assert json.loads((tmp_path / "part" / "progress.json").read_text())["done"] == 3
    with pytest.raises(DistillError, match="interrupted: re-run cache-teacher to resume"):
        load_cache(tmp_path / "part")
    monkeypatch.setattr(cache_mod, "iter_batches", real)
    resumed, _ = load_cache(build_cache(tiny_teacher, data, tmp_path / "part", batch_size=3))
    np.testing.assert_allclose(resumed, full, atol=1e-6)


def test_cache_for_another_teacher_is_refused(tiny_teacher, mini_revisited: Path, tmp_path: Path) -> None:
    data = load_revisited(mini_revisited)
    out = build_cache(tiny_teacher, data, tmp_path / "c", batch_size=8)
    with pytest.raises(DistillError, match="cache was built for teacher='mobilenetv2_gem'"):
        load_cache(out, {"teacher": "efficientnet_lite2_gem"})
    other = create_model("mobilenetv2_gem", pretrained=False, dim=8)
    with pytest.raises(DistillError, match="holds a cache for another teacher/data"):
        build_cache(other, data, out)


def test_not_a_cache(tmp_path: Path) -> None:
    with pytest.raises(DistillError, match="not a teacher cache"):
        load_cache(tmp_path)
