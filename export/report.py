"""The export report: JSON (everything) and Markdown (what a person reads), beside the artefact."""

from pathlib import Path
from typing import Any

from distill.io import atomic_write, atomic_write_json
from export.budget import Cost, cost_table


def artifact_size(path: Path) -> int:
    """Bytes of a file, or of every file in a package directory (.mlpackage)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def _pct(v: float) -> str:
    return f"{100 * v:.2f}"


def fidelity_lines(fid: dict[str, Any]) -> list[str]:
    """Markdown lines of the fidelity section."""
    t = fid["target"]
    lines = [f"Target: median cosine ≥ {t['min_median_cosine']}, |Δ mAP| ≤ {t['max_map_delta_points']} points."]
    if not fid["ran"]:
        return [*lines, "", f"**Not run:** {fid['reason']}."]
    lines += ["", "| images | n | max abs error | cosine median | cosine min |", "|---|---:|---:|---:|---:|"]
    rows = [("check images", fid["images"])]
    if "benchmark" in fid:
        rows.append(("benchmark queries", fid["benchmark"]["queries"]))
    for name, a in rows:
        lines.append(f"| {name} | {a['n']} | {a['max_abs_error']:.2e} | {a['cosine_median']:.6f} | "
                     f"{a['cosine_min']:.6f} |")
    if "benchmark" in fid:
        b = fid["benchmark"]
        lines += ["", f"Asymmetric mAP on `{b['data']}` (queries by the model, database by the teacher):", "",
                  "| | " + " | ".join(b["pytorch"]) + " |", "|---|" + "---:|" * len(b["pytorch"])]
        lines.append("| PyTorch | " + " | ".join(_pct(v) for v in b["pytorch"].values()) + " |")
        lines.append("| artefact | " + " | ".join(_pct(v) for v in b["artifact"].values()) + " |")
        lines.append("| Δ points | " + " | ".join(f"{v:+.2f}" for v in b["delta_points"].values()) + " |")
    if fid.get("runtime_note"):
        lines += ["", f"Runtime: {fid['runtime_note']}."]
    lines += ["", f"**Verdict: {'PASS' if fid['passed'] else 'FAIL'}**"]
    return lines


def markdown(report: dict[str, Any], student: Cost, teacher: Cost | None) -> str:
    """The human-readable report."""
    m = report["metadata"]
    io = report["io"]
    lines = [f"# Export report: `{Path(report['artifact']).name}`", "",
             f"{report['format']} · {m['quantization']} · {report['size_bytes'] / 1e6:.2f} MB · student "
             f"`{m['student']}` ({m['mode']}, {m['dim']}-d) · teacher `{m['teacher']}` · compat key "
             f"`{m['compat_key']}` · checkpoint step {m['checkpoint_step']}", "",
             f"Input `{io['inputs'][0]['name']}` {io['inputs'][0]['shape']} {io['inputs'][0]['dtype']} "
             f"({m['input_layout']}; squash-resize to {m['input_size'][0]}×{m['input_size'][1]}, /255, "
             f"mean {m['mean']}, std {m['std']}); output `{io['outputs'][0]['name']}` {io['outputs'][0]['shape']} "
             f"{io['outputs'][0]['dtype']}, L2-normalised in the graph.", "",
             "## Cost (FLOPs = 2 × MACs, torch.utils.flop_counter)", "", cost_table(student, teacher), "",
             "## Fidelity against the PyTorch student", "", *fidelity_lines(report["fidelity"])]
    return "\n".join(lines) + "\n"


def write_report(artifact: Path, report: dict[str, Any], student: Cost, teacher: Cost | None) -> tuple[Path, Path]:
    """Write `<artefact>.report.json` and `.report.md`; returns both paths."""
    js, md = artifact.with_name(artifact.name + ".report.json"), artifact.with_name(artifact.name + ".report.md")
    atomic_write_json(js, report)
    text = markdown(report, student, teacher)
    atomic_write(md, lambda f: f.write(text.encode()))
    return js, md
