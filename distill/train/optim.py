"""Optimiser, learning-rate schedule and BatchNorm handling of a training run."""

import math
from collections.abc import Callable
from typing import Any

import torch

from distill.errors import DistillError
from distill.models.net import RetrievalNet


def freeze_batchnorm(model: torch.nn.Module) -> None:
    """Keep BatchNorm statistics fixed (cirtorch practice: small tuple batches would corrupt them)."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def param_groups(model: RetrievalNet, lr: float, head_mult: float) -> list[dict[str, Any]]:
    """Backbone at `lr`; pooling and projection (the head) at `lr * head_mult`; frozen parameters left out."""
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    body = [p for name, p in named if name.startswith("backbone.")]
    head = [p for name, p in named if not name.startswith("backbone.")]
    return [{"params": body, "lr": lr}, {"params": head, "lr": lr * head_mult}]


def create_optimizer(name: str, model: RetrievalNet, lr: float, head_mult: float,
                     weight_decay: float) -> torch.optim.Optimizer:
    """`adam` (L2 penalty, cirtorch) or `adamw` (decoupled weight decay, the function-matching recipe)."""
    groups = param_groups(model, lr, head_mult)
    if name == "adam":
        return torch.optim.Adam(groups, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, weight_decay=weight_decay)
    raise DistillError(f"optimizer {name!r}: expected 'adam' or 'adamw'")


def cosine_lambda(total: int) -> Callable[[int], float]:
    """LR factor: cosine from 1 to 0 over `total` steps."""
    return lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / max(total, 1)))


def lr_factor(schedule: str, total: int, warmup: int = 0) -> Callable[[int], float]:
    """The LR factor at step s: linear warm-up over `warmup` steps, then cosine to 0 or constant."""
    after = cosine_lambda(total) if schedule == "cosine" else (lambda s: 1.0)
    return lambda s: min(1.0, (s + 1) / warmup) * after(s) if warmup else after(s)
