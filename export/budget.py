"""FLOPs and parameters of a model at its input size, counted by `torch.utils.flop_counter`, and the
budget check that fails an export.

Convention: FLOPs = 2 × multiply-accumulates (what FlopCounterMode reports); GMACs are printed beside
them because papers usually quote MACs (ResNet-101 at 224² ≈ 7.8 GMACs). Convolutions, matrix
products and attention are counted; element-wise operations (activations, pooling, normalisation)
are not, as in the published numbers.
"""

from dataclasses import asdict, dataclass
from typing import Any

import torch

from distill.errors import DistillError
from distill.models.net import RetrievalNet


@dataclass(frozen=True)
class Cost:
    """Compute and size of one model at one input size."""

    name: str
    input_size: tuple[int, int]
    flops: int
    params: int

    @property
    def gflops(self) -> float:
        """Billions of FLOPs (2 × MACs)."""
        return self.flops / 1e9

    @property
    def gmacs(self) -> float:
        """Billions of multiply-accumulates."""
        return self.flops / 2e9

    @property
    def mparams(self) -> float:
        """Millions of parameters."""
        return self.params / 1e6

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form with the derived units."""
        return {**asdict(self), "gflops": self.gflops, "gmacs": self.gmacs, "mparams": self.mparams}


def count_cost(model: torch.nn.Module, input_size: tuple[int, int], name: str = "") -> Cost:
    """FLOPs of one forward pass on a 1×3×H×W input, and the parameter count."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 3, *input_size)
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return Cost(name, (int(input_size[0]), int(input_size[1])), int(counter.get_total_flops()), params)


def model_cost(model: RetrievalNet) -> Cost:
    """`count_cost` at the model's own preprocessing input size."""
    assert model.info is not None
    return count_cost(model, model.info.preprocess.input_size, model.info.preset)


def check_budget(cost: Cost, max_gflops: float | None, max_mparams: float | None) -> None:
    """A one-line DistillError when `cost` exceeds either limit."""
    over = []
    if max_gflops is not None and cost.gflops > max_gflops:
        over.append(f"{cost.gflops:.3f} GFLOPs > budget {max_gflops:g}")
    if max_mparams is not None and cost.mparams > max_mparams:
        over.append(f"{cost.mparams:.3f} M parameters > budget {max_mparams:g}")
    if over:
        raise DistillError(f"{cost.name} at {cost.input_size[0]}×{cost.input_size[1]} is over budget: "
                           f"{'; '.join(over)}")


def cost_table(student: Cost, teacher: Cost | None) -> str:
    """Markdown table: teacher vs student GFLOPs, GMACs and parameters, and student/teacher ratios."""
    rows = ["| model | input | GFLOPs | GMACs | M params |", "|---|---|---:|---:|---:|"]
    for role, c in (("teacher", teacher), ("student", student)):
        if c is not None:
            rows.append(f"| {role} `{c.name}` | {c.input_size[0]}×{c.input_size[1]} | {c.gflops:.3f} | {c.gmacs:.3f} | "
                        f"{c.mparams:.2f} |")
    if teacher is not None:
        rows.append(f"| student / teacher | | {student.flops / teacher.flops:.3f} | {student.flops / teacher.flops:.3f}"
                    f" | {student.params / teacher.params:.3f} |")
    return "\n".join(rows)


def require_positive(value: float | None, flag: str) -> None:
    """Budgets must be positive numbers."""
    if value is not None and not value > 0:
        raise DistillError(f"{flag} {value}: expected a positive number")
