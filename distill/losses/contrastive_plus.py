"""AML's Contr⁺: asymmetric contrastive plus regression to the anchor's own teacher embedding,
ℓ(a) = Σ_n [s(a,n) − m]_+ − Σ_p s(a,p) − s(a,a), with s(a,x) = <f(a), g(x)>."""

import torch

from distill.losses.contrastive import contrastive_loss
from distill.losses.module import PairLoss
from distill.losses.regression import regression_loss


def contrastive_plus_loss(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor, *,
                          mode: str = "asym", anchors: torch.Tensor | None = None,
                          margin: float = 0.5) -> torch.Tensor:
    """Asymmetric contrastive + regression (both are means over the same anchors)."""
    return (contrastive_loss(student, teacher, labels, mode="asym", anchors=anchors, margin=margin)
            + regression_loss(student, teacher, labels, anchors=anchors))


class ContrastivePlusLoss(PairLoss):
    """Contr⁺ (asym only: s(a,a) needs the teacher)."""

    name = "contrastive_plus"
    fn = staticmethod(contrastive_plus_loss)
    modes = ("asym",)
    needs_teacher = True

    def __init__(self, margin: float = 0.5) -> None:
        super().__init__(margin=margin)
