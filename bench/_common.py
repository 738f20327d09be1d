"""Shared set-up of the bench scripts: a Trainer on the built-in benchmark (run `make demo` first)."""

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from distill.train import TrainConfig, Trainer

DATA = "data/demo/train/demo-train.pkl"
CACHE = "data/cache/demo-train"


def trainer(out: Path, **overrides: Any) -> Trainer:
    """A Contr⁺ asym trainer (lite0 student, lite2 teacher cache) writing to `out`."""
    cfg = TrainConfig(data=DATA, teacher_cache=CACHE, teacher="efficientnet_lite2_gem",
                      student="efficientnet_lite0_gem", loss="contrastive_plus", mode="asym", mining="hard",
                      nnum=3, batch_size=8, lr=1e-4)
    return Trainer(replace(cfg, **overrides), out)


def seconds(fn: Callable[[], object], repeat: int) -> float:
    """Mean wall time of `fn` over `repeat` calls, after one warm-up call."""
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat
