"""AML's Contr⁺: asymmetric contrastive plus regression to the anchor's own teacher embedding,
ℓ(a) = Σ_n [s(a,n) − m]_+ − Σ_p s(a,p) − s(a,a), with s(a,x) = <f(a), g(x)>."""

import torch

from distill.losses.base import make_pairs
from distill.losses.module import PairLoss


def contrastive_plus_loss(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor, *,
                          mode: str = "asym", anchors: torch.Tensor | None = None,
                          margin: float = 0.5) -> torch.Tensor:
    """Mean over anchors of the asymmetric contrastive term minus s_asym(a, a)."""
    pairs = make_pairs(student, teacher, labels, "asym", anchors)
    assert pairs.self_sim is not None
    push = (torch.relu(pairs.sim - margin) * pairs.neg).sum(1)
    pull = (pairs.sim * pairs.pos).sum(1)
    return (push - pull - pairs.self_sim).mean()


class ContrastivePlusLoss(PairLoss):
    """Contr⁺ (asym only: s(a,a) needs the teacher)."""

    name = "contrastive_plus"
    fn = staticmethod(contrastive_plus_loss)
    modes = ("asym",)
    needs_teacher = True

    def __init__(self, margin: float = 0.5) -> None:
        super().__init__(margin=margin)
