"""Shared fixtures: miniature datasets in the published formats, written to tmp dirs."""

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_image(path: Path, seed: int, size: tuple[int, int] = (48, 40)) -> Path:
    """A small random RGB JPEG (distinct per seed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path, format="JPEG")
    return path


@pytest.fixture
def mini_revisited(tmp_path: Path) -> Path:
    """gnd_mini.pkl + jpg/: 6 database images, 2 queries, revisitop structure."""
    root = tmp_path / "mini"
    imlist = [f"db{i}" for i in range(6)]
    qimlist = ["q0", "q1"]
    for i, n in enumerate(imlist + qimlist):
        write_image(root / "jpg" / f"{n}.jpg", i)
    gnd = [{"easy": [0, 1], "hard": [2], "junk": [3], "bbx": [2.0, 2.0, 40.0, 30.0]},
           {"easy": [4], "hard": [], "junk": [], "bbx": [0.0, 0.0, 48.0, 40.0]}]
    with open(root / "gnd_mini.pkl", "wb") as f:
        pickle.dump({"imlist": imlist, "qimlist": qimlist, "gnd": gnd}, f)
    return root


@pytest.fixture
def mini_sfm(tmp_path: Path) -> Path:
    """retrieval-SfM-120k-style pickle + ims/ with cirtorch's cid layout."""
    from distill.data.sfm import cid_to_path

    root = tmp_path / "sfm"
    cids = [f"{i:032x}" for i in range(1, 7)]
    for i, c in enumerate(cids):
        write_image(cid_to_path(root / "ims", c), 100 + i)
    split = {"cids": cids, "cluster": [0, 0, 1, 1, 2, 2], "qidxs": [0, 2, 4], "pidxs": [1, 3, 5]}
    with open(root / "retrieval-SfM-120k.pkl", "wb") as f:
        pickle.dump({"train": split, "val": split}, f)
    return root / "retrieval-SfM-120k.pkl"


@pytest.fixture
def mini_classes(tmp_path: Path) -> Path:
    """root/<class>/<image> with 3 classes × 3 images."""
    root = tmp_path / "classes"
    for c in range(3):
        for k in range(3):
            write_image(root / f"class{c}" / f"{k}.png", 10 * c + k)
    return root
