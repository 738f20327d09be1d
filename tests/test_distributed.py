"""torchrun: `distill cache-teacher` with 2 CPU processes (gloo) writes the same cache as one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from distill.cache import load_cache
from distill.cli import main
from distill.distributed import DistEnv
from distill.models import create_model


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_shards_cover_every_item_once(world: int) -> None:
    for n in range(0, 23):
        shards = [DistEnv(r, world).shard(n) for r in range(world)]
        assert [i for a, b in shards for i in range(a, b)] == list(range(n))
        assert max(b - a for a, b in shards) - min(b - a for a, b in shards) <= 1


@pytest.mark.integration
def test_two_process_cache_equals_single_process(tiny_asym_run: dict[str, Path], tmp_path: Path) -> None:
    torch.manual_seed(3)
    weights = tmp_path / "teacher.pt"
    torch.save(create_model("tiny_test_gem", pretrained=False).backbone.state_dict(), weights)
    args = ["cache-teacher", "--data", str(tiny_asym_run["bench"]), "--teacher", "tiny_test_gem",
            "--weights", str(weights), "--batch-size", "3"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "distill", *args, "--out", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "(2 processes)" in run.stdout
    one, man1 = load_cache(tmp_path / "one")
    two, man2 = load_cache(tmp_path / "two")
    np.testing.assert_allclose(two, one, atol=1e-5)
    assert {k: v for k, v in man1.items() if k != "created"} == {k: v for k, v in man2.items() if k != "created"}
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["embeddings.npy", "manifest.json"]
    assert json.loads((tmp_path / "two" / "manifest.json").read_text())["count"] == 10

