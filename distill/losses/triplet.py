"""Triplet loss (Wang et al. 2014): ℓ(a) = Σ_{(p,n)} [s(a,n) − s(a,p) + m]_+ over all positive ×
negative pairs of the anchor; sym or asym."""

import torch

from distill.losses.base import make_pairs
from distill.losses.module import PairLoss


def triplet_loss(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor, *,
                 mode: str = "sym", anchors: torch.Tensor | None = None, margin: float = 0.1) -> torch.Tensor:
    """Mean over anchors of Σ_{p,n} [s(a,n) − s(a,p) + margin]_+."""
    pairs = make_pairs(student, teacher, labels, mode, anchors)
    viol = torch.relu(pairs.sim[:, None, :] - pairs.sim[:, :, None] + margin)  # [a, p, n]
    valid = pairs.pos[:, :, None] & pairs.neg[:, None, :]
    return (viol * valid).sum((1, 2)).mean()


class TripletLoss(PairLoss):
    """Triplet loss; `margin` on cosine similarity."""

    name = "triplet"
    fn = staticmethod(triplet_loss)

    def __init__(self, margin: float = 0.1) -> None:
        super().__init__(margin=margin)
