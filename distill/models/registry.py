"""Named model presets, timm style: `register_model` / `list_models` / `create_model`."""

from dataclasses import dataclass
from pathlib import Path

import torch

from distill.errors import DistillError
from distill.io import sha256_file, torch_load
from distill.models.net import ModelInfo, RetrievalNet
from distill.models.weights import get_weight_source, load_pretrained
from distill.preprocess import PreprocessConfig
from distill.registry import Registry

IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
INCEPTION = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}


@dataclass(frozen=True)
class ModelSpec:
    """A preset: which timm backbone, its preprocessing, and where its real weights come from."""

    name: str
    arch: str
    preprocess: PreprocessConfig
    weight_source: str | None = None  # name in distill.models.weights, None = random init
    description: str = ""


_PRESETS: Registry[ModelSpec] = Registry("model preset")


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add a preset (names are unique)."""
    return _PRESETS.register(spec.name, spec)


def list_models() -> list[str]:
    """Names of all registered presets, sorted."""
    return _PRESETS.names()


def get_model_spec(name: str) -> ModelSpec:
    """The preset called `name`; a one-line error lists the known ones."""
    return _PRESETS.get(name)


def same_network(a: str, b: str) -> bool:
    """Whether presets `a` and `b` are the same network with the same packaged weights (they may differ in
    input size: a resolution-asymmetric student starts in its teacher's embedding space)."""
    sa, sb = get_model_spec(a), get_model_spec(b)
    return sa.arch == sb.arch and sa.weight_source == sb.weight_source and sa.weight_source is not None


def create_model(name: str, *, pretrained: bool = True, weights: str | Path | None = None,
                 dim: int | None = None, projection: bool = False, gem_p: float = 3.0) -> RetrievalNet:
    """Build preset `name` as a RetrievalNet (eval mode, float32).

    pretrained: load the preset's packaged ImageNet weights (sha256-checked); presets without packaged
      weights stay randomly initialised unless `weights` names a local file.
    weights: a local backbone checkpoint (a timm state dict, or the preset's packaged layout).
    dim / projection: add a linear projection to `dim` (e.g. the teacher's dimension).
    """
    import timm

    spec = get_model_spec(name)
    backbone = timm.create_model(spec.arch, pretrained=False, num_classes=0, global_pool="")
    wname, wsha = None, None
    if weights is not None:
        path = Path(weights)
        if spec.weight_source is not None:
            load_pretrained(backbone, spec.weight_source, path=path, check_sha256=False, drop_classifier=True)
        else:
            _load_timm_state(backbone, path)
        wname, wsha = str(path), sha256_file(path)
    elif pretrained and spec.weight_source is not None:
        src = get_weight_source(spec.weight_source)
        load_pretrained(backbone, src, drop_classifier=True)
        wname, wsha = src.name, src.sha256
    backbone_dim = int(backbone.num_features)  # type: ignore[arg-type]
    net = RetrievalNet(backbone, backbone_dim, dim=dim, gem_p=gem_p, projection=projection)
    net.info = ModelInfo(preset=name, arch=spec.arch, dim=net.dim, backbone_dim=backbone_dim,
                         preprocess=spec.preprocess, weights=wname, weights_sha256=wsha)
    return net.eval()


def _load_timm_state(backbone: torch.nn.Module, path: Path) -> None:
    """Load a plain timm state dict from `path` (classifier keys ignored), strictly otherwise."""
    state = torch_load(path, missing="weights file", unreadable="PyTorch state dict")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier."))}
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise DistillError(f"{path}: weights do not fit the backbone (missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]})")


def _preset(name: str, arch: str, size: int, norm: dict, weight_source: str | None, description: str) -> None:
    pre = PreprocessConfig(input_size=(size, size), mean=norm["mean"], std=norm["std"])
    register_model(ModelSpec(name, arch, pre, weight_source, description))


_preset("efficientnet_lite2_gem", "tf_efficientnet_lite2", 260, INCEPTION, "efficientnet_lite2_imagenet",
        "demo teacher: EfficientNet-Lite2, real ImageNet weights, 1280-d")
_preset("efficientnet_lite2_160_gem", "tf_efficientnet_lite2", 160, INCEPTION, "efficientnet_lite2_imagenet",
        "resolution-asymmetric student: the lite2 teacher's network and weights at 160 px (0.65 GFLOPs), 1280-d")
_preset("efficientnet_lite2_192_gem", "tf_efficientnet_lite2", 192, INCEPTION, "efficientnet_lite2_imagenet",
        "resolution-asymmetric student: the lite2 teacher's network and weights at 192 px, 1280-d")
_preset("efficientnet_lite1_gem", "tf_efficientnet_lite1", 240, INCEPTION, "efficientnet_lite1_imagenet",
        "EfficientNet-Lite1, real ImageNet weights, 1280-d")
_preset("efficientnet_lite0_gem", "tf_efficientnet_lite0", 224, INCEPTION, "efficientnet_lite0_imagenet",
        "demo student: EfficientNet-Lite0, real ImageNet weights, 1280-d")
_preset("mobilenetv2_gem", "mobilenetv2_100", 224, IMAGENET, "mobilenetv2_imagenet",
        "demo student: MobileNetV2, real ImageNet weights (torchvision), 1280-d")
_preset("resnet101_gem", "resnet101", 224, IMAGENET, None,
        "AML paper teacher architecture (random init unless --weights PATH), 2048-d")
_preset("efficientnet_b3_gem", "tf_efficientnet_b3", 300, IMAGENET, None,
        "AML paper student architecture (random init unless --weights PATH), 1536-d")
_preset("tiny_test_gem", "test_efficientnet", 64, IMAGENET, None,
        "tiny random-init network (timm test_efficientnet, 64px) for tests and smoke runs, 256-d")
