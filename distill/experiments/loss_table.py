"""AML's loss comparison on the built-in benchmark, and the label-relaxation comparison on the class set.

`python -m distill.experiments.loss_table --out runs/loss-table` trains every loss with the same budget
(student, epochs, batch, learning rate), evaluates teacher↔teacher, student sym and student asym,
and writes results.json, table.md and loss_table.png. Finished runs are reused, interrupted ones resumed.
"""

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from distill.cache import load_cache
from distill.data import open_dataset
from distill.evaluate import Embeddings, evaluate
from distill.io import atomic_write, atomic_write_json
from distill.train import TrainConfig, Trainer

# (run name, loss, mode, mining): the rows of AML's table 3
AML_RUNS = [
    ("sym contrastive", "contrastive", "sym", "hard"),
    ("asym contrastive_plus", "contrastive_plus", "asym", "hard"),
    ("asym contrastive", "contrastive", "asym", "hard"),
    ("asym triplet", "triplet", "asym", "hard"),
    ("asym multi_similarity", "multi_similarity", "asym", "hard"),
    ("asym regression", "regression", "asym", "random"),
    ("asym rkd", "rkd", "asym", "random"),
    ("asym darkrank", "darkrank", "asym", "random"),
]
CLASS_LOSSES = ["relaxed_contrastive", "rkd", "darkrank"]


def run(cfg: TrainConfig, out: Path) -> list[dict[str, Any]]:
    """Train (or reuse / resume) one run; returns its evaluation history."""
    return list(Trainer(cfg, out, resume=True).fit()["history"])


def teacher_row(data: str, cache: str) -> dict[str, Any]:
    """Teacher↔teacher metrics from the cache."""
    values, man = load_cache(cache)
    emb = Embeddings(values, man["teacher"])
    return evaluate(open_dataset(data), emb, emb, "teacher", data)


def aml_table(args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    """Every loss of AML's table, same budget."""
    base = TrainConfig(data=args.train, teacher_cache=args.train_cache, student=args.student, epochs=args.epochs,
                       lr=args.lr, head_lr_mult=args.head_lr_mult, nnum=args.nnum, batch_size=args.batch_size,
                       eval_data=args.test, eval_teacher_cache=args.test_cache, seed=args.seed,
                       projection_init=args.projection_init)
    teacher = teacher_row(args.test, args.test_cache)
    rows = [{"run": "teacher ↔ teacher", "map": teacher["map"], "history": []}]
    for name, loss, mode, mining in AML_RUNS:
        every = args.epochs if mode == "sym" else 1  # a sym evaluation encodes the whole database
        cfg = replace(base, loss=loss, mode=mode, mining=mining, eval_every=every)
        hist = run(cfg, out / name.replace(" ", "-"))
        rows.append({"run": name, "loss": loss, "mode": mode, "mining": mining, "map": hist[-1]["map"],
                     "before": hist[0]["map"], "history": hist})
    return rows


def class_table(args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    """Relaxed contrastive vs RKD vs DarkRank on the class set (Recall@K): dimension reduction of the
    student to `--class-dim`, and relaxed contrastive self-transfer (student = the teacher's network)."""
    teacher = teacher_row(args.classes_test, args.classes_test_cache)
    man = json.loads((Path(args.classes_train_cache) / "manifest.json").read_text())
    rows = [{"run": f"teacher ↔ teacher ({man['dim']}-d)", "recall": teacher["recall"]}]
    base = TrainConfig(data=args.classes_train, teacher_cache=args.classes_train_cache, student=args.student,
                       mode="sym", mining="random", dim=args.class_dim, epochs=args.class_epochs, batch_size=32,
                       samples_per_class=8, lr=args.lr, head_lr_mult=args.head_lr_mult, eval_data=args.classes_test,
                       eval_every=args.class_epochs, seed=args.seed)
    runs = [(f"{loss} → {args.class_dim}-d", f"classes-{loss}-{args.class_dim}d", replace(base, loss=loss))
            for loss in CLASS_LOSSES]
    runs.append((f"relaxed_contrastive self-transfer ({man['teacher']}, {man['dim']}-d)", "classes-self-transfer",
                 replace(base, loss="relaxed_contrastive", student=man["teacher"], dim=None)))
    for name, folder, cfg in runs:
        hist = run(cfg, out / folder)
        rows.append({"run": name, "recall": hist[-1]["recall"], "before": hist[0]["recall"]})
    return rows


def markdown(aml: list[dict[str, Any]], cls: list[dict[str, Any]]) -> str:
    """The two tables in Markdown (percent)."""
    lines = ["| run | mining | mAP E | mAP M | mAP H | M before |", "|---|---|---:|---:|---:|---:|"]
    for r in aml:
        m, b = r["map"], r.get("before", {})
        before = f"{100 * b['medium']:.2f}" if b else ""
        lines.append(f"| {r['run']} | {r.get('mining', '')} | {100 * m['easy']:.2f} | {100 * m['medium']:.2f} | "
                     f"{100 * m['hard']:.2f} | {before} |")
    lines += ["", "| class set (Recall@K) | R@1 | R@2 | R@4 | R@8 | R@1 before |", "|---|---:|---:|---:|---:|---:|"]
    for r in cls:
        rec, b = r["recall"], r.get("before")
        cells = " | ".join(f"{100 * rec[k]:.2f}" for k in ("1", "2", "4", "8"))
        lines.append(f"| {r['run']} | {cells} | {_pct(b, '1')} |")
    return "\n".join(lines) + "\n"


def _pct(values: dict[str, float] | None, key: str) -> str:
    return f"{100 * values[key]:.2f}" if values else ""


def chart(aml: list[dict[str, Any]], path: Path) -> None:
    """Bar chart of Medium/Hard mAP per run plus asym mAP-M curves over epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    names = [r["run"] for r in aml]
    x = range(len(aml))
    ax1.bar([i - 0.2 for i in x], [100 * r["map"]["medium"] for r in aml], 0.4, label="Medium")
    ax1.bar([i + 0.2 for i in x], [100 * r["map"]["hard"] for r in aml], 0.4, label="Hard")
    ax1.set_xticks(list(x), names, rotation=35, ha="right", fontsize=8)
    ax1.set_ylabel("mAP (%)")
    ax1.set_title("revisited mAP on the built-in benchmark")
    ax1.legend()
    for r in aml:
        hist = [h for h in r.get("history", []) if "map" in h]
        if r.get("mode") == "asym" and len(hist) > 1:
            ax2.plot([h["epoch"] for h in hist], [100 * h["map"]["medium"] for h in hist], marker="o", label=r["run"])
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("asym mAP Medium (%)")
    ax2.set_title("asymmetric students during training")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    """Run both tables; print the Markdown and where the files went."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="runs/loss-table")
    p.add_argument("--train", default="data/demo/train/demo-train.pkl")
    p.add_argument("--train-cache", default="data/cache/demo-train")
    p.add_argument("--test", default="data/demo/test")
    p.add_argument("--test-cache", default="data/cache/demo-test")
    p.add_argument("--classes-train", default="data/demo/classes/train")
    p.add_argument("--classes-train-cache", default="data/cache/demo-classes-train")
    p.add_argument("--classes-test", default="data/demo/classes/test")
    p.add_argument("--classes-test-cache", default="data/cache/demo-classes-test")
    p.add_argument("--student", default="efficientnet_lite0_gem")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--class-epochs", type=int, default=1)
    p.add_argument("--class-dim", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--head-lr-mult", type=float, default=10.0)
    p.add_argument("--nnum", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--projection-init", default="lstsq", choices=["lstsq", "random"])
    args = p.parse_args(argv)
    out = Path(args.out)
    aml = aml_table(args, out)
    cls = class_table(args, out)
    atomic_write_json(out / "results.json", {"aml": aml, "classes": cls, "args": vars(args)})
    table = markdown(aml, cls)
    atomic_write(out / "table.md", lambda f: f.write(table.encode()))
    chart(aml, out / "loss_table.png")
    print(table)
    print(f"results.json, table.md and loss_table.png in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
