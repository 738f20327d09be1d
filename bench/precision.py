"""What half precision buys in the passes without gradients (view caches, the frozen trunk, the projection fit):
the teacher (EfficientNet-Lite2 @260) encodes the same consistent views of real pool photos in fp32, bf16 and
fp16 (autocast, views rendered in float32), side by side in one process: views/s, and each half type's rows
against fp32's (cosine median and minimum). fp16 is skipped where the CPU has no native fp16 kernels.

Run: `.venv/bin/python bench/precision.py [photos] [views_per_photo]` (after `make demo`: needs data/pool)."""

import sys
import time

import numpy as np
import torch

from distill.data import open_dataset
from distill.data.views import ViewParams, load_photos, photo_views
from distill.encode import iter_view_batches
from distill.models import RetrievalNet, create_model
from distill.precision import native_half

POOL = "data/pool"
TEACHER = "efficientnet_lite2_gem"
PHOTO_SIZE = 384  # the view cache's default (distill cache-teacher --photo-size)


def encode(model: RetrievalNet, photos: torch.Tensor, views: ViewParams, precision: str) -> tuple[np.ndarray, float]:
    """(rows, views per second) of one pass over `views` in `precision`, after a one-batch warm-up."""
    list(iter_view_batches(model, photos, views.take(np.arange(32)), precision=precision))
    start = time.perf_counter()
    rows = np.concatenate(list(iter_view_batches(model, photos, views, precision=precision)))
    return rows, len(rows) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    """Encode the views in each precision; print speed-ups over fp32 and cosines to fp32's rows."""
    args = [int(a) for a in (argv if argv is not None else sys.argv[1:])]
    n_photos, per_photo = (args + [32, 8][len(args):])[:2]
    refs = open_dataset(POOL).refs[:n_photos]
    model = create_model(TEACHER)
    photos = load_photos(refs, PHOTO_SIZE)
    views = photo_views(len(refs), per_photo, np.random.default_rng(0))
    kinds = ["fp32", "bf16"] + (["fp16"] if native_half(torch.device("cpu")) == "fp16" else [])
    print(f"{TEACHER}, {len(views)} views of {len(refs)} pool photos, "
          f"{torch.get_num_threads()} threads" + ("" if "fp16" in kinds else "; no native fp16 on this CPU"))
    base, base_rate = encode(model, photos, views, "fp32")
    print(f"  fp32: {base_rate:6.1f} views/s")
    for kind in kinds[1:]:
        rows, rate = encode(model, photos, views, kind)
        cos = (rows * base).sum(1)
        print(f"  {kind}: {rate:6.1f} views/s  speed-up {rate / base_rate:.2f}×   cosine to fp32 rows: "
              f"median {np.median(cos):.5f}, min {cos.min():.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
