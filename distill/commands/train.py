"""`distill train`: a student against the teacher's embeddings (tuples, class sets or consistent views)."""

import argparse
from typing import Any

from distill.distributed import init_distributed
from distill.encode import default_device
from distill.errors import DistillError
from distill.train import Trainer, config_from_sources
from distill.train.report import format_test

TRAIN_FLAGS = {  # flag: (type, help); all default to None so YAML values are kept unless a flag is given
    "data": (str, "SfM-120k-format pickle (with --split) or class set"),
    "split": (str, "split of the tuple pickle (default train)"),
    "teacher_cache": (str, "teacher embeddings of --data (distill cache-teacher)"),
    "teacher": (str, "teacher preset (default: the cache's)"),
    "student": (str, "student preset (default efficientnet_lite0_gem)"),
    "loss": (str, "loss name (distill losses lists them; default contrastive_plus)"),
    "mode": (str, "asym (student in the teacher's space, default) or sym"),
    "mining": (str, "hard (default) or random"),
    "nnum": (int, "negatives per tuple (default 5)"),
    "pool_size": (int, "hard-mining pool size (default 2000)"),
    "refresh_every": (int, "steps between mining refreshes (default 0 = every epoch)"),
    "epochs": (int, "epochs (default 5)"),
    "batch_size": (int, "tuples (or images for class sets) per step (default 8)"),
    "samples_per_class": (int, "class sets: images per class in a batch (default 4)"),
    "lr": (float, "Adam learning rate (default 1e-5)"),
    "head_lr_mult": (float, "learning-rate multiplier of GeM p and the projection (default 10)"),
    "weight_decay": (float, "default 1e-6"),
    "schedule": (str, "cosine (default) or constant"),
    "projection_init": (str, "asym: lstsq (ridge fit to the teacher on the training images, default) or random"),
    "dim": (int, "student embedding dim (default: the teacher's in asym mode)"),
    "eval_data": (str, "revisited test set or class set evaluated every --eval-every epochs"),
    "eval_teacher_cache": (str, "teacher embeddings of --eval-data (asym evaluation)"),
    "eval_every": (int, "epochs between evaluations (default 1)"),
    "checkpoint_every": (int, "steps between checkpoints (default 0 = each epoch)"),
    "seed": (int, "default 0"),
    "precision": (str, "auto (default: half precision where native — CUDA bf16; CPU fp16 for passes without "
                       "gradients, fp32 steps), fp32, bf16 or fp16 (no-gradient passes only)"),
    "max_steps": (int, "stop after this many steps (smoke runs)"),
    "views_per_photo": (int, "view training: views of each photo in a batch (default 2)"),
    "heldout_photos": (float, "view training: share of photos held out for λ and best.pt (default 0.1)"),
    "photo_size": (int, "view training with --teacher-online: side of the square photos (default 384)"),
    "projection_views": (int, "view training: training views of the projection's ridge fit (default 8192)"),
    "freeze_stages": (int, "keep the stem and the first N backbone stages frozen; with cached views their output "
                           "is computed once and steps run only the rest (default 0)"),
    "device": (str, "cuda or cpu (default: cuda when present)"),
    "optimizer": (str, "adam (default) or adamw"),
    "warmup_steps": (int, "linear learning-rate warm-up steps (default 0)"),
    "test_data": (str, "revisited test set reported once before and once after training (never selects)"),
    "test_teacher_cache": (str, "teacher cache of --test-data"),
}


def _cmd_train(args: argparse.Namespace) -> None:
    overrides = {k: getattr(args, k) for k in TRAIN_FLAGS}
    overrides["teacher_online"] = True if args.teacher_online else None
    overrides["views"] = True if args.views else None
    if args.loss_param:
        overrides["loss_params"] = dict(_parse_param(p) for p in args.loss_param)
    cfg = config_from_sources(args.config, overrides)
    dist = init_distributed(default_device())  # under torchrun: DDP, each rank a shard of every batch
    trainer = Trainer(cfg, args.out, resume=args.resume, dist=dist)
    state = trainer.fit()
    if not dist.is_main:
        return
    last = state["history"][-1] if state["history"] else {}
    first = state["history"][0] if state["history"] else {}
    if "projection_init" in state:
        pi = state["projection_init"]
        what = "views" if trainer.views is not None else "training images"
        print(f"projection initialised by ridge regression on {int(pi['images'])} {what}: λ {pi['ridge']:g}, "
              f"mean cosine to the teacher {pi['train_cosine']:.3f} (held-out {pi['heldout_cosine']:.3f})")
    print(f"trained {state['step']} steps ({cfg.loss}, {cfg.mode}, {cfg.student})"
          + (f" on {dist.world} processes" if dist.world > 1 else ""))
    if "heldout" in last:
        print(f"held-out views ({last['heldout']['views']}): cosine to the teacher "
              f"{first['heldout']['cosine']:.3f} → {last['heldout']['cosine']:.3f}, asym mAP among views "
              f"{100 * first['heldout']['map']:.2f} → {100 * last['heldout']['map']:.2f}")
    for key in ("test_before", "test"):
        if key in state:
            print(("before training: " if key == "test_before" else "after training (best.pt): ")
                  + format_test(state[key]))
    for key, names in (("map", ("easy", "medium", "hard")), ("recall", ("1", "2", "4", "8"))):
        if key in last:
            label = "mAP" if key == "map" else "R@"
            print(f"{cfg.mode} {key} before → after (epoch {last['epoch']}): " + ", ".join(
                f"{label}{'' if key == 'recall' else ' '}{n} {100 * first[key][n]:.2f} → {100 * last[key][n]:.2f}"
                for n in names))
    print(f"checkpoints, config.yaml and metrics.jsonl in {args.out}")


def _parse_param(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return key.strip(), float(value)
    except ValueError:
        raise DistillError(f"--loss-param {text!r}: expected NAME=NUMBER, e.g. margin=0.5") from None


def add_arguments(sub: Any) -> None:
    """Register the command(s) on the `distill` sub-parsers `sub`."""
    tr = sub.add_parser("train", help="train a student against teacher embeddings (resumable)")
    tr.add_argument("--config", default=None, help="YAML file of the options below (flags override it)")
    tr.add_argument("--out", required=True, help="run folder: last.pt, best.pt, config.yaml, metrics.jsonl")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt (if any)")
    tr.add_argument("--teacher-online", action="store_true", help="run the teacher every step instead of the cache")
    tr.add_argument("--views", action="store_true",
                    help="function matching on consistent views of a photo pool (implied by a view cache)")
    tr.add_argument("--loss-param", action="append", default=[], metavar="NAME=VALUE",
                    help="loss hyper-parameter, e.g. margin=0.5 (repeatable)")
    for name, (typ, text) in TRAIN_FLAGS.items():
        tr.add_argument("--" + name.replace("_", "-"), type=typ, default=None, help=text)
    tr.set_defaults(func=_cmd_train)
