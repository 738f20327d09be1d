"""Encoding images with a RetrievalNet into N×d float32 L2-normalised embeddings."""

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from tqdm import tqdm

from distill.data.images import ImageDataset, ImageRef
from distill.data.views import ViewParams, render_views
from distill.models.net import RetrievalNet
from distill.precision import DTYPES, autocast, unit_rows
from distill.preprocess import PreprocessConfig


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """An N×C×H×W batch in NHWC memory order, the layout the networks are kept in (`fast_layout`)."""
    return x.contiguous(memory_format=torch.channels_last)


def fast_layout(model: RetrievalNet) -> RetrievalNet:
    """Keep the network's convolution weights channels-last (NHWC): on this CPU EfficientNet-Lite2 inference
    runs 2× faster than NCHW with the same outputs to 3e-7 (`bench/channels_last.py`); on a GPU it is what
    tensor cores want. Feed it `channels_last(x)`."""
    return model.to(memory_format=torch.channels_last)


def default_device() -> torch.device:
    """CUDA when present, else CPU (nothing in the toolkit requires a GPU)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def image_batches(refs: Sequence[ImageRef], cfg: PreprocessConfig, batch_size: int = 32, workers: int = 0,
                  desc: str = "encode") -> Iterator[torch.Tensor]:
    """The images of `refs`, preprocessed by `cfg`, as N×3×H×W float32 batches in order (a DataLoader, so
    `workers` decode in parallel), with a tqdm progress bar. Every image pass of the toolkit batches here."""
    loader = torch.utils.data.DataLoader(ImageDataset(refs, cfg), batch_size=batch_size,
                                         num_workers=workers, shuffle=False)
    with tqdm(total=len(refs), desc=desc, unit="img", leave=False) as bar:
        for x in loader:
            yield x
            bar.update(len(x))


def iter_batches(model: RetrievalNet, refs: Sequence[ImageRef], batch_size: int = 32, workers: int = 0,
                 desc: str = "encode", device: torch.device | None = None) -> Iterator[np.ndarray]:
    """Yield embeddings batch by batch (in `refs` order), with a tqdm progress bar."""
    if model.info is None:
        raise ValueError("model has no preprocessing info: build it with create_model")
    cfg = model.info.preprocess
    device = device or default_device()
    model = fast_layout(model.to(device).eval())
    with torch.inference_mode():
        for x in image_batches(refs, cfg, batch_size, workers, desc):
            yield model(channels_last(x.to(device))).float().cpu().numpy()


def iter_view_batches(model: RetrievalNet, photos: torch.Tensor, views: ViewParams, batch_size: int = 32,
                      desc: str = "encode views", precision: str = "fp32") -> Iterator[np.ndarray]:
    """Yield embeddings of `views` of `photos` rendered at the model's input size, on the photos' device
    (`precision`: 'fp32', or a half type to autocast to: `distill.precision`)."""
    if model.info is None:
        raise ValueError("model has no preprocessing info: build it with create_model")
    cfg = model.info.preprocess
    model = fast_layout(model.to(photos.device).eval())
    with torch.inference_mode(), tqdm(total=len(views), desc=desc, unit="view", leave=False) as bar:
        for s in range(0, len(views), batch_size):
            part = views.take(np.arange(s, min(s + batch_size, len(views))))
            x = channels_last(render_views(photos, part, cfg))  # rendered in float32: only the network is bf16
            with autocast(photos.device, precision):
                emb = model(x).float()
            yield (unit_rows(emb) if precision in DTYPES else emb).cpu().numpy()
            bar.update(len(part))


def encode(model: RetrievalNet, refs: Sequence[ImageRef], batch_size: int = 32, workers: int = 0,
           desc: str = "encode", device: torch.device | None = None) -> np.ndarray:
    """All embeddings of `refs` as one N×d float32 array."""
    parts = list(iter_batches(model, refs, batch_size, workers, desc, device))
    dim = model.dim
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, dim), np.float32)
