"""Retrieval network = timm backbone + GeM + optional projection + L2 normalisation."""

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from distill.models.gem import GeM
from distill.preprocess import PreprocessConfig


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Row-wise L2 normalisation, written as x / sqrt(sum x²) (lowers to TFLite L2_NORMALIZATION)."""
    return x / torch.sqrt((x * x).sum(dim=1, keepdim=True).clamp(min=eps))


@dataclass
class ModelInfo:
    """Identity of a built model: enough to rebuild it and to check compatibility."""

    preset: str
    arch: str
    dim: int
    backbone_dim: int
    preprocess: PreprocessConfig
    weights: str | None = None
    weights_sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        d = asdict(self)
        d["preprocess"] = self.preprocess.to_dict()
        return d


class RetrievalNet(nn.Module):
    """Backbone feature map → GeM → (Linear projection) → L2-normalised N×d float32 embedding."""

    def __init__(self, backbone: nn.Module, backbone_dim: int, dim: int | None = None,
                 gem_p: float = 3.0, projection: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.pool = GeM(gem_p)
        out_dim = dim or backbone_dim
        self.proj: nn.Module | None = None
        if projection or out_dim != backbone_dim:
            lin = nn.Linear(backbone_dim, out_dim, bias=True)
            if out_dim == backbone_dim:  # start as identity so a pretrained student keeps its features
                nn.init.eye_(lin.weight)
                nn.init.zeros_(lin.bias)
            self.proj = lin
        self.dim = out_dim
        self.info: ModelInfo | None = None  # set by create_model

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """GeM-pooled backbone features, before projection and normalisation (N×backbone_dim)."""
        return self.pool(self.backbone.forward_features(x))  # type: ignore[operator]

    def embed_feature_map(self, fmap: torch.Tensor) -> torch.Tensor:
        """The backbone's final feature map → GeM → (projection) → L2-normalised embedding."""
        v = self.pool(fmap)
        if self.proj is not None:
            v = self.proj(v)
        return l2_normalize(v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed_feature_map(self.backbone.forward_features(x))  # type: ignore[operator]
