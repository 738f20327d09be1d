"""What a run folder tells about itself: provenance (code, packages, machine), curves as a PNG, and the
test set reported once with bootstrap intervals — never used to choose a checkpoint."""

import json
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distill import metrics
from distill.cache import load_cache
from distill.data import RevisitedSet, open_dataset
from distill.encode import encode
from distill.errors import DistillError
from distill.io import atomic_write_json
from distill.models.net import RetrievalNet
from distill.search import knn


def selection_score(result: dict[str, Any] | None) -> float | None:
    """The number `best.pt` is chosen by: held-out views (mean of cosine to the teacher and asym mAP among
    the views) in view training, else Medium mAP (revisited) or Recall@1 (class sets) of `eval_data`."""
    if result is None:
        return None
    if "heldout" in result:
        return 0.5 * (float(result["heldout"]["cosine"]) + float(result["heldout"]["map"]))
    if "medium" in result.get("map", {}):
        return float(result["map"]["medium"])
    return float(result["recall"]["1"]) if "recall" in result else None


def write_provenance(out: Path, device: torch.device) -> None:
    """`provenance.json`: for each invocation of the run (the first, then every resume), the git commit,
    command, Python/torch versions, CPU/GPU, and the installed packages."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        sha, dirty = None, None
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    packages = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions() if d.metadata["Name"])
    path = out / "provenance.json"
    try:
        earlier = json.loads(path.read_text())["invocations"] if path.is_file() else []
    except (ValueError, KeyError, TypeError):
        earlier = []  # an unreadable file is replaced, not a reason to stop training
    atomic_write_json(path, {"invocations": [*earlier, {
        "git_sha": sha, "git_dirty": dirty, "command": sys.argv, "python": sys.version.split()[0],
        "torch": torch.__version__, "device": str(device), "gpu": gpu,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": torch.get_num_threads(), "platform": platform.platform(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"), "pip_freeze": packages}]})


def plot_curves(state: dict[str, Any], path: Path) -> None:
    """Loss per step, and held-out cosine / asym mAP (or eval mAP) per evaluation, as one PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return  # curves are a convenience: metrics.jsonl holds the same numbers (pip install matplotlib)
    hist = state["history"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    losses = np.asarray(state.get("losses", []), np.float64)
    if len(losses):
        axes[0].plot(np.arange(1, len(losses) + 1), losses, lw=0.6, alpha=0.5, label="step")
        w = max(1, len(losses) // 20)
        if len(losses) >= w > 1:
            smooth = np.convolve(losses, np.ones(w) / w, "valid")
            axes[0].plot(np.arange(w, len(losses) + 1), smooth, label=f"mean of {w}")
        axes[0].legend()
    axes[0].set(title="training loss", xlabel="step")
    steps = [h["step"] for h in hist]
    if any("heldout" in h for h in hist):
        axes[1].plot(steps, [h.get("heldout", {}).get("cosine", np.nan) for h in hist], "o-")
        axes[1].set(title="held-out views: cosine to the teacher", xlabel="step")
        axes[2].plot(steps, [100 * h.get("heldout", {}).get("map", np.nan) for h in hist], "o-", label="held-out views")
    elif any("map" in h for h in hist):
        for setup in ("easy", "medium", "hard"):
            axes[2].plot(steps, [100 * h.get("map", {}).get(setup, np.nan) for h in hist], "o-", label=setup)
    for key, marker in (("test_before", "s"), ("test", "*")):
        if key in state:
            axes[2].plot([0 if key == "test_before" else state["step"]], [100 * state[key]["map"]["medium"]], marker,
                         ms=10, label=f"test M ({'before' if key == 'test_before' else 'best.pt'})")
    axes[2].set(title="asym mAP", xlabel="step")
    if axes[2].lines:
        axes[2].legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)


def report_test(student: RetrievalNet, cfg: Any, teacher: str) -> dict[str, Any]:
    """Asym mAP of `student`'s queries against the teacher's database of `cfg.test_data`, the teacher's own
    mAP, their ratio, and 95% bootstrap intervals over the queries; printed and returned."""
    data = open_dataset(cfg.test_data)
    if not isinstance(data, RevisitedSet):
        raise DistillError(f"{cfg.test_data}: the test report needs a revisited test set (gnd_*.pkl)")
    values, man = load_cache(cfg.test_teacher_cache, {"image_list_sha256": data.list_sha256(), "teacher": teacher})
    n_db = len(data.imlist)
    if len(values) != n_db + len(data.qimlist):
        raise DistillError(f"{cfg.test_teacher_cache}: expected the teacher cache of {cfg.test_data} "
                           f"(database and query crops)")
    device = next(student.parameters()).device
    q = encode(student, data.query_refs, desc="test queries", device=device)
    out: dict[str, Any] = {"data": str(cfg.test_data), "teacher": man["teacher"], "queries": len(q)}
    res = {name: metrics.revisited_map(knn(emb, values[:n_db])[1], data.gnd, per_query=True)
           for name, emb in (("student", q), ("teacher", values[n_db:]))}
    out["map"] = res["student"]["map"]
    out["teacher_map"] = res["teacher"]["map"]
    out["ratio"], out["ci95"], out["ratio_ci95"] = {}, {}, {}
    for setup in out["map"]:
        s_ap, t_ap = res["student"]["ap"][setup], res["teacher"]["ap"][setup]
        out["ratio"][setup] = out["map"][setup] / max(out["teacher_map"][setup], 1e-12)
        out["ci95"][setup] = metrics.bootstrap_interval(s_ap)
        out["ratio_ci95"][setup] = metrics.bootstrap_interval(s_ap, t_ap)
    print(format_test(out), flush=True)
    return out


def format_test(r: dict[str, Any]) -> str:
    """One line per setup: asym mAP [95% interval], teacher mAP, ratio [interval]."""
    lines = [f"test {r['data']} ({r['queries']} queries): asym mAP vs teacher {r['teacher']}"]
    for s in r["map"]:
        lo, hi = r["ci95"][s]
        rlo, rhi = r["ratio_ci95"][s]
        lines.append(f"  {s:6} {100 * r['map'][s]:6.2f} [{100 * lo:.1f}, {100 * hi:.1f}]   teacher "
                     f"{100 * r['teacher_map'][s]:6.2f}   ratio {r['ratio'][s]:.3f}× [{rlo:.2f}, {rhi:.2f}]")
    return "\n".join(lines)


def save_test(out: Path, results: dict[str, Any]) -> None:
    """`test.json` beside the checkpoints."""
    atomic_write_json(out / "test.json", results)
