"""The learning-rate schedule (PyTorch's LinearLR warm-up × CosineAnnealingLR) on hand-computed cases, and the
migration of a checkpoint written with the earlier LambdaLR schedule."""

import math

import pytest
import torch

from distill.train.optim import create_scheduler, load_scheduler_state

C1, C3 = (1 + math.cos(math.pi / 4)) / 2, (1 + math.cos(3 * math.pi / 4)) / 2  # 0.853553…, 0.146447…


def lrs(schedule: str, total: int, warmup: int, steps: int) -> list[float]:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = create_scheduler(opt, schedule, total, warmup)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("schedule,total,warmup,expected", [
    ("cosine", 4, 0, [1.0, C1, 0.5, C3, 0.0]),
    ("cosine", 4, 2, [0.5, C1, 0.5, C3, 0.0]),  # warm-up factor (s+1)/2 times the cosine
    ("constant", 4, 4, [0.25, 0.5, 0.75, 1.0, 1.0]),
    ("constant", 3, 0, [1.0, 1.0, 1.0]),
])
def test_schedule_on_hand_computed_steps(schedule: str, total: int, warmup: int, expected: list[float]) -> None:
    assert lrs(schedule, total, warmup, len(expected)) == pytest.approx(expected, abs=1e-12)


def test_a_lambda_lr_checkpoint_resumes_on_the_same_learning_rates() -> None:
    total, warmup, stop = 10, 3, 4
    p = torch.nn.Parameter(torch.zeros(1))
    old_opt = torch.optim.SGD([p], lr=1.0)
    factor = lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))  # noqa: E731
    old = torch.optim.lr_scheduler.LambdaLR(old_opt, factor)
    for _ in range(stop):
        old_opt.step()
        old.step()
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = create_scheduler(opt, "cosine", total, warmup)
    opt.load_state_dict(old_opt.state_dict())
    load_scheduler_state(sched, old.state_dict())
    resumed = []
    for _ in range(total - stop):
        resumed.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert resumed == pytest.approx([factor(s) for s in range(stop, total)], abs=1e-12)
