"""Consistent views for function matching: one augmentation is drawn once and rendered for each model at
its own input size, so teacher and student see the same crop, flip, colour jitter and mixup.

A view is a row of `ViewParams`: a box (x0, y0, x1, y1) in [0, 1] photo coordinates, a horizontal flip,
brightness/contrast/saturation factors and an optional mixup partner (its own box and flip) with the
weight of the main view. `render_views` resamples views from a uint8 photo tensor held on any device
(`affine_grid` + `grid_sample`), so the same code renders on CPU (teacher cache, student steps) and on a
GPU (the teacher online, the pool in device memory).
"""

import hashlib
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from distill.data.images import ImageRef, load_image
from distill.errors import DistillError
from distill.preprocess import PreprocessConfig


@dataclass(frozen=True)
class Augment:
    """How views are drawn (the recipe of the alignment notes)."""

    scale: tuple[float, float] = (0.08, 1.0)  # crop area as a share of the photo
    ratio: tuple[float, float] = (3 / 4, 4 / 3)  # crop aspect ratio (log-uniform)
    flip: float = 0.5
    jitter: float = 0.4  # brightness/contrast/saturation factors drawn from [1 - j, 1 + j]
    mixup: float = 0.5  # share of views mixed with another photo's view
    mixup_alpha: float = 0.4  # λ ~ Beta(α, α)


@dataclass
class ViewParams:
    """V views: which photo, how it is cropped, flipped, jittered and mixed."""

    photo: np.ndarray  # V int64
    box: np.ndarray  # V×4 float32, (x0, y0, x1, y1) in [0, 1]
    flip: np.ndarray  # V bool
    jitter: np.ndarray  # V×3 float32 brightness, contrast, saturation factors
    mix_photo: np.ndarray  # V int64, -1 = no mixup
    mix_box: np.ndarray  # V×4 float32
    mix_flip: np.ndarray  # V bool
    lam: np.ndarray  # V float32: weight of the main view (1 = no mixup)

    def __len__(self) -> int:
        return len(self.photo)

    def take(self, idx: np.ndarray | Sequence[int]) -> "ViewParams":
        """The views `idx`."""
        i = np.asarray(idx, np.int64)
        return ViewParams(**{f.name: getattr(self, f.name)[i] for f in fields(self)})

    def to_bytes(self) -> bytes:
        """The `.npz` form stored beside a view cache."""
        buf = io.BytesIO()
        np.savez(buf, **{f.name: getattr(self, f.name) for f in fields(self)})
        return buf.getvalue()

    @classmethod
    def from_file(cls, path: str) -> "ViewParams":
        """Read the `.npz` written from `to_bytes`; a missing or malformed file is a one-line error."""
        try:
            with np.load(path) as z:
                return cls(**{f.name: z[f.name] for f in fields(cls)})
        except (OSError, KeyError, ValueError) as e:
            raise DistillError(f"{path}: not a view-parameter file ({type(e).__name__}: {e})") from None

    def sha256(self) -> str:
        """Identity of the views (stored in the cache manifest)."""
        h = hashlib.sha256()
        for f in fields(self):
            h.update(np.ascontiguousarray(getattr(self, f.name)).tobytes())
        return h.hexdigest()


def _boxes(n: int, aug: Augment, rng: np.random.Generator) -> np.ndarray:
    """Random-resized-crop boxes in unit photo coordinates (the photo is squashed to a square)."""
    area = rng.uniform(*aug.scale, n)
    logr = rng.uniform(np.log(aug.ratio[0]), np.log(aug.ratio[1]), n)
    w = np.clip(np.sqrt(area * np.exp(logr)), 0.0, 1.0)
    h = np.clip(np.sqrt(area / np.exp(logr)), 0.0, 1.0)
    x0, y0 = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
    return np.stack([x0, y0, x0 + w, y0 + h], 1).astype(np.float32)


def sample_views(photos: np.ndarray, n_photos: int, rng: np.random.Generator, aug: Augment = Augment()
                 ) -> ViewParams:
    """One random view of each entry of `photos` (photo indices; repeat an index for several views); a
    mixup partner is another photo of the `n_photos`."""
    n = len(photos)
    mixed = rng.random(n) < aug.mixup if n_photos > 1 else np.zeros(n, bool)
    partner = (photos + rng.integers(1, max(n_photos, 2), n)) % max(n_photos, 1)
    lam = np.where(mixed, rng.beta(aug.mixup_alpha, aug.mixup_alpha, n), 1.0)
    return ViewParams(
        photo=np.asarray(photos, np.int64), box=_boxes(n, aug, rng), flip=rng.random(n) < aug.flip,
        jitter=rng.uniform(1 - aug.jitter, 1 + aug.jitter, (n, 3)).astype(np.float32),
        mix_photo=np.where(mixed, partner, -1).astype(np.int64), mix_box=_boxes(n, aug, rng),
        mix_flip=rng.random(n) < aug.flip, lam=np.maximum(lam, 1 - lam).astype(np.float32))


def photo_views(n_photos: int, per_photo: int, rng: np.random.Generator, aug: Augment = Augment(),
                whole_first: bool = True) -> ViewParams:
    """`per_photo` views of each of `n_photos` photos, photo-major (row p·K + k is view k of photo p). With
    `whole_first`, view 0 of each photo is the whole photo unaugmented, as queries are seen at test time."""
    views = sample_views(np.repeat(np.arange(n_photos), per_photo), n_photos, rng, aug)
    if whole_first:
        first = np.arange(n_photos) * per_photo
        views.box[first] = (0.0, 0.0, 1.0, 1.0)
        views.flip[first] = False
        views.jitter[first] = 1.0
        views.mix_photo[first] = -1
        views.lam[first] = 1.0
    return views


def load_photos(refs: Sequence[ImageRef], size: int) -> torch.Tensor:
    """N×3×size×size uint8: each photo squashed to a square (antialiased), ready to render views from."""
    out = torch.empty((len(refs), 3, size, size), dtype=torch.uint8)
    for i, ref in enumerate(refs):
        img: Image.Image = load_image(ref.path).resize((size, size), Image.Resampling.BILINEAR)
        out[i] = torch.from_numpy(np.asarray(img, np.uint8).copy()).permute(2, 0, 1)
    return out


def _sample(photos: torch.Tensor, idx: torch.Tensor, box: torch.Tensor, flip: torch.Tensor,
            size: tuple[int, int]) -> torch.Tensor:
    """Crop `box` of photos `idx` (flipped where `flip`) resampled to `size`, as floats in [0, 1]."""
    x = photos[idx].float() / 255.0
    sx, sy = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    cx, cy = box[:, 0] + box[:, 2] - 1, box[:, 1] + box[:, 3] - 1
    sx = torch.where(flip, -sx, sx)
    theta = torch.zeros((len(idx), 2, 3), dtype=x.dtype, device=x.device)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, cx, sy, cy
    grid = F.affine_grid(theta, [len(idx), 3, *size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def render_views(photos: torch.Tensor, views: ViewParams, cfg: PreprocessConfig) -> torch.Tensor:
    """V×3×H×W network input of `views` at `cfg.input_size`, normalised with `cfg`'s mean/std, on the
    photos' device. Rendering depends only on the view and the size, so every model sees the same view."""
    dev = photos.device

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(dev)

    size = (int(cfg.input_size[0]), int(cfg.input_size[1]))
    x = _sample(photos, t(views.photo), t(views.box), t(views.flip), size)
    mixed = np.flatnonzero(views.mix_photo >= 0)
    if len(mixed):
        m = t(mixed)
        other = _sample(photos, t(views.mix_photo[mixed]), t(views.mix_box[mixed]), t(views.mix_flip[mixed]), size)
        lam = t(views.lam[mixed])[:, None, None, None]
        x[m] = lam * x[m] + (1 - lam) * other
    j = t(views.jitter)
    x = x * j[:, 0, None, None, None]  # brightness
    grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]
    x = (x - grey.mean((2, 3), keepdim=True)) * j[:, 1, None, None, None] + grey.mean((2, 3), keepdim=True)
    grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]
    x = ((x - grey) * j[:, 2, None, None, None] + grey).clamp(0, 1)  # saturation
    mean = torch.tensor(cfg.mean, dtype=x.dtype, device=dev)[None, :, None, None]
    std = torch.tensor(cfg.std, dtype=x.dtype, device=dev)[None, :, None, None]
    return (x - mean) / std


def augment_dict(aug: Augment) -> dict:
    """JSON form of an `Augment` (stored in cache manifests)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(aug).items()}
