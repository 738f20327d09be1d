"""Cached teacher embeddings vs `--teacher-online`: images/s of a training step, side by side.

Run: `.venv/bin/python bench/teacher_cache_vs_online.py` (after `make demo`)."""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import seconds, trainer


def main(argv: list[str] | None = None) -> int:
    """Time the same steps with both teacher sources, interleaved, and print the ratio."""
    repeat = int((argv or sys.argv[1:] or ["5"])[0])
    with tempfile.TemporaryDirectory() as tmp:
        cached = trainer(Path(tmp) / "cached")
        online = trainer(Path(tmp) / "online", teacher_online=True)
        cached.refresh_negatives()
        online.state.negatives = cached.state.negatives
        plan = cached.epoch_plan(0)
        batch = cached.batch(plan[0])
        t_cached = seconds(lambda: cached.train_step(batch), repeat)
        t_online = seconds(lambda: online.train_step(batch), repeat)
    n = len(batch.items)
    print(f"step of {len(batch.anchors)} tuples ({n} images; student encodes the {len(batch.anchors)} anchors)")
    print(f"cached teacher : {t_cached:6.3f} s/step  {n / t_cached:7.1f} img/s")
    print(f"online teacher : {t_online:6.3f} s/step  {n / t_online:7.1f} img/s")
    print(f"speed-up of the cache: {t_online / t_cached:.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
