"""Encoding images with a RetrievalNet into N×d float32 L2-normalised embeddings."""

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from tqdm import tqdm

from distill.data.images import ImageDataset, ImageRef
from distill.models.net import RetrievalNet


def default_device() -> torch.device:
    """CUDA when present, else CPU (nothing in the toolkit requires a GPU)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def iter_batches(model: RetrievalNet, refs: Sequence[ImageRef], batch_size: int = 32, workers: int = 0,
                 desc: str = "encode", device: torch.device | None = None) -> Iterator[np.ndarray]:
    """Yield embeddings batch by batch (in `refs` order), with a tqdm progress bar."""
    if model.info is None:
        raise ValueError("model has no preprocessing info: build it with create_model")
    cfg = model.info.preprocess
    device = device or default_device()
    model = model.to(device).eval()
    loader = torch.utils.data.DataLoader(ImageDataset(refs, cfg), batch_size=batch_size,
                                         num_workers=workers, shuffle=False)
    with torch.inference_mode(), tqdm(total=len(refs), desc=desc, unit="img", leave=False) as bar:
        for x in loader:
            yield model(x.to(device)).float().cpu().numpy()
            bar.update(len(x))


def encode(model: RetrievalNet, refs: Sequence[ImageRef], batch_size: int = 32, workers: int = 0,
           desc: str = "encode", device: torch.device | None = None) -> np.ndarray:
    """All embeddings of `refs` as one N×d float32 array."""
    parts = list(iter_batches(model, refs, batch_size, workers, desc, device))
    dim = model.dim
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, dim), np.float32)
