"""Optimiser, learning-rate schedule and BatchNorm handling of a training run."""

from typing import Any

import torch
from torch.optim.lr_scheduler import ChainedScheduler, ConstantLR, CosineAnnealingLR, LinearLR, LRScheduler

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


def create_scheduler(opt: torch.optim.Optimizer, schedule: str, total: int, warmup: int = 0) -> LRScheduler:
    """PyTorch's schedulers, stepped once per step: a linear warm-up over `warmup` steps (factor (s+1)/warmup)
    times `cosine` (CosineAnnealingLR to 0 at step `total`) or `constant`."""
    parts: list[LRScheduler] = []
    if warmup:
        parts.append(LinearLR(opt, start_factor=1 / warmup, end_factor=1.0, total_iters=max(warmup - 1, 0)))
    if schedule == "cosine":
        parts.append(CosineAnnealingLR(opt, T_max=max(total, 1)))
    if not parts:
        return ConstantLR(opt, factor=1.0, total_iters=0)
    return parts[0] if len(parts) == 1 else ChainedScheduler(parts, optimizer=opt)


def load_scheduler_state(sched: LRScheduler, state: dict[str, Any]) -> None:
    """Restore `sched`; a checkpoint of the earlier LambdaLR schedule (`lr_lambdas`) is migrated by its step
    count (the optimiser's state, loaded first, holds the current learning rates)."""
    if "lr_lambdas" not in state:
        sched.load_state_dict(state)
        return
    every = [*sched._schedulers, sched] if isinstance(sched, ChainedScheduler) else [sched]
    for s in every:
        s.last_epoch, s._step_count = state["last_epoch"], state["_step_count"]
        s._last_lr = list(state["_last_lr"])
