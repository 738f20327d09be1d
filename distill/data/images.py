"""Reading images and turning them into network inputs, with one-line errors for bad files."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from distill.errors import DistillError
from distill.preprocess import PreprocessConfig

_INTERP = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
           "nearest": Image.Resampling.NEAREST}


@dataclass(frozen=True)
class ImageRef:
    """One image to encode: a file and an optional crop box (x0, y0, x1, y1) in pixels."""

    path: Path
    bbox: tuple[float, float, float, float] | None = None

    def key(self, root: Path) -> str:
        """Stable text identity relative to `root` (used to hash image lists)."""
        rel = self.path.relative_to(root) if self.path.is_relative_to(root) else self.path
        box = "" if self.bbox is None else "@" + ",".join(f"{v:.2f}" for v in self.bbox)
        return rel.as_posix() + box


def image_suffixes() -> frozenset[str]:
    """Lower-case file suffixes of the formats Pillow can open (its registered extensions)."""
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def load_image(path: str | Path) -> Image.Image:
    """Open an image file as RGB; a missing, truncated or non-image file is a DistillError naming it."""
    p = Path(path)
    try:
        with Image.open(p) as im:
            im.load()
            return im.convert("RGB")
    except FileNotFoundError:
        raise DistillError(f"{p}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DistillError(f"{p}: not a readable image ({type(e).__name__}: {e})") from None


def upright(img: Image.Image) -> Image.Image:
    """A query photo as a gallery shows it: rotated/mirrored by its EXIF orientation, as RGB.

    Device clients (app, browser, POST /search/image) make queries upright; dataset images are read as
    stored (`load_image`), as the published benchmark protocols do."""
    return ImageOps.exif_transpose(img).convert("RGB")


def preprocess(img: Image.Image, cfg: PreprocessConfig) -> np.ndarray:
    """PIL RGB image → 3×H×W float32 array exactly as the model expects (see PreprocessConfig)."""
    if cfg.resize != "squash":
        raise DistillError(f"preprocess.resize={cfg.resize!r}: only 'squash' is supported")
    h, w = cfg.input_size
    im = img.resize((w, h), _INTERP[cfg.interpolation])
    rgb = np.asarray(im, dtype=np.float32) / np.float32(255.0)
    x = (rgb - np.asarray(cfg.mean, np.float32)) / np.asarray(cfg.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


class ImageDataset(torch.utils.data.Dataset):
    """Image refs → preprocessed tensors (cropped to their box first, when they have one)."""

    def __init__(self, refs: Sequence[ImageRef], cfg: PreprocessConfig) -> None:
        self.refs = list(refs)
        self.cfg = cfg

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> torch.Tensor:
        ref = self.refs[i]
        img = load_image(ref.path)
        if ref.bbox is not None:
            img = img.crop(tuple(int(round(v)) for v in ref.bbox))  # type: ignore[arg-type]
        return torch.from_numpy(preprocess(img, self.cfg))


def find_bad_images(refs: Sequence[ImageRef]) -> list[tuple[ImageRef, str]]:
    """Every ref whose file cannot be decoded, with the reason (used by --skip-bad)."""
    bad = []
    for ref in refs:
        try:
            load_image(ref.path)
        except DistillError as e:
            bad.append((ref, str(e)))
    return bad
