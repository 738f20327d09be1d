"""Model pieces against their formulas, and the preset registry."""

import pytest
import torch

from distill.errors import DistillError
from distill.models import create_model, get_model_spec, l2_normalize, list_models
from distill.models.gem import GeM, gem


def test_gem_matches_formula_and_limits() -> None:
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    assert gem(x, 1.0).item() == pytest.approx(2.5)  # p = 1: average pooling
    assert gem(x, 3.0).item() == pytest.approx(((1 + 8 + 27 + 64) / 4) ** (1 / 3))
    assert gem(x, 50.0).item() == pytest.approx(4.0, rel=0.03)  # large p → max pooling
    pool = GeM(3.0)
    assert pool.p.requires_grad and pool(x).shape == (1, 1)


def test_l2_normalize_rows() -> None:
    v = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    assert torch.allclose(l2_normalize(v), torch.tensor([[0.6, 0.8], [0.0, 1.0]]))


def test_presets_registered() -> None:
    names = list_models()
    for required in ("efficientnet_lite2_gem", "efficientnet_lite0_gem", "mobilenetv2_gem", "resnet101_gem",
                     "efficientnet_b3_gem"):
        assert required in names
    assert get_model_spec("efficientnet_lite2_gem").weight_source == "efficientnet_lite2_imagenet"
    with pytest.raises(DistillError, match="unknown model preset 'nope'"):
        get_model_spec("nope")


def test_create_model_embeddings_are_normalised_and_projected() -> None:
    torch.manual_seed(0)
    net = create_model("mobilenetv2_gem", pretrained=False, dim=64)
    assert net.info is not None and net.info.dim == 64 and net.info.backbone_dim == 1280
    with torch.no_grad():
        e = net(torch.randn(2, 3, 64, 64))
    assert e.shape == (2, 64) and e.dtype == torch.float32
    assert torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)


def test_identity_projection_keeps_features() -> None:
    torch.manual_seed(0)
    plain = create_model("mobilenetv2_gem", pretrained=False)
    proj = create_model("mobilenetv2_gem", pretrained=False, projection=True)
    proj.backbone.load_state_dict(plain.backbone.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(plain(x), proj(x), atol=1e-6)
        # the projection is applied: reversing its rows reverses the embedding
        assert isinstance(proj.proj, torch.nn.Linear)
        proj.proj.weight.copy_(proj.proj.weight.flip(0))
        assert torch.allclose(proj(x), plain(x).flip(1), atol=1e-6)


def test_local_weights_file_errors(tmp_path) -> None:
    with pytest.raises(DistillError, match="weights file not found"):
        create_model("resnet101_gem", weights=tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"junk")
    with pytest.raises(DistillError, match="not a readable PyTorch state dict"):
        create_model("resnet101_gem", weights=bad)
