"""Precision: `auto` picks a half type only where the device has it natively; a half-precision view cache
stays close to the fp32 one, says so in its manifest and keeps unit rows; databases stay fp32; bf16 view
training runs; an overflow is an error."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from distill import precision
from distill.cache import load_cache, load_views
from distill.cli import main
from distill.data import open_dataset
from distill.data.views import load_photos, render_views
from distill.errors import DistillError
from distill.models import create_model
from distill.train import Trainer
from tests.conftest import view_cfg

CPU = torch.device("cpu")


@pytest.mark.parametrize("native, passes, steps", [("fp16", "fp16", "fp32"), ("bf16", "bf16", "bf16"),
                                                   (None, "fp32", "fp32")])
def test_auto_is_half_only_where_native(monkeypatch: pytest.MonkeyPatch, native: str | None, passes: str,
                                        steps: str) -> None:
    monkeypatch.setattr(precision, "native_half", lambda device: native)
    assert precision.resolve_precision("auto", CPU) == passes
    assert precision.resolve_precision("auto", CPU, training=True) == steps


def test_explicit_precisions_and_bad_ones() -> None:
    resolve = precision.resolve_precision
    assert [resolve(p, CPU) for p in ("fp32", "bf16", "fp16")] == ["fp32", "bf16", "fp16"]
    assert resolve("bf16", CPU, training=True) == "bf16"
    with pytest.raises(DistillError, match="precision 'half': expected one of auto, fp32, bf16, fp16"):
        resolve("half", CPU)
    with pytest.raises(DistillError, match="fp16 gradients would need loss scaling"):
        resolve("fp16", CPU, training=True)


def test_an_overflowed_row_is_an_error_not_an_embedding() -> None:
    rows = torch.tensor([[3.0, 4.0], [float("inf"), 1.0]], dtype=torch.float16)
    np.testing.assert_allclose(precision.unit_rows(rows[:1]).numpy(), [[0.6, 0.8]], atol=1e-6)
    with pytest.raises(DistillError, match="overflowed in half precision"):
        precision.unit_rows(rows)


def cache_args(pool: Path, out: Path, *extra: str) -> list[str]:
    return ["cache-teacher", "--data", str(pool), "--teacher", "tiny_test_gem", "--views", "3", "--photo-size", "48",
            "--out", str(out), "--batch-size", "8", *extra]


@pytest.mark.parametrize("half, min_cos", [("bf16", 0.99), ("fp16", 0.9999)])
def test_half_view_cache_is_close_to_fp32_and_says_so(pool: Path, view_cache: Path, tmp_path: Path, half: str,
                                                      min_cos: float) -> None:
    torch.manual_seed(0)  # the same random tiny teacher as the fp32 `view_cache`
    assert main(cache_args(pool, tmp_path / half, "--precision", half)) == 0
    fp32, man32 = load_cache(view_cache)
    got, man = load_cache(tmp_path / half)
    assert "precision" not in man32["views"] and man["views"]["precision"] == half
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)  # renormalised in float32
    cos = (fp32 * got).sum(1)
    assert cos.min() > min_cos and not np.array_equal(fp32, got)  # the same views, at the half type's precision
    assert {k: v for k, v in man["views"].items() if k != "precision"} == man32["views"]
    # each row is the half-precision network on the view rendered in float32 (rendered under autocast, the
    # sampling grid moves pixels)
    torch.manual_seed(0)
    teacher = create_model("tiny_test_gem").eval()
    x = render_views(load_photos(open_dataset(pool).refs, 48), load_views(view_cache, man32).take([4, 20]),
                     teacher.info.preprocess)
    with torch.no_grad(), precision.autocast(CPU, half):
        direct = torch.nn.functional.normalize(teacher(x).float()).numpy()
    np.testing.assert_allclose(got[[4, 20]], direct, atol=1e-6)


def test_auto_reuses_an_existing_fp32_view_cache_and_databases_stay_fp32(
        pool: Path, view_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(precision, "native_half", lambda device: "fp16")  # a CPU with AVX512-FP16
    shutil.copytree(view_cache, tmp_path / "old")
    assert main(cache_args(pool, tmp_path / "old")) == 0  # complete and fp32: kept, not refused or rebuilt
    assert "encoded in fp32" in capsys.readouterr().out
    assert main(["cache-teacher", "--data", str(pool), "--teacher", "tiny_test_gem", "--precision", "bf16",
                 "--out", str(tmp_path / "db")]) == 2
    assert "only view caches (--views K, training targets) may use half precision" in capsys.readouterr().err
    torch.manual_seed(0)
    assert main(cache_args(pool, tmp_path / "new")) == 0
    assert json.loads((tmp_path / "new" / "manifest.json").read_text())["views"]["precision"] == "fp16"


def test_bf16_view_training_with_a_frozen_trunk_trains(pool: Path, view_cache: Path, tmp_path: Path) -> None:
    trainer = Trainer(view_cfg(pool, view_cache, precision="bf16", freeze_stages=1, epochs=1), tmp_path / "run")
    assert trainer.precision == "bf16" and trainer.views is not None and trainer.views.trunk_out is not None
    before = {k: v.clone() for k, v in trainer.student.state_dict().items()}
    state = trainer.fit()
    assert all(np.isfinite(state["losses"])) and state["step"] > 0
    after = trainer.student.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("proj"))
    assert trainer.student.proj is not None and trainer.student.proj.weight.dtype == torch.float32
