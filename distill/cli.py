"""`distill` command line: one entry point, one subcommand per job. Errors are one line (exit 2);
`--debug` shows the traceback instead."""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from device_eval.cli import add_device_eval_arguments, add_goldens_arguments, add_index_arguments, add_serve_arguments
from distill.builders.pool import SOURCES, PoolOptions, build_pool, summary_line
from distill.cache import build_cache, load_cache
from distill.checkpoint import student_from_checkpoint
from distill.data import open_dataset
from distill.data.demo.build import build_demo
from distill.data.pool_sources import WALLPAPER_DEBS
from distill.data.views import Augment, augment_dict, photo_views
from distill.distributed import init_distributed
from distill.encode import default_device, encode
from distill.errors import DistillError
from distill.evaluate import Embeddings, evaluate, format_table, load_distractors, query_refs
from distill.io import atomic_write_json
from distill.losses import get_loss_class, list_losses
from distill.models import RetrievalNet, create_model, get_model_spec, list_models
from distill.precision import PRECISIONS, resolve_precision
from distill.train import Trainer, config_from_sources
from distill.train.report import format_test
from export.cli import add_arguments as add_export_arguments


def _cmd_build_demo(args: argparse.Namespace) -> None:
    out = build_demo(args.out, cache=args.sources)
    manifest = json.loads((out / "manifest.json").read_text())
    s = manifest["summary"]
    print(f"built {manifest['files']} files in {out}: test {s['test']['n_queries']} queries / "
          f"{s['test']['n_db']} database images ({out / 'test'}), train {s['train']['train']['images']} "
          f"images in {s['train']['train']['clusters']} clusters ({out / 'train'}), classes ({out / 'classes'})")


def _cmd_build_pool(args: argparse.Namespace) -> None:
    opts = PoolOptions(sources=tuple(s for s in SOURCES if not getattr(args, f"no_{s}")), demo=args.demo,
                       sources_dir=args.sources, packages=tuple(args.package or WALLPAPER_DEBS),
                       from_dirs=tuple(args.from_dirs), video_step=args.video_step, max_side=args.max_side,
                       max_per_source=args.max_per_source, seed=args.seed, exclude_near=args.exclude_near,
                       teacher_cache=args.teacher_cache, near_cosine=args.near_cosine, skip_bad=args.skip_bad,
                       skip_missing=args.skip_missing)
    print(summary_line(build_pool(args.out, opts), args.out))


def _cmd_models(args: argparse.Namespace) -> None:
    for name in list_models():
        spec = get_model_spec(name)
        print(f"{name:24} {spec.arch:24} {spec.preprocess.input_size[0]:>4}px  {spec.description}")


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


def _cmd_eval(args: argparse.Namespace) -> None:
    data = open_dataset(args.data)
    needs_teacher = args.mode in ("teacher", "asym")
    teacher_emb = None
    if needs_teacher:
        if args.teacher_cache:
            expect = {"image_list_sha256": data.list_sha256(), "count": len(data.refs)}
            if args.teacher:
                expect["teacher"] = args.teacher
            values, manifest = load_cache(args.teacher_cache, expect)
            teacher_emb = Embeddings(values, manifest["teacher"])
        elif args.teacher:
            teacher = create_model(args.teacher, weights=args.teacher_weights)
            teacher_emb = Embeddings(encode(teacher, data.refs, args.batch_size, desc="teacher"), args.teacher)
        else:
            raise DistillError(f"--mode {args.mode} needs --teacher-cache DIR or --teacher PRESET")
    student_emb = None
    if args.mode in ("sym", "asym"):
        if not args.student:
            raise DistillError(f"--mode {args.mode} needs --student CKPT|PRESET")
        student = _load_student(args.student)
        values = encode(student, query_refs(data, args.mode), args.batch_size, desc="student")
        student_emb = Embeddings(values, args.student)
    query = teacher_emb if args.mode == "teacher" else student_emb
    db = student_emb if args.mode == "sym" else teacher_emb
    assert query is not None and db is not None
    distractors = None if args.distractors is None else load_distractors(args.distractors, db.model,
                                                                         db.values.shape[1])
    result = evaluate(data, query, db, args.mode, args.data, distractors)
    print(format_table(result))
    if args.json:
        atomic_write_json(args.json, result)
        print(f"results written to {args.json}")


def _load_student(spec: str) -> RetrievalNet:
    """A trained checkpoint (a file path) or a preset name."""
    if Path(spec).is_file() or spec.endswith(".pt"):
        return student_from_checkpoint(spec)[0]
    return create_model(spec)


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


def _cmd_losses(args: argparse.Namespace) -> None:
    for name in list_losses():
        cls = get_loss_class(name)
        print(f"{name:22} modes: {'/'.join(cls.modes):9} teacher: {'yes' if cls.needs_teacher else 'no ':3}  "
              f"{(cls.__doc__ or '').strip().splitlines()[0]}")


def build_parser() -> argparse.ArgumentParser:
    """The `distill` argument parser."""
    p = argparse.ArgumentParser(prog="distill", description=__doc__)
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="datasets").add_subparsers(dest="data_command", required=True)
    bd = data.add_parser("build-demo", help="build the built-in real-photo benchmark")
    bd.add_argument("--out", default="data/demo")
    bd.add_argument("--sources", default=None, help="where source .deb packages are cached (default OUT/../sources)")
    bd.set_defaults(func=_cmd_build_demo)
    bp = data.add_parser("build-pool", help="build an unlabelled pool of real photos (none from the demo test set)")
    bp.add_argument("--out", default="data/pool")
    bp.add_argument("--demo", default="data/demo", help="the demo whose training images join the pool")
    bp.add_argument("--sources", default=None, help="where source .deb packages are cached (default OUT/../sources)")
    bp.add_argument("--package", action="append", default=None, metavar="PKG",
                    help="Debian wallpaper package (repeatable; default: the built-in list)")
    bp.add_argument("--from", dest="from_dirs", action="append", default=[], metavar="DIR",
                    help="a folder of your own photos, searched recursively (repeatable)")
    for name in ("demo", "opencv", "skimage", "debian"):
        bp.add_argument(f"--no-{name}", action="store_true", help=f"leave out the {name} images")
    bp.add_argument("--video-step", type=int, default=12, help="keep every N-th video frame")
    bp.add_argument("--max-side", type=int, default=640, help="longest side of the written JPEGs")
    bp.add_argument("--max-per-source", type=int, default=None, help="seeded random cap per source")
    bp.add_argument("--seed", type=int, default=0)
    bp.add_argument("--exclude-near", default=None, metavar="TESTDIR",
                    help="drop pool images near this test set (needs --teacher-cache)")
    bp.add_argument("--teacher-cache", default=None, metavar="CACHE", help="teacher cache of --exclude-near")
    bp.add_argument("--near-cosine", type=float, default=0.9, help="drop at or above this cosine (default 0.9)")
    bp.add_argument("--skip-bad", action="store_true", help="skip (and record) unreadable images instead of failing")
    bp.add_argument("--skip-missing", action="store_true", help="skip Debian packages that cannot be fetched")
    bp.set_defaults(func=_cmd_build_pool)

    sub.add_parser("models", help="list model presets").set_defaults(func=_cmd_models)

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

    ev = sub.add_parser("eval", help="retrieval evaluation: teacher, sym or asym")
    ev.add_argument("--data", required=True)
    ev.add_argument("--mode", choices=("teacher", "sym", "asym"), default="teacher")
    ev.add_argument("--teacher", default=None, help="teacher preset (checked against the cache if both given)")
    ev.add_argument("--teacher-weights", default=None)
    ev.add_argument("--teacher-cache", default=None)
    ev.add_argument("--student", "--ckpt", dest="student", default=None,
                    help="trained checkpoint (run/last.pt) or a student preset")
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--distractors", default=None,
                    help="revisited +1M protocol: database-model embeddings of distractors (.npy or teacher cache)")
    ev.add_argument("--json", default=None, help="write the result as JSON here")
    ev.set_defaults(func=_cmd_eval)

    sub.add_parser("losses", help="list losses").set_defaults(func=_cmd_losses)
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

    add_export_arguments(sub.add_parser("export", help="export a student to ONNX, TFLite or Core ML, with a report"))
    add_index_arguments(sub.add_parser("index", help="build, extend or inspect the hosted teacher index"))
    add_serve_arguments(sub.add_parser("serve", help="serve the teacher index over HTTP (FastAPI)"))
    add_device_eval_arguments(sub.add_parser("device-eval", help="exported-student vs PyTorch mAP through the index"))
    add_goldens_arguments(sub.add_parser("client-goldens", help="golden vectors for the device clients' tests"))
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        args.func(args)
    except DistillError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.command not in ("models", "losses"):
        print(f"done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
