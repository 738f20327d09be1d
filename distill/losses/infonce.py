"""Asymmetric in-batch contrastive loss (an InfoNCE whose keys are the teacher's embeddings of the batch):

ℓ(a) = −log( e^{s(a,a)/τ} / Σ_{x ∈ K(a)} e^{s(a,x)/τ} ),  s(a,x) = <f(a), g(x)>,

where K(a) is the anchor's own teacher embedding and every batch item with another label: the other
views of the anchor's photo (same label) are left out of the negatives. With `infonce_plus`, the
regression term −s(a,a) is added (as AML's Contr⁺ adds it to the contrastive loss).
"""

import torch

from distill.losses.base import anchor_index, make_pairs
from distill.losses.module import PairLoss
from distill.losses.regression import regression_loss


def infonce_loss(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor, *,
                 mode: str = "asym", anchors: torch.Tensor | None = None,
                 temperature: float = 0.05) -> torch.Tensor:
    """Mean over anchors of the cross-entropy of s(a,·)/τ against the anchor's own teacher embedding."""
    pairs = make_pairs(student, teacher, labels, mode="asym", anchors=anchors)
    assert pairs.self_sim is not None
    idx = anchor_index(student, labels, anchors)
    keys = pairs.neg.clone()
    keys[torch.arange(len(idx), device=keys.device), idx] = True  # the anchor's own teacher embedding
    logits = (pairs.sim / temperature).masked_fill(~keys, float("-inf"))
    return (torch.logsumexp(logits, dim=1) - pairs.self_sim / temperature).mean()


def infonce_plus_loss(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor, *,
                      mode: str = "asym", anchors: torch.Tensor | None = None, temperature: float = 0.05,
                      weight: float = 0.5) -> torch.Tensor:
    """Regression + `weight` × in-batch InfoNCE (the alignment recipe: −s(a,a) + 0.5 CE at τ = 0.05)."""
    return (regression_loss(student, teacher, labels, anchors=anchors)
            + weight * infonce_loss(student, teacher, labels, anchors=anchors, temperature=temperature))


class InfoNCELoss(PairLoss):
    """Asymmetric in-batch InfoNCE: student anchor vs the batch's teacher embeddings (asym only)."""

    name = "infonce"
    fn = staticmethod(infonce_loss)
    modes = ("asym",)
    needs_teacher = True

    def __init__(self, temperature: float = 0.05) -> None:
        super().__init__(temperature=temperature)


class InfoNCEPlusLoss(PairLoss):
    """Regression + weight × asymmetric in-batch InfoNCE (asym only)."""

    name = "infonce_plus"
    fn = staticmethod(infonce_plus_loss)
    modes = ("asym",)
    needs_teacher = True

    def __init__(self, temperature: float = 0.05, weight: float = 0.5) -> None:
        super().__init__(temperature=temperature, weight=weight)
