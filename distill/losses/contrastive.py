"""Contrastive loss (Hadsell et al. 2006) in similarity form, as AML writes it:
ℓ(a) = Σ_{n∈N(a)} [s(a,n) − m]_+ − Σ_{p∈P(a)} s(a,p); sym or asym (AML's Contr)."""

import torch

from distill.losses.base import make_pairs
from distill.losses.module import PairLoss


def contrastive_loss(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor, *,
                     mode: str = "sym", anchors: torch.Tensor | None = None, margin: float = 0.5) -> torch.Tensor:
    """Mean over anchors of Σ_n [s(a,n) − margin]_+ − Σ_p s(a,p)."""
    pairs = make_pairs(student, teacher, labels, mode, anchors)
    push = (torch.relu(pairs.sim - margin) * pairs.neg).sum(1)
    pull = (pairs.sim * pairs.pos).sum(1)
    return (push - pull).mean()


class ContrastiveLoss(PairLoss):
    """Contrastive loss; `margin` on cosine similarity."""

    name = "contrastive"
    fn = staticmethod(contrastive_loss)

    def __init__(self, margin: float = 0.5) -> None:
        super().__init__(margin=margin)
