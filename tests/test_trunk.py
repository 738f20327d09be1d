"""A frozen trunk: the split network equals the whole, the trunk's output cached per view equals the trunk
run on the rendered view, training with it matches training on images and leaves the trunk untouched."""

from pathlib import Path

import numpy as np
import pytest
import torch

from distill.errors import DistillError
from distill.models import create_model
from distill.models.trunk import num_stages, split_frozen
from distill.train import Trainer
from tests.conftest import view_cfg


def test_tail_of_trunk_is_the_whole_network() -> None:
    torch.manual_seed(0)
    net = create_model("tiny_test_gem", pretrained=False, dim=32, projection=True)
    x = torch.randn(3, 3, 64, 64)
    whole = net(x)
    trunk, tail = split_frozen(net, 2)
    torch.testing.assert_close(tail(trunk(x)), whole)
    assert not any(p.requires_grad for p in trunk.parameters())
    assert all(p.requires_grad for p in net.backbone.blocks[2:].parameters()) and net.proj.weight.requires_grad


def test_bad_splits_are_refused() -> None:
    net = create_model("tiny_test_gem", pretrained=False)
    assert num_stages(net) == 5
    for k in (0, 5):
        with pytest.raises(DistillError, match=f"--freeze-stages {k}: test_efficientnet has 5 stages; expected 1 … 4"):
            split_frozen(net, k)
    with pytest.raises(DistillError, match="resnet101 is not an EfficientNet/MobileNet-style backbone"):
        split_frozen(create_model("resnet101_gem", pretrained=False), 1)


def test_training_on_the_cached_trunk_output_matches_training_on_images(pool: Path, view_cache: Path,
                                                                        tmp_path: Path) -> None:
    cfg = view_cfg(pool, view_cache, freeze_stages=2, epochs=1)
    cached = Trainer(cfg, tmp_path / "cached")
    assert cached.views is not None and cached.views.trunk_out is not None and cached.trunk is not None
    b = cached.epoch_plan(0)[0]
    assert b.views is not None and b.rows is not None
    x, after = cached.views.student_input(cached.student, b.views, b.rows)
    with torch.no_grad():
        direct = cached.trunk(cached.views.render(cached.student, b.views))
    assert after and x.dtype == torch.float32 and x.shape == direct.shape
    torch.testing.assert_close(x, direct, atol=2e-3, rtol=2e-3)  # stored as float16
    with torch.no_grad():  # the projection fit's features, read from the cached trunk output
        want = cached.student.pooled(cached.views.render(cached.student, b.views)).double().numpy()
    np.testing.assert_allclose(cached.views.pooled(cached.student, b.views, b.rows), want, rtol=5e-3, atol=5e-3)
    held = cached.views.heldout
    assert (cached.views.trunk_row[(held[:, None] * 3 + np.arange(3)).reshape(-1)] == -1).all()

    images = Trainer(cfg, tmp_path / "images")
    assert images.views is not None
    images.views.trunk_out = None  # the same run, rendering every view and running the trunk each step
    before = {k: v.clone() for k, v in cached.student.state_dict().items()}
    a, b_ = cached.fit(), images.fit()
    assert a["step"] == b_["step"] == 4
    np.testing.assert_allclose(a["losses"], b_["losses"], atol=5e-3)  # float16 trunk output: ~1e-3 per step
    after_state = cached.student.state_dict()
    trunk_keys = [k for k in before if k.startswith(("backbone.conv_stem", "backbone.bn1", "backbone.blocks.0",
                                                      "backbone.blocks.1"))]
    assert trunk_keys and all(torch.equal(after_state[k], before[k]) for k in trunk_keys)  # the trunk did not move
    assert not torch.equal(after_state["backbone.blocks.3.0.conv_pw.weight"],
                           before["backbone.blocks.3.0.conv_pw.weight"])  # the rest trained
