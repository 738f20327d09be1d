"""Regression (AML's Reg): ℓ(a) = −s_asym(a, a) = −<f(a), g(a)>; uses no labels."""

import torch

from distill.losses.base import anchor_index, anchor_rows
from distill.losses.module import PairLoss


def regression_loss(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor, *,
                    mode: str = "asym", anchors: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over anchors of −<f(a), g(a)>."""
    assert teacher is not None
    idx = anchor_index(student, labels, anchors)
    a = anchor_rows(student, idx, labels.shape[0])
    return -(a * teacher[idx].to(a.dtype)).sum(1).mean()


class RegressionLoss(PairLoss):
    """Regression to the teacher embedding of the same image (asym only)."""

    name = "regression"
    fn = staticmethod(regression_loss)
    modes = ("asym",)
    needs_teacher = True
