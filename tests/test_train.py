"""Training loop: exact resume after SIGKILL, refused resumes, NaN stop, evaluation, class sets."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from distill.cache import build_cache
from distill.checkpoint import load_checkpoint, student_from_checkpoint
from distill.cli import main
from distill.data import open_dataset
from distill.errors import DistillError
from distill.models import create_model
from distill.train import TrainConfig, Trainer
from tests.conftest import write_sfm12

KILL_AT = """
import os, signal, sys
from distill.train import loop
real = loop.Trainer.train_step
def step(self, batch):
    if self.state.step == {k}:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, batch)
loop.Trainer.train_step = step
from distill.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def sfm12(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """12 images in 6 clusters, SfM-120k layout, and a tiny teacher's cache of them."""
    root = tmp_path_factory.mktemp("sfm12")
    pkl = write_sfm12(root, seed=200)
    torch.manual_seed(0)
    cache = build_cache(create_model("tiny_test_gem"), open_dataset(pkl), root / "cache")
    return pkl, cache


def train_args(sfm12: tuple[Path, Path], out: Path, *extra: str) -> list[str]:
    pkl, cache = sfm12
    return ["train", "--data", str(pkl), "--teacher-cache", str(cache), "--student", "tiny_test_gem",
            "--loss", "contrastive_plus", "--mining", "hard", "--nnum", "2", "--pool-size", "8",
            "--refresh-every", "3", "--batch-size", "2", "--epochs", "3", "--lr", "1e-3",
            "--checkpoint-every", "2", "--precision", "fp32", "--out", str(out), *extra]


def run_cli(args: list[str], kill_at: int | None = None) -> subprocess.CompletedProcess:
    code = KILL_AT.replace("{k}", str(kill_at)) if kill_at is not None else \
        "import sys; from distill.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


@pytest.mark.integration
def test_sigkilled_run_resumes_to_identical_weights(sfm12: tuple[Path, Path], tmp_path: Path) -> None:
    ref = run_cli(train_args(sfm12, tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr
    killed = run_cli(train_args(sfm12, tmp_path / "run"), kill_at=5)  # mid epoch 2; last checkpoint at step 4
    assert killed.returncode == -9
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 4
    resumed = run_cli(train_args(sfm12, tmp_path / "run", "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    a, b = weights(tmp_path / "ref" / "last.pt"), weights(tmp_path / "run" / "last.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 9
    ref_hist = (tmp_path / "ref" / "metrics.jsonl").read_text()
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == ref_hist
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "run").iterdir())


def test_resume_refuses_another_config_and_an_existing_run(sfm12: tuple[Path, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    assert main(train_args(sfm12, tmp_path / "r", "--max-steps", "1")) == 0
    assert main(train_args(sfm12, tmp_path / "r", "--lr", "0.1", "--resume")) == 2
    assert "refusing to resume with another configuration (differs in: lr" in capsys.readouterr().err
    assert main(train_args(sfm12, tmp_path / "r")) == 2
    assert "exists: pass --resume" in capsys.readouterr().err


def test_nan_loss_stops_with_the_step(sfm12: tuple[Path, Path], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from distill.losses.contrastive_plus import ContrastivePlusLoss

    monkeypatch.setattr(ContrastivePlusLoss, "forward", lambda self, *a, **k: torch.tensor(float("nan")))
    pkl, cache = sfm12
    cfg = TrainConfig(data=str(pkl), teacher_cache=str(cache), student="tiny_test_gem", nnum=2, batch_size=2)
    with pytest.raises(DistillError, match=r"loss contrastive_plus is nan at step 1 \(epoch 1\)"):
        Trainer(cfg, tmp_path / "nan").fit()


def test_asym_student_is_evaluated_and_reloadable(mini_revisited: Path, sfm12: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    torch.manual_seed(0)
    test_cache = build_cache(create_model("tiny_test_gem"), open_dataset(mini_revisited), tmp_path / "tc")
    out = tmp_path / "ev"
    args = train_args(sfm12, out, "--epochs", "1", "--eval-data", str(mini_revisited),
                      "--eval-teacher-cache", str(test_cache))
    assert main(args) == 0
    hist = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in hist] == [0, 1] and set(hist[-1]["map"]) == {"easy", "medium", "hard"}
    best = max(hist, key=lambda h: h["map"]["medium"])  # the first of equal scores: a tie does not replace best.pt
    assert load_checkpoint(out / "best.pt")["step"] == best["step"]
    student, state = student_from_checkpoint(out / "last.pt")
    assert student.dim == 256 and state["teacher_manifest"]["teacher"] == "tiny_test_gem"
    js = tmp_path / "eval.json"
    assert main(["eval", "--data", str(mini_revisited), "--mode", "asym", "--teacher-cache", str(test_cache),
                 "--ckpt", str(out / "last.pt"), "--json", str(js)]) == 0
    assert json.loads(js.read_text())["map"] == pytest.approx(hist[-1]["map"], abs=1e-6)


def test_class_set_relaxed_contrastive_with_dimension_reduction(mini_classes: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    cache = build_cache(create_model("tiny_test_gem"), open_dataset(mini_classes), tmp_path / "cc")
    cfg = TrainConfig(data=str(mini_classes), teacher_cache=str(cache), student="tiny_test_gem",
                      loss="relaxed_contrastive", mode="sym", mining="random", dim=8, batch_size=6,
                      samples_per_class=2, epochs=2, lr=1e-3, eval_data=str(mini_classes))
    state = Trainer(cfg, tmp_path / "cls").fit()
    assert state["step"] == 2 and set(state["history"][-1]["recall"]) == {"1", "2", "4", "8"}
    student, _ = student_from_checkpoint(tmp_path / "cls" / "last.pt")
    assert student.dim == 8
    with pytest.raises(DistillError, match="hard mining needs tuples"):
        Trainer(TrainConfig(**{**cfg.__dict__, "mining": "hard"}), tmp_path / "cls2")


def test_online_teacher_matches_its_cache(mini_sfm: Path) -> None:
    from distill.train.sources import TeacherSource

    data = open_dataset(mini_sfm)
    teacher = create_model("efficientnet_lite0_gem")
    cache = build_cache(teacher, data, mini_sfm.parent / "c")
    cpu = torch.device("cpu")
    online = TeacherSource(data, str(cache), None, True, cpu)
    cached = TeacherSource(data, str(cache), None, False, cpu)
    idx = np.array([3, 0, 5])
    torch.testing.assert_close(online.embed(idx), cached.embed(idx), atol=1e-5, rtol=0)
    w = torch.ones(3, 1, dtype=torch.float32, requires_grad=True)
    (online.embed(idx) * w).sum().backward()  # usable inside the student's graph
    assert w.grad is not None


def torchrun(script: Path, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(script), *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.integration
def test_ddp_training_equals_one_process_and_resumes_after_sigkill(sfm12: tuple[Path, Path], tmp_path: Path) -> None:
    """2 gloo processes, the same global batch (each rank encodes half of the anchors and the mining
    pool): the weights equal a single-process run's; a SIGKILLed DDP run resumes to the same weights."""
    script = tmp_path / "train.py"
    script.write_text(KILL_AT.replace("{k}", "-1"))
    single = run_cli(train_args(sfm12, tmp_path / "one"))
    assert single.returncode == 0, single.stderr
    two = torchrun(script, train_args(sfm12, tmp_path / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    assert "on 2 processes" in two.stdout
    a, b = weights(tmp_path / "one" / "last.pt"), weights(tmp_path / "two" / "last.pt")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=1e-4, atol=5e-5) for k in a)  # float order
    script.write_text(KILL_AT.replace("{k}", "5"))
    killed = torchrun(script, train_args(sfm12, tmp_path / "killed"))
    assert killed.returncode != 0 and load_checkpoint(tmp_path / "killed" / "last.pt")["step"] == 4
    script.write_text(KILL_AT.replace("{k}", "-1"))
    resumed = torchrun(script, train_args(sfm12, tmp_path / "killed", "--resume"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    c = weights(tmp_path / "killed" / "last.pt")
    assert all(torch.equal(b[k], c[k]) for k in b)
    assert (tmp_path / "killed" / "metrics.jsonl").read_text() == (tmp_path / "two" / "metrics.jsonl").read_text()
