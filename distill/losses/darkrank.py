"""DarkRank (Chen et al. 2018), listwise: the teacher's ranking of the batch around each anchor is
made likely under a Plackett–Luce model of the student's scores,
ℓ(a) = −Σ_{x∈U(a)} (s(a,x) − log Σ_{y∈V(a,x)} e^{s(a,y)}), V(a,x) = items the teacher ranks at or
after x. Student scores s(a,x) = −α‖f(a) − f(x)‖^β (Chen et al.: α = β = 3). Relational: same in
sym and asym mode."""

import torch

from distill.losses.base import all_student_rows, pairwise_distance
from distill.losses.module import PairLoss


def darkrank_loss(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor, *,
                  mode: str = "sym", anchors: torch.Tensor | None = None, alpha: float = 3.0,
                  beta: float = 3.0) -> torch.Tensor:
    """Mean over anchors of the negative Plackett–Luce log-likelihood of the teacher's order."""
    assert teacher is not None
    all_student_rows(student, labels, "darkrank")
    n = len(student)
    eye = torch.eye(n, dtype=torch.bool, device=student.device)
    t_dist = pairwise_distance(teacher.to(student.dtype)).masked_fill(eye, float("inf"))
    order = t_dist.argsort(dim=1)[:, : n - 1]  # teacher's ranking, self (inf) dropped
    scores = -alpha * pairwise_distance(student).pow(beta)
    ranked = scores.gather(1, order)
    tail_lse = torch.logcumsumexp(ranked.flip(1), dim=1).flip(1)
    return -(ranked - tail_lse).sum(1).mean()


class DarkRankLoss(PairLoss):
    """DarkRank listwise transfer."""

    name = "darkrank"
    fn = staticmethod(darkrank_loss)
    needs_teacher = True
    needs_all_student = True

    def __init__(self, alpha: float = 3.0, beta: float = 3.0) -> None:
        super().__init__(alpha=alpha, beta=beta)
