"""Hard-mining refresh vs a training step: how much a refresh costs, in steps.

Run: `.venv/bin/python bench/mining_refresh_cost.py` (after `make demo`)."""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import seconds, trainer


def main(argv: list[str] | None = None) -> int:
    """Time one refresh (student pass over the queries + FAISS k-NN over the teacher pool) and one step."""
    repeat = int((argv or sys.argv[1:] or ["3"])[0])
    with tempfile.TemporaryDirectory() as tmp:
        tr = trainer(Path(tmp) / "run")
        t_refresh = seconds(tr.refresh_negatives, repeat)
        batch = tr.batch(tr.epoch_plan(0)[0])
        t_step = seconds(lambda: tr.train_step(batch), repeat)
        n_queries, per_epoch = len(tr.data.qidxs), tr.steps_per_epoch  # type: ignore[union-attr]
    print(f"refresh (asym: {n_queries} student queries vs teacher pool): {t_refresh:6.2f} s")
    print(f"training step ({len(batch.anchors)} tuples)                  : {t_step:6.2f} s")
    print(f"one refresh costs {t_refresh / t_step:.1f} steps; refreshing once per epoch ({per_epoch} steps) adds "
          f"{100 * t_refresh / (t_step * per_epoch):.0f}% to an epoch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
