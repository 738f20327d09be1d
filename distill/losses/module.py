"""The thin nn.Module every loss is: hyper-parameters + the call convention of `distill.losses.base`."""

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from distill.errors import DistillError


class PairLoss(nn.Module):
    """Wraps a functional loss `fn(student, teacher, labels, *, mode, anchors, **params)`.

    Class attributes say what the loss needs: `modes` it supports, whether it reads the teacher
    (`needs_teacher`), and whether it needs the student on every batch item (`needs_all_student`:
    relational and symmetric losses) or only on the anchors.
    """

    name: ClassVar[str] = ""
    fn: ClassVar[Callable[..., torch.Tensor]]
    modes: ClassVar[tuple[str, ...]] = ("sym", "asym")
    needs_teacher: ClassVar[bool] = False
    needs_all_student: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        super().__init__()
        self.params = params

    def check_mode(self, mode: str) -> None:
        """A one-line error when the loss is used in a mode it has no meaning in."""
        if mode not in self.modes:
            raise DistillError(f"loss {self.name!r} works in mode(s) {', '.join(self.modes)}, not {mode!r}")

    def forward(self, student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor,
                mode: str = "sym", anchors: torch.Tensor | None = None) -> torch.Tensor:
        self.check_mode(mode)
        if self.needs_teacher and teacher is None:
            raise DistillError(f"loss {self.name!r} needs teacher embeddings of the batch")
        return type(self).fn(student, teacher, labels, mode=mode, anchors=anchors, **self.params)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.params.items())
