"""What every loss shares: the pairs an anchor forms with the batch, in sym or asym mode.

Call convention (pytorch-metric-learning style; docs/ARCHITECTURE.md), for a batch of B items:
- `student`: student embeddings. Rows for all B items, or, in asym mode, only for the anchors
  (A rows, in `anchors` order): asymmetric losses never need the student on positives/negatives.
- `teacher`: teacher embeddings of all B items (from the cache), or None for losses that do not use it.
- `labels`: B integer labels (class or cluster); equal labels are positives, different ones negatives.
- `anchors`: indices (A) of the items that act as anchors; default all B (cirtorch tuples use
  only the query of each tuple).
- `mode`: "sym" s(a,x) = <f(a), f(x)> or "asym" s(a,x) = <f(a), g(x)>. All embeddings L2-normalised.
"""

from dataclasses import dataclass

import torch

from distill.errors import DistillError

MODES = ("sym", "asym")


@dataclass
class Pairs:
    """Similarities of each anchor (rows, A) to every batch item (columns, B), with pair masks."""

    sim: torch.Tensor  # A×B
    pos: torch.Tensor  # A×B bool: same label, not the anchor itself
    neg: torch.Tensor  # A×B bool: different label
    self_sim: torch.Tensor | None  # A: s_asym(a, a) = <f(a), g(a)> (asym mode only)


def anchor_index(student: torch.Tensor, labels: torch.Tensor, anchors: torch.Tensor | None) -> torch.Tensor:
    """The anchors' batch indices (all items when `anchors` is None)."""
    if anchors is None:
        if student.shape[0] != labels.shape[0]:
            raise DistillError(f"loss: {student.shape[0]} student rows for {labels.shape[0]} labels; "
                               f"pass `anchors` when the student embeds only the anchors")
        return torch.arange(labels.shape[0], device=labels.device)
    return anchors.to(labels.device)


def anchor_rows(student: torch.Tensor, idx: torch.Tensor, n_items: int) -> torch.Tensor:
    """Student embeddings of the anchors: `student` holds either all items or only the anchors."""
    if student.shape[0] == n_items:
        return student[idx]
    if student.shape[0] == idx.shape[0]:
        return student
    raise DistillError(f"loss: {student.shape[0]} student rows fit neither {n_items} items nor {idx.shape[0]} anchors")


def make_pairs(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor,
               mode: str = "sym", anchors: torch.Tensor | None = None) -> Pairs:
    """Anchor-to-batch similarities in `mode`, positive/negative masks, and s(a,a) when asym."""
    if mode not in MODES:
        raise DistillError(f"loss mode {mode!r}: expected one of {MODES}")
    n = labels.shape[0]
    idx = anchor_index(student, labels, anchors)
    a = anchor_rows(student, idx, n)
    if mode == "asym":
        if teacher is None:
            raise DistillError("asym mode needs teacher embeddings of the batch")
        ref = teacher.to(a.dtype)
    else:
        if student.shape[0] != n:
            raise DistillError(f"sym mode needs student embeddings of all {n} items, got {student.shape[0]}")
        ref = student
    sim = a @ ref.T
    is_self = torch.zeros_like(sim, dtype=torch.bool)
    is_self[torch.arange(len(idx)), idx] = True
    same = labels[idx][:, None] == labels[None, :]
    self_sim = sim[torch.arange(len(idx)), idx] if mode == "asym" else None
    return Pairs(sim=sim, pos=same & ~is_self, neg=~same, self_sim=self_sim)


def pairwise_distance(x: torch.Tensor, y: torch.Tensor | None = None, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distances with a gradient that stays finite at zero distance."""
    y = x if y is None else y
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
    return torch.sqrt(d2.clamp(min=eps))


def all_student_rows(student: torch.Tensor, labels: torch.Tensor, name: str) -> None:
    """Relational losses compare relations among all items: they need the student on every item."""
    if student.shape[0] != labels.shape[0]:
        raise DistillError(f"{name}: needs student embeddings of all {labels.shape[0]} batch items, "
                           f"got {student.shape[0]}")
