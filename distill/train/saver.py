"""The run folder's checkpoints (timm's `CheckpointSaver` role): `last.pt` at every save, `best.pt` when the
selection score improves, and beside them `metrics.jsonl` and `curves.png`. Under torchrun rank 0 writes
and the other ranks wait for it."""

import json
from pathlib import Path
from typing import Any

from distill.checkpoint import save_checkpoint
from distill.distributed import DistEnv
from distill.io import atomic_write
from distill.train.report import plot_curves
from distill.train.state import RunState


class CheckpointSaver:
    """Owns `out/last.pt` and `out/best.pt` of one run."""

    def __init__(self, out: Path, dist: DistEnv) -> None:
        self.out, self.dist = out, dist
        self.last, self.best = out / "last.pt", out / "best.pt"

    @staticmethod
    def improves(state: RunState, score: float | None) -> bool:
        """Whether an evaluation scoring `score` becomes best.pt (recorded in `state`). With nothing to
        select by (None), best.pt is the latest state."""
        if score is None:
            return True
        if state.best is None or score > state.best:
            state.best = score
            return True
        return False

    def save(self, payload: dict[str, Any], state: RunState, best: bool = False) -> None:
        """Write last.pt (and best.pt) atomically, then the metrics and curves of `state`."""
        if not self.dist.is_main:
            self.dist.barrier()  # rank 0 writes; the others wait until the files are complete
            return
        save_checkpoint(self.last, payload)
        if best:
            save_checkpoint(self.best, payload)
        lines = "".join(json.dumps(h) + "\n" for h in state.history)
        atomic_write(self.out / "metrics.jsonl", lambda f: f.write(lines.encode()))
        plot_curves(state.to_dict(), self.out / "curves.png")
        self.dist.barrier()
