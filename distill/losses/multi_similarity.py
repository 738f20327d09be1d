"""Multi-similarity loss (Wang et al. 2019), in AML's form (no pair mining inside the loss):
ℓ(a) = 1/α log(1 + Σ_p e^{−α(s(a,p) − m)}) + 1/β log(1 + Σ_n e^{β(s(a,n) − m)}); sym or asym."""

import torch

from distill.losses.base import make_pairs
from distill.losses.module import PairLoss


def _log1p_sum_exp(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Row-wise log(1 + Σ_{mask} e^x), computed stably (logsumexp with a zero term)."""
    x = x.masked_fill(~mask, float("-inf"))
    zero = torch.zeros(x.shape[0], 1, dtype=x.dtype, device=x.device)
    return torch.logsumexp(torch.cat([zero, x], dim=1), dim=1)


def multi_similarity_loss(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor, *,
                          mode: str = "sym", anchors: torch.Tensor | None = None, alpha: float = 2.0,
                          beta: float = 50.0, margin: float = 0.5) -> torch.Tensor:
    """Mean over anchors of the positive and negative soft-weighted terms."""
    pairs = make_pairs(student, teacher, labels, mode, anchors)
    pos = _log1p_sum_exp(-alpha * (pairs.sim - margin), pairs.pos) / alpha
    neg = _log1p_sum_exp(beta * (pairs.sim - margin), pairs.neg) / beta
    return (pos + neg).mean()


class MultiSimilarityLoss(PairLoss):
    """Multi-similarity loss with the paper's defaults α=2, β=50, m=0.5."""

    name = "multi_similarity"
    fn = staticmethod(multi_similarity_loss)

    def __init__(self, alpha: float = 2.0, beta: float = 50.0, margin: float = 0.5) -> None:
        super().__init__(alpha=alpha, beta=beta, margin=margin)
