"""`distill data build-demo | build-pool`: the built-in benchmark and the unlabelled photo pool."""

import argparse
import json
from typing import Any

from distill.builders.pool import SOURCES, PoolOptions, build_pool, summary_line
from distill.data.demo.build import build_demo
from distill.data.pool_sources import WALLPAPER_DEBS


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


def add_arguments(sub: Any) -> None:
    """Register the command(s) on the `distill` sub-parsers `sub`."""
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
