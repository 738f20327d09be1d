"""Consistent views: rendering against hand-made cases, the view cache (identity, resume, tampering),
view training (teacher online = cache, resolution-asymmetric students, exact resume, best.pt) and the
test report's bootstrap intervals."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.transforms import functional as tvf

from distill import metrics
from distill.cache import build_cache, load_cache, load_views
from distill.checkpoint import load_checkpoint
from distill.cli import main
from distill.data import open_dataset
from distill.data.views import Augment, ViewParams, load_photos, render_views, sample_views
from distill.errors import DistillError
from distill.models import PreprocessConfig, create_model
from distill.search import _torch_knn, knn
from distill.train import Trainer
from tests.conftest import view_cfg

RAW = PreprocessConfig(input_size=(8, 8), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def one_view(photo: int = 0, box: tuple = (0, 0, 1, 1), flip: bool = False, jitter: tuple = (1, 1, 1),
             mix: int = -1, lam: float = 1.0) -> ViewParams:
    return ViewParams(np.array([photo]), np.array([box], np.float32), np.array([flip]),
                      np.array([jitter], np.float32), np.array([mix]), np.array([[0, 0, 1, 1]], np.float32),
                      np.array([False]), np.array([lam], np.float32))


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (2, 3, 8, 8), generator=g, dtype=torch.uint8)


def test_identity_view_is_the_photo(photos: torch.Tensor) -> None:
    x = render_views(photos, one_view(), RAW)
    assert torch.allclose(x[0], photos[0].float() / 255, atol=1e-6)


def test_flip_and_crop_are_exact(photos: torch.Tensor) -> None:
    flipped = render_views(photos, one_view(flip=True), RAW)
    assert torch.allclose(flipped[0], photos[0].flip(-1).float() / 255, atol=1e-6)
    half = PreprocessConfig(input_size=(4, 4), mean=(0, 0, 0), std=(1, 1, 1))
    # the top-left quarter at half the size: output pixel centres fall on photo pixel centres
    quarter = render_views(photos, one_view(box=(0, 0, 0.5, 0.5)), half)
    assert torch.allclose(quarter[0], photos[0, :, :4, :4].float() / 255, atol=1e-6)
    right = render_views(photos, one_view(box=(0.5, 0, 1, 0.5)), half)
    assert torch.allclose(right[0], photos[0, :, :4, 4:].float() / 255, atol=1e-6)


def test_mixup_jitter_and_normalisation(photos: torch.Tensor) -> None:
    a, b = photos[0].float() / 255, photos[1].float() / 255
    mixed = render_views(photos, one_view(mix=1, lam=0.75), RAW)
    assert torch.allclose(mixed[0], 0.75 * a + 0.25 * b, atol=1e-6)
    flat = torch.full((1, 3, 8, 8), 64, dtype=torch.uint8)
    bright = render_views(flat, one_view(jitter=(2.0, 1.0, 1.0)), RAW)  # 64/255 × 2, contrast/saturation 1
    assert torch.allclose(bright, torch.full_like(bright, 128 / 255), atol=1e-6)
    norm = PreprocessConfig(input_size=(8, 8), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    assert torch.allclose(render_views(flat, one_view(), norm), (64 / 255 - 0.5) / 0.5 * torch.ones(1, 3, 8, 8))


def test_contrast_and_saturation_on_hand_made_pixels() -> None:
    # grey 0.2 | 0.6 halves (mean 0.4), contrast 1.5: 0.4 + 1.5 × (∓0.2) = 0.1 | 0.7
    halves = torch.full((1, 3, 8, 8), 51, dtype=torch.uint8)
    halves[..., 4:] = 153
    c = render_views(halves, one_view(jitter=(1.0, 1.5, 1.0)), RAW)
    assert torch.allclose(c[0, :, :, :4], torch.full((3, 8, 4), 0.1), atol=1e-6)
    assert torch.allclose(c[0, :, :, 4:], torch.full((3, 8, 4), 0.7), atol=1e-6)
    # R 153, G 102, B 51 at saturation 0 is its luma (0.299·153 + 0.587·102 + 0.114·51) / 255 on every channel
    colour = torch.tensor([153, 102, 51], dtype=torch.uint8)[None, :, None, None].expand(1, 3, 8, 8).contiguous()
    grey = render_views(colour, one_view(jitter=(1.0, 1.0, 0.0)), RAW)
    assert torch.allclose(grey, torch.full_like(grey, 111.435 / 255), atol=1e-6)


def test_jitter_agrees_with_torchvision(photos: torch.Tensor) -> None:
    # torchvision's adjust_* (luma weight 0.2989 for red, clamped after each step; factors chosen to stay in range)
    x = photos[0].float() / 255
    want = tvf.adjust_saturation(tvf.adjust_contrast(tvf.adjust_brightness(x, 0.9), 0.7), 1.3)
    got = render_views(photos, one_view(jitter=(0.9, 0.7, 1.3)), RAW)[0]
    assert torch.allclose(got, want, atol=1e-3)


def test_sample_views_is_seeded_and_in_range() -> None:
    a = sample_views(np.repeat(np.arange(5), 3), 5, np.random.default_rng(1))
    b = sample_views(np.repeat(np.arange(5), 3), 5, np.random.default_rng(1))
    assert a.sha256() == b.sha256() and len(a) == 15
    assert (a.box >= 0).all() and (a.box <= 1 + 1e-6).all() and (a.box[:, 2:] > a.box[:, :2]).all()
    mixed = a.mix_photo >= 0
    assert (a.mix_photo[mixed] != a.photo[mixed]).all() and (a.lam[mixed] >= 0.5).all() and (a.lam[~mixed] == 1).all()
    area = (a.box[:, 2] - a.box[:, 0]) * (a.box[:, 3] - a.box[:, 1])
    assert area.min() >= Augment().scale[0] * 0.5  # clipping to the photo may shrink a box, never below half


def test_view_cache_rows_are_the_teacher_on_rendered_views(pool: Path, view_cache: Path) -> None:
    values, man = load_cache(view_cache)
    views = load_views(view_cache, man)
    assert values.shape == (36, 256) and man["views"]["per_image"] == 3 and man["count"] == 36
    assert (views.photo == np.repeat(np.arange(12), 3)).all()
    torch.manual_seed(0)
    teacher = create_model("tiny_test_gem").eval()
    photos = load_photos(open_dataset(pool).refs, 48)
    with torch.no_grad():
        direct = teacher(render_views(photos, views.take([4, 20]), teacher.info.preprocess)).numpy()
    np.testing.assert_allclose(values[[4, 20]], direct, atol=1e-5)


def test_view_cache_refuses_altered_views_and_resumes(pool: Path, view_cache: Path, tmp_path: Path) -> None:
    _, man = load_cache(view_cache)
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in ("manifest.json", "embeddings.npy"):
        (bad / f).write_bytes((view_cache / f).read_bytes())
    views = load_views(view_cache, man)
    views.box[0, 0] = 0.01
    (bad / "views.npz").write_bytes(views.to_bytes())
    with pytest.raises(DistillError, match="does not match the cache's manifest"):
        load_views(bad, man)
    with pytest.raises(DistillError, match="--views 1"):
        main(["--debug", "cache-teacher", "--data", str(pool), "--teacher", "tiny_test_gem", "--views", "1",
              "--out", str(tmp_path / "x")])
    # an interrupted view cache resumes: rows written before the interruption are kept, the rest encoded
    torch.manual_seed(0)
    model = create_model("tiny_test_gem")
    data = open_dataset(pool)
    info = {"per_image": 3, "seed": 0, "photo_size": 48}
    v = sample_views(np.repeat(np.arange(12), 3), 12, np.random.default_rng(0))
    out = tmp_path / "resumed"
    calls = []
    real = model.forward

    def boom(x: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(x)

    model.forward = boom  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        build_cache(model, data, out, batch_size=8, views=v, views_info=info)
    model.forward = real  # type: ignore[method-assign]
    assert json.loads((out / "progress.json").read_text())["done"] == 16
    build_cache(model, data, out, batch_size=8, views=v, views_info=info)
    fresh = build_cache(model, data, tmp_path / "fresh", batch_size=8, views=v, views_info=info)
    np.testing.assert_allclose(load_cache(out)[0], load_cache(fresh)[0], atol=1e-6)


def test_view_training_cached_and_online_teacher_agree(pool: Path, view_cache: Path, tmp_path: Path) -> None:
    tr = Trainer(view_cfg(pool, view_cache), tmp_path / "run")
    assert tr.views is not None and len(tr.views.train) == 9 and len(tr.views.heldout) == 3
    plan = tr.epoch_plan(0)
    b = plan[0]
    assert len(plan) == 4 and len(b.items) == 4 and (b.labels[0::2] == b.labels[1::2]).all()  # 2 photos × 2 views
    assert b.rows is not None and (b.rows // 3 == b.labels).all()
    assert not set(np.concatenate([p.labels for p in plan])) & set(tr.views.heldout)  # held-out photos never train
    torch.manual_seed(0)  # the same random tiny teacher as the cache's
    online = Trainer(view_cfg(pool, None, views=True, teacher_online=True, teacher="tiny_test_gem"), tmp_path / "on")
    assert online.views is not None
    np.testing.assert_allclose(online.views.teacher(b.views, None).numpy(), tr.views.teacher(b.views, b.rows).numpy(),
                               atol=1e-5)
    state = tr.fit()
    run = tmp_path / "run"
    assert state["step"] == 8 and (run / "best.pt").is_file() and (run / "curves.png").is_file()
    held = state["history"][-1]["heldout"]
    assert held["views"] == 9 and -1 <= held["cosine"] <= 1 and 0 <= held["map"] <= 1
    prov = json.loads((tmp_path / "run" / "provenance.json").read_text())["invocations"][0]
    assert prov["torch"] == torch.__version__ and any(p.startswith("torch==") for p in prov["pip_freeze"])


@pytest.mark.integration
def test_best_pt_when_epoch_zero_stays_best_or_nothing_is_evaluated(pool: Path, view_cache: Path,
                                                                     tmp_path: Path) -> None:
    # held-out scores that only fall: the epoch-0 state stays best, and best.pt must hold it
    tr = Trainer(view_cfg(pool, view_cache, epochs=2), tmp_path / "falls")
    scores = iter([0.9, 0.5, 0.1])
    tr.evaluate = lambda: (lambda v: {"heldout": {"cosine": v, "map": v, "views": 9}})(next(scores))  # type: ignore
    initial = {k: v.clone() for k, v in tr.student.state_dict().items()}
    state = tr.fit()
    assert state["best"] == 0.9 and state["step"] == 8
    best = load_checkpoint(tmp_path / "falls" / "best.pt")["model"]
    assert all(torch.equal(best[k], initial[k]) for k in initial)
    assert not torch.equal(load_checkpoint(tmp_path / "falls" / "last.pt")["model"]["proj.weight"],
                           initial["proj.weight"])
    with pytest.raises(DistillError, match="heldout_photos > 0"):
        Trainer(view_cfg(pool, view_cache, heldout_photos=0.0, epochs=1), tmp_path / "noλ")
    tr = Trainer(view_cfg(pool, view_cache, heldout_photos=0.0, epochs=1, projection_init="random"),
                 tmp_path / "noeval")
    tr.fit()
    assert torch.equal(load_checkpoint(tmp_path / "noeval" / "best.pt")["model"]["proj.weight"],
                       tr.student.state_dict()["proj.weight"])


def test_resolution_asymmetric_student_needs_no_projection() -> None:
    from distill.models import same_network

    assert same_network("efficientnet_lite2_160_gem", "efficientnet_lite2_gem")
    assert not same_network("efficientnet_lite0_gem", "efficientnet_lite2_gem")
    assert not same_network("tiny_test_gem", "tiny_test_gem")  # random init: no shared weights
    m = create_model("efficientnet_lite2_160_gem", pretrained=False)
    assert m.proj is None and m.info is not None and m.info.preprocess.input_size == (160, 160)


def test_bootstrap_interval_known_cases() -> None:
    assert metrics.bootstrap_interval(np.full(10, 0.5)) == (0.5, 0.5)
    aps = np.linspace(0, 1, 40)
    assert metrics.bootstrap_interval(aps, aps) == pytest.approx((1.0, 1.0))
    lo, hi = metrics.bootstrap_interval(aps)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(2 * 1.96 * aps.std() / np.sqrt(40), rel=0.15)
    assert metrics.bootstrap_interval(np.array([np.nan, 0.2, 0.2])) == (0.2, 0.2)


def test_torch_knn_matches_faiss() -> None:
    rng = np.random.default_rng(0)
    q = rng.standard_normal((5, 8)).astype(np.float32)
    db = rng.standard_normal((30, 8)).astype(np.float32)
    s1, i1 = knn(q, [db[:10], db[10:]], k=7)
    s2, i2 = _torch_knn(q, [db[:10], db[10:]], 7)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2, atol=1e-5)


@pytest.mark.integration
def test_sigkilled_view_training_resumes_to_identical_weights(pool: Path, view_cache: Path, tmp_path: Path) -> None:
    from tests.test_train import run_cli, weights

    def args(out: Path, *extra: str) -> list[str]:
        return ["train", "--data", str(pool), "--teacher-cache", str(view_cache), "--student", "tiny_test_gem",
                "--loss", "infonce_plus", "--batch-size", "4", "--epochs", "2", "--lr", "1e-3", "--heldout-photos",
                "0.25", "--projection-views", "64", "--checkpoint-every", "2", "--out", str(out), *extra]

    assert run_cli(args(tmp_path / "ref")).returncode == 0
    killed = run_cli(args(tmp_path / "run"), kill_at=5)
    assert killed.returncode == -9 and load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 4
    resumed = run_cli(args(tmp_path / "run", "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    a, b = weights(tmp_path / "ref" / "last.pt"), weights(tmp_path / "run" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == (tmp_path / "ref" / "metrics.jsonl").read_text()
    assert len(json.loads((tmp_path / "run" / "provenance.json").read_text())["invocations"]) == 2


def test_student_of_the_teachers_own_network_trains_without_projection(pool: Path, view_cache: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import distill.train.factory as factory

    monkeypatch.setattr(factory, "same_network", lambda a, b: True)  # as for efficientnet_lite2_160_gem vs lite2
    tr = Trainer(view_cfg(pool, view_cache, epochs=1), tmp_path / "own")
    assert tr.student.proj is None and "projection_init" not in tr.state
    tr.fit()
    assert not load_checkpoint(tmp_path / "own" / "last.pt")["student"]["projection"]
