"""Closed-form projection start: ridge regression recovers known maps; the trainer uses it in asym mode."""

from pathlib import Path

import numpy as np
import pytest
import torch

from distill.cache import build_cache
from distill.data import open_dataset
from distill.errors import DistillError
from distill.models import create_model
from distill.train import TrainConfig, Trainer
from distill.train.projection_init import init_projection, mean_cosine, ridge_fit


def test_ridge_fit_recovers_an_exact_linear_map() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6))
    w, b = rng.normal(size=(6, 3)), np.array([0.5, -1.0, 2.0])
    w_hat, b_hat = ridge_fit(x, x @ w + b, ridge=1e-9)
    np.testing.assert_allclose(w_hat, w, atol=1e-6)
    np.testing.assert_allclose(b_hat, b, atol=1e-6)


def test_ridge_shrinks_towards_the_mean() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    t = np.array([[1.0], [3.0], [5.0], [7.0]])  # t = 2x + 1; centred gram 5, λ = ridge × 5 / 1
    w, b = ridge_fit(x, t, ridge=1.0)  # w = 10 / (5 + 5) = 1, b = mean(t) − mean(x) w = 4 − 1.5
    assert w[0, 0] == pytest.approx(1.0) and b[0] == pytest.approx(2.5)


def test_mean_cosine_is_scale_free() -> None:
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    assert mean_cosine(3 * a, a) == pytest.approx(1.0)
    assert mean_cosine(a, np.array([[0.0, 1.0], [1.0, 1.0]])) == pytest.approx(0.5)


def test_init_projection_puts_the_student_in_the_teacher_space(mini_classes: Path) -> None:
    data = open_dataset(mini_classes)
    data.refs.extend(data.refs)  # 18 rows ≥ the 10 the fit needs; duplicates are harmless here
    torch.manual_seed(0)
    teacher = create_model("tiny_test_gem")
    t = build_cache(teacher, open_dataset(mini_classes), mini_classes.parent / "tc")
    values = np.load(t / "embeddings.npy")
    student = create_model("tiny_test_gem", pretrained=False, dim=256, projection=True)
    from distill.encode import encode

    before = mean_cosine(encode(student, data.refs[:9]).astype(np.float64), values)
    info = init_projection(student, data.refs, lambda idx: values[idx % 9], seed=0)
    after = mean_cosine(encode(student, data.refs[:9]).astype(np.float64), values)
    assert info["train_cosine"] > 0.95 and after > 0.95 > before
    w = student.proj.weight.detach()  # rescaled to the weight size of PyTorch's default Linear init
    default = torch.nn.Linear(student.proj.in_features, student.proj.out_features).weight.detach()
    assert float(w.pow(2).mean().sqrt()) == pytest.approx(float(default.pow(2).mean().sqrt()), rel=0.02)


def test_trainer_initialises_the_asym_projection(mini_sfm: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    cache = build_cache(create_model("tiny_test_gem"), open_dataset(mini_sfm), tmp_path / "c")
    cfg = TrainConfig(data=str(mini_sfm), teacher_cache=str(cache), student="tiny_test_gem", nnum=1, batch_size=2)
    with pytest.raises(DistillError, match="needs ≥ 10 training images, got 6"):
        Trainer(cfg, tmp_path / "a")
    trainer = Trainer(TrainConfig(**{**cfg.__dict__, "projection_init": "random"}), tmp_path / "b")
    assert "projection_init" not in trainer.state
