"""Where a training run stands: a typed state saved in every checkpoint (as a plain dict under `run`) and
restored exactly on resume."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distill.errors import DistillError

OPTIONAL = ("projection_init", "test_before", "test")  # written only once they exist


@dataclass
class RunState:
    """Step counters, mined negatives, the evaluation history and the reports of one run."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0  # steps of the current epoch already taken
    negatives: np.ndarray | None = None  # mined negatives of every query (tuple training)
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per evaluation (metrics.jsonl)
    best: float | None = None  # best selection score so far
    loss_sum: float = 0.0  # the current epoch's losses, for its mean
    loss_count: int = 0
    losses: list[float] = field(default_factory=list)  # every step's loss (curves.png)
    projection_init: dict[str, float] | None = None
    test_before: dict[str, Any] | None = None  # test-set report of the initialised student
    test: dict[str, Any] | None = None  # test-set report of best.pt

    def record_step(self, loss: float, batch_index: int) -> None:
        """Count one optimisation step (batch `batch_index` of the epoch) and its loss."""
        self.step += 1
        self.batch_in_epoch = batch_index + 1
        self.loss_sum += loss
        self.loss_count += 1
        self.losses.append(loss)

    def new_epoch(self) -> None:
        """Reset the per-epoch counters (after the finished epoch was evaluated)."""
        self.batch_in_epoch, self.loss_sum, self.loss_count = 0, 0.0, 0

    def epoch_loss(self) -> float | None:
        """Mean loss of the current epoch's steps (None before the first)."""
        return self.loss_sum / self.loss_count if self.loss_count else None

    def __contains__(self, key: str) -> bool:
        """Whether the saved state has entry `key` (an optional one only once it is set)."""
        return key in self.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's `run` entry (the format checkpoints have always had)."""
        out = {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
               "negatives": self.negatives, "history": self.history, "best": self.best,
               "epoch_loss": [self.loss_sum, self.loss_count], "losses": self.losses}
        out.update({k: getattr(self, k) for k in OPTIONAL if getattr(self, k) is not None})
        return out

    @classmethod
    def from_dict(cls, run: Any, where: str) -> "RunState":
        """A state from a checkpoint's `run` entry; entries that older checkpoints lack take their defaults."""
        if not isinstance(run, dict) or not {"step", "epoch", "history"} <= set(run):
            raise DistillError(f"{where}: the checkpoint's run state is missing or malformed "
                               f"(expected step, epoch and history)")
        loss_sum, loss_count = run.get("epoch_loss", [0.0, 0])
        return cls(step=int(run["step"]), epoch=int(run["epoch"]), batch_in_epoch=int(run.get("batch_in_epoch", 0)),
                   negatives=run.get("negatives"), history=list(run["history"]), best=run.get("best"),
                   loss_sum=float(loss_sum), loss_count=int(loss_count), losses=list(run.get("losses", [])),
                   **{k: run.get(k) for k in OPTIONAL})
