"""The built-in benchmark: seeded views are reproducible; the full build (slow) writes loadable sets."""

from pathlib import Path

import numpy as np
import pytest

from distill.data import ClassSet, RevisitedSet, TupleSplit, open_dataset
from distill.data.demo import augment as A


@pytest.mark.parametrize("level", A.LEVELS)
def test_synthetic_views_are_deterministic(level: str) -> None:
    img = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    a = A.synth_view(img, level, A.rng_for(1, "scene", level))
    b = A.synth_view(img, level, A.rng_for(1, "scene", level))
    c = A.synth_view(img, level, A.rng_for(2, "scene", level))
    assert a.dtype == np.uint8 and a.ndim == 3 and np.array_equal(a, b) and not np.array_equal(a, c)


def test_hard_views_are_smaller_crops_than_easy() -> None:
    img = np.zeros((400, 400, 3), np.uint8)
    def area(level: str, k: int) -> int:
        h, w = A.synth_view(img, level, A.rng_for(level, k)).shape[:2]
        return h * w

    easy = [area("easy", k) for k in range(5)]
    hard = [area("hard", k) for k in range(5)]
    assert max(hard) < min(easy)


@pytest.mark.slow
def test_full_build_is_loadable_and_reproducible(tmp_path: Path) -> None:
    from distill.data.demo.build import build_demo

    a = build_demo(tmp_path / "a", cache=tmp_path / "src")
    b = build_demo(tmp_path / "b", cache=tmp_path / "src")
    assert (a / "SHA256SUMS").read_text() == (b / "SHA256SUMS").read_text()
    test = open_dataset(a / "test")
    assert isinstance(test, RevisitedSet) and len(test.qimlist) >= 30
    assert isinstance(open_dataset(a / "train" / "demo-train.pkl"), TupleSplit)
    assert isinstance(open_dataset(a / "classes" / "test"), ClassSet)
