"""Relaxed contrastive loss (Kim et al. 2021, embedding transfer with label relaxation).

Teacher similarities are soft labels w_ij = exp(−‖g(i) − g(j)‖² / σ); student distances d_ij are
divided by each anchor's mean distance to the others; over distinct pairs,
ℓ = mean_{i≠j} [ w_ij d_ij² + (1 − w_ij) [δ − d_ij]_+² ].
No labels, no constraint on the student's space (it may have another dimension): relational, the same
in sym and asym mode.
"""

import torch

from distill.losses.base import all_student_rows, pairwise_distance
from distill.losses.module import PairLoss


def relaxed_contrastive_loss(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor, *,
                             mode: str = "sym", anchors: torch.Tensor | None = None, sigma: float = 1.0,
                             delta: float = 1.0) -> torch.Tensor:
    """Mean over ordered pairs i ≠ j of the relaxed pull and push terms."""
    assert teacher is not None
    all_student_rows(student, labels, "relaxed_contrastive")
    n = len(student)
    off = ~torch.eye(n, dtype=torch.bool, device=student.device)
    t = teacher.to(student.dtype)
    w = torch.exp(-pairwise_distance(t).pow(2) / sigma)
    d = pairwise_distance(student)
    d = d / ((d * off).sum(1, keepdim=True) / (n - 1))
    terms = w * d.pow(2) + (1 - w) * torch.relu(delta - d).pow(2)
    return terms[off].mean()


class RelaxedContrastiveLoss(PairLoss):
    """Relaxed contrastive loss (σ = 1, δ = 1 as Kim et al.)."""

    name = "relaxed_contrastive"
    fn = staticmethod(relaxed_contrastive_loss)
    needs_teacher = True
    needs_all_student = True

    def __init__(self, sigma: float = 1.0, delta: float = 1.0) -> None:
        super().__init__(sigma=sigma, delta=delta)
