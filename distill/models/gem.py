"""Generalized-mean (GeM) pooling (Radenović et al., TPAMI 2018), functional form plus module."""

import torch
from torch import nn


def gem(x: torch.Tensor, p: torch.Tensor | float = 3.0, eps: float = 1e-6) -> torch.Tensor:
    """Pool a B×C×H×W feature map to B×C: (mean over H,W of x^p)^(1/p), x clamped at eps.

    Written with `mean(dim=(2, 3))` (not flatten) so that it exports to TFLite with a dynamic batch.
    """
    return x.clamp(min=eps).pow(p).mean(dim=(2, 3)).pow(1.0 / p)


class GeM(nn.Module):
    """GeM pooling with a learnable exponent p (default 3, as cirtorch)."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learnable: bool = True) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.tensor([p]), requires_grad=learnable)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gem(x, self.p, self.eps)

    def extra_repr(self) -> str:
        return f"p={self.p.item():.4f}, eps={self.eps}"
