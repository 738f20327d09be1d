"""`distill` command line: one entry point, one subcommand per job. Errors are one line (exit 2);
`--debug` shows the traceback instead."""

import argparse
import sys
import time

from device_eval.cli import add_device_eval_arguments, add_goldens_arguments, add_index_arguments, add_serve_arguments
from distill.commands import cache, catalog, data, evaluation, train
from distill.errors import DistillError
from export.cli import add_arguments as add_export_arguments


def build_parser() -> argparse.ArgumentParser:
    """The `distill` argument parser."""
    p = argparse.ArgumentParser(prog="distill", description=__doc__)
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", required=True)

    for group in (data, catalog, cache, evaluation, train):
        group.add_arguments(sub)
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
