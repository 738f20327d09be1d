"""A student split at a stage boundary: a frozen trunk (stem + the first k stages) and the trainable rest.

With the trunk frozen (weights and BatchNorm statistics fixed) its output for a fixed input never changes,
so a run on cached views can compute it once per view and train only the rest: on CPU, freezing the
first 3 of lite0's 7 stages makes a step ≈ 3× cheaper (`bench/frozen_trunk.py`). Works for timm's
EfficientNet-family backbones (EfficientNet, -Lite, MobileNetV2/V3: stem, stages, head convolution).
"""

import torch
from torch import nn

from distill.errors import DistillError
from distill.models.net import RetrievalNet

STAGED = ("conv_stem", "bn1", "blocks", "conv_head", "bn2")


def num_stages(net: RetrievalNet) -> int:
    """How many stages the backbone has (0 when it is not a staged EfficientNet-style backbone)."""
    bb = net.backbone
    return len(bb.blocks) if all(hasattr(bb, a) for a in STAGED) else 0  # type: ignore[arg-type]


class Tail(nn.Module):
    """The part of `net` after its first `stages` stages: trunk output → L2-normalised embedding."""

    def __init__(self, net: RetrievalNet, stages: int) -> None:
        super().__init__()
        self.net, self.stages = net, stages

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Trunk output → the backbone's final feature map."""
        bb = self.net.backbone
        for block in bb.blocks[self.stages:]:  # type: ignore[index]
            x = block(x)
        return bb.bn2(bb.conv_head(x))  # type: ignore[operator]

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Trunk output → GeM-pooled features before the projection (as `RetrievalNet.pooled`)."""
        return self.net.pool(self.feature_map(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.embed_feature_map(self.feature_map(x))


def split_frozen(net: RetrievalNet, stages: int) -> tuple[nn.Sequential, Tail]:
    """(trunk, tail) with `tail(trunk(x)) == net(x)`; the trunk's parameters stop requiring gradients.

    The modules are shared with `net` (no copies): the checkpoint stays the whole network.
    """
    n = num_stages(net)
    arch = net.info.arch if net.info else type(net.backbone).__name__
    if n == 0:
        raise DistillError(f"--freeze-stages: {arch} is not an EfficientNet/MobileNet-style backbone "
                           f"(stem, stages, head convolution); use --freeze-stages 0")
    if not 0 < stages < n:
        raise DistillError(f"--freeze-stages {stages}: {arch} has {n} stages; expected 1 … {n - 1}")
    bb = net.backbone
    trunk = nn.Sequential(bb.conv_stem, bb.bn1, *bb.blocks[:stages])  # type: ignore[index, arg-type]
    trunk.requires_grad_(False)
    return trunk.eval(), Tail(net, stages)
