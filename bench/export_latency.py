"""fp32 vs int8 CPU latency of the exported demo student, ONNX Runtime and LiteRT side by side.

Batch 1 (one photo, as on a phone), 1 and 2 threads, and the artefact sizes. This is x86 latency on
the machine that runs it, not phone latency: without VNNI (check `grep -o vnni /proc/cpuinfo`) int8
kernels gain little here, while ARM phones run int8 several times faster than fp32.

Run: `.venv/bin/python bench/export_latency.py [--repeat 30]` (after `make demo`, which exports the
artefacts into runs/demo/export; missing ones are exported here)."""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from export.artifact import open_artifact
from export.base import cpu_has_vnni
from export.onnx_format import OnnxRunner
from export.pipeline import ExportRequest, export_student
from export.report import artifact_size

CKPT = "runs/demo/contrastive_plus/best.pt"
CALIB = "data/demo/train/demo-train.pkl"
ARTIFACTS = [("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "int8")]


def latency_ms(path: Path, threads: int, repeat: int, fused: bool = False) -> float:
    """Median wall time of one batch-1 forward pass in the artefact's runtime (`fused`: ONNX Runtime's
    fused int8 kernels even where they saturate)."""
    art = open_artifact(path)
    runner = OnnxRunner(path, threads, fused=True) if fused else art.runner(threads=threads)
    x = np.random.default_rng(0).normal(size=(1, 3, *art.meta.input_size)).astype(np.float32)
    for _ in range(3):
        runner.embed(x)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        runner.embed(x)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", default=CKPT)
    p.add_argument("--calib", default=CALIB)
    p.add_argument("--dir", default="runs/demo/export")
    p.add_argument("--repeat", type=int, default=30)
    args = p.parse_args(argv)
    paths = {}
    for fmt, q in ARTIFACTS:
        path = Path(args.dir) / fmt / f"student_{q}.{fmt}"
        if not path.exists():
            print(f"exporting {path} ...", file=sys.stderr)
            export_student(ExportRequest(format=fmt, ckpt=args.ckpt, out=str(path.parent), calib=args.calib,
                                         quantize=q, calib_count=64))
        paths[fmt, q] = path
    vnni = "vnni" in Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else False
    print(f"batch 1, median of {args.repeat} runs; CPU {'has' if vnni else 'has no'} VNNI (x86, not a phone)")
    print(f"{'runtime':14}{'threads':>8}{'fp32 ms':>10}{'int8 ms':>10}{'int8 speed-up':>15}")
    for fmt in ("onnx", "tflite"):
        for threads in (1, 2):
            fp32 = latency_ms(paths[fmt, "fp32"], threads, args.repeat)
            int8 = latency_ms(paths[fmt, "int8"], threads, args.repeat)
            name = "ONNX Runtime" if fmt == "onnx" else "LiteRT"
            print(f"{name:14}{threads:>8}{fp32:10.1f}{int8:10.1f}{fp32 / int8:14.2f}x")
            if fmt == "onnx" and not cpu_has_vnni():
                fused = latency_ms(paths[fmt, "int8"], threads, args.repeat, fused=True)
                print(f"{'  fused int8':14}{threads:>8}{'':10}{fused:10.1f}{fp32 / fused:14.2f}x   "
                      f"(saturates on this CPU: see README)")
    print(f"{'artefact':30}{'MB':>8}{'vs fp32':>10}")
    for fmt in ("onnx", "tflite"):
        base = artifact_size(paths[fmt, "fp32"])
        for q in ("fp32", "int8"):
            size = artifact_size(paths[fmt, q])
            print(f"{paths[fmt, q].name + ' (' + fmt + ')':30}{size / 1e6:8.2f}{size / base:9.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
