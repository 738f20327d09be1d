"""`distill cache-teacher`: a dataset's teacher embeddings, once (whole images, or K consistent views)."""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from distill.cache import build_cache
from distill.data import open_dataset
from distill.data.views import Augment, augment_dict, photo_views
from distill.distributed import init_distributed
from distill.encode import default_device
from distill.errors import DistillError
from distill.models import create_model
from distill.precision import PRECISIONS, resolve_precision


def _cmd_cache_teacher(args: argparse.Namespace) -> None:
    data = open_dataset(args.data, split=args.split)
    teacher = create_model(args.teacher, weights=args.weights)
    dist = init_distributed(default_device())  # under torchrun: each rank encodes a shard
    views, info = None, None
    if args.views:
        if args.views < 2:
            raise DistillError(f"--views {args.views}: expected ≥ 2 views per image (views of a photo are positives)")
        rng = np.random.default_rng(args.view_seed)
        views = photo_views(len(data.refs), args.views, rng, Augment())
        info = {"per_image": args.views, "seed": args.view_seed, "photo_size": args.photo_size,
                "augment": augment_dict(Augment()), "whole_first": True}
        precision = args.precision or _existing_precision(args.out) or "auto"
        resolved = resolve_precision(precision, default_device())
        if resolved != "fp32":  # absent means fp32 (the caches made before precision was recorded)
            info["precision"] = resolved
    elif args.precision not in (None, "fp32"):
        raise DistillError(f"--precision {args.precision}: only view caches (--views K, training targets) may use "
                           f"half precision; a whole-image cache is a database and stays fp32")
    out = build_cache(teacher, data, args.out, batch_size=args.batch_size, dtype=args.dtype, workers=args.workers,
                      dist=dist, views=views, views_info=info)
    if dist.is_main:
        rows = f"{len(views)} views ({args.views} per image) of {len(data.refs)} images" if views else len(data.refs)
        how = f", encoded in {info.get('precision', 'fp32')}" if info else ""
        print(f"teacher cache: {rows} × {teacher.dim} {args.dtype} embeddings{how} in {out}"
              + (f" ({dist.world} processes)" if dist.world > 1 else ""))


def _existing_precision(out: str) -> str | None:
    """The precision of the view cache already in `out` (so that `auto` reuses it), or None."""
    try:
        views = json.loads((Path(out) / "manifest.json").read_text()).get("views")
    except (OSError, ValueError, AttributeError):
        return None  # none there (or unreadable: build_cache says so)
    return str(views.get("precision", "fp32")) if isinstance(views, dict) else None


def add_arguments(sub: Any) -> None:
    """Register the command(s) on the `distill` sub-parsers `sub`."""
    ct = sub.add_parser("cache-teacher", help="encode a dataset once with the teacher (resumable)")
    ct.add_argument("--data", required=True)
    ct.add_argument("--split", default="train", help="split of a SfM-120k-format pickle")
    ct.add_argument("--teacher", required=True)
    ct.add_argument("--weights", default=None, help="local weights file for the teacher backbone")
    ct.add_argument("--out", required=True)
    ct.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    ct.add_argument("--batch-size", type=int, default=32)
    ct.add_argument("--workers", type=int, default=0)
    ct.add_argument("--views", type=int, default=0, metavar="K",
                    help="cache K augmented views per image (function matching) instead of the whole images")
    ct.add_argument("--view-seed", type=int, default=0, help="seed of the views' augmentation parameters")
    ct.add_argument("--photo-size", type=int, default=384, help="side of the square photos views are rendered from")
    ct.add_argument("--precision", choices=PRECISIONS, default=None,
                    help="view caches: auto (default; fp16/bf16 where the device has it natively: distill.precision), "
                         "fp32, bf16 or fp16")
    ct.set_defaults(func=_cmd_cache_teacher)
