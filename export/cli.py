"""`distill export ...` (also `python -m export ...`): the export sub-commands, added to a parser the `distill`
command gives (`distill.cli.build_parser`)."""

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from export.artifact import open_artifact
from export.base import QUANTIZATIONS
from export.budget import require_positive
from export.pipeline import ExportRequest, export_student

FORMATS = ("onnx", "tflite", "coreml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-commands `onnx`, `tflite`, `coreml` and `inspect` on `parser`."""
    sub = parser.add_subparsers(dest="export_command", required=True)
    for name in FORMATS:
        p = sub.add_parser(name, help=f"export a trained student to {name}")
        p.add_argument("--ckpt", required=True, help="training checkpoint (RUN/best.pt)")
        p.add_argument("--quantize", choices=QUANTIZATIONS, default="fp32")
        p.add_argument("--calib", required=True,
                       help="real images (a folder or a dataset) for int8 calibration and the fidelity check")
        p.add_argument("--calib-count", type=int, default=128, help="images sampled from --calib (default 128)")
        p.add_argument("--budget-gflops", type=float, default=None, help="fail if the student needs more GFLOPs")
        p.add_argument("--budget-mparams", type=float, default=None, help="fail if it has more M parameters")
        p.add_argument("--eval-data", default=None, help="revisited benchmark for the asym mAP check")
        p.add_argument("--eval-teacher-cache", default=None, help="teacher embeddings of --eval-data")
        p.add_argument("--out", required=True, help="output folder (artefact + report)")
        p.set_defaults(func=run_export, export_format=name)
    ins = sub.add_parser("inspect", help="print an artefact's metadata and inputs/outputs")
    ins.add_argument("artifact")
    ins.set_defaults(func=run_inspect)


def run_export(args: argparse.Namespace) -> None:
    """`distill export FORMAT ...`."""
    require_positive(args.budget_gflops, "--budget-gflops")
    require_positive(args.budget_mparams, "--budget-mparams")
    req = ExportRequest(format=args.export_format, ckpt=args.ckpt, out=args.out, calib=args.calib,
                        quantize=args.quantize, calib_count=args.calib_count, budget_gflops=args.budget_gflops,
                        budget_mparams=args.budget_mparams, eval_data=args.eval_data,
                        eval_teacher_cache=args.eval_teacher_cache)
    report = export_student(req)
    print(Path(report["files"][1]).read_text())
    print(f"artefact {report['artifact']}; reports {', '.join(report['files'])}")


def run_inspect(args: argparse.Namespace) -> None:
    """`distill export inspect ARTIFACT`."""
    art = open_artifact(args.artifact)
    print(json.dumps({"metadata": asdict(art.meta), "io": art.format.describe(art.path)}, indent=2, default=str))
