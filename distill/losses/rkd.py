"""Relational knowledge distillation (Park et al. 2019): the student keeps the teacher's pairwise
distances and triplet angles. Relations are measured inside each space, so the loss is the same in
sym and asym mode and does not place the student in the teacher's space (AML's point)."""

import torch
import torch.nn.functional as F

from distill.losses.base import all_student_rows, pairwise_distance
from distill.losses.module import PairLoss


def _normalised_distances(x: torch.Tensor) -> torch.Tensor:
    d = pairwise_distance(x)
    off = ~torch.eye(len(x), dtype=torch.bool, device=x.device)
    return d / d[off].mean()


def _angles(x: torch.Tensor) -> torch.Tensor:
    """cos of the angle at vertex i between j and k: <(x_j − x_i)/‖·‖, (x_k − x_i)/‖·‖>, as [i, j, k]."""
    e = F.normalize(x[None, :, :] - x[:, None, :], dim=2)
    return e @ e.transpose(1, 2)


def rkd_loss(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor, *,
             mode: str = "sym", anchors: torch.Tensor | None = None, distance_weight: float = 1.0,
             angle_weight: float = 2.0) -> torch.Tensor:
    """distance_weight · Huber(ψ_D) + angle_weight · Huber(ψ_A) over distinct pairs / triples."""
    assert teacher is not None
    all_student_rows(student, labels, "rkd")
    t = teacher.to(student.dtype)
    n = len(student)
    off = ~torch.eye(n, dtype=torch.bool, device=student.device)
    loss_d = F.smooth_l1_loss(_normalised_distances(student)[off], _normalised_distances(t)[off])
    distinct = off[:, :, None] & off[:, None, :] & off[None, :, :]
    loss_a = F.smooth_l1_loss(_angles(student)[distinct], _angles(t)[distinct])
    return distance_weight * loss_d + angle_weight * loss_a


class RKDLoss(PairLoss):
    """RKD distance + angle (Park et al.'s metric-learning weights 1 and 2)."""

    name = "rkd"
    fn = staticmethod(rkd_loss)
    needs_teacher = True
    needs_all_student = True

    def __init__(self, distance_weight: float = 1.0, angle_weight: float = 2.0) -> None:
        super().__init__(distance_weight=distance_weight, angle_weight=angle_weight)
