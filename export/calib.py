"""Calibration and check images: real photos, preprocessed exactly as the artefact's metadata says."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from distill.data import open_dataset
from distill.data.images import ImageRef, image_suffixes
from distill.encode import image_batches
from distill.errors import DistillError
from distill.preprocess import PreprocessConfig


def image_refs(path: str | Path) -> list[ImageRef]:
    """The images of `path`: a folder of image files, or any dataset `distill` reads (its images)."""
    p = Path(path)
    if not p.exists():
        raise DistillError(f"{p}: calibration data not found (a folder of images or a dataset)")
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in image_suffixes())
        if files:
            return [ImageRef(f) for f in files]
    refs = list(open_dataset(p).refs)
    if not refs:
        raise DistillError(f"{p}: no images")
    return refs


def sample_refs(refs: Sequence[ImageRef], count: int, seed: int = 0) -> list[ImageRef]:
    """Up to `count` refs, a seeded random sample in their original order."""
    if count < 1:
        raise DistillError(f"calibration count {count}: expected ≥ 1")
    idx = np.sort(np.random.default_rng(seed).permutation(len(refs))[:count])
    return [refs[i] for i in idx]


def load_inputs(refs: Sequence[ImageRef], cfg: PreprocessConfig) -> np.ndarray:
    """N×3×H×W float32 network inputs of `refs`."""
    parts = [x.numpy() for x in image_batches(refs, cfg, desc="check images")]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 3, *cfg.input_size), np.float32)
