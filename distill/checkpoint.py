"""Checkpoints: one file, written atomically (temp + fsync + rename), holding everything a resume
needs to continue bit-for-bit on CPU, and everything `distill eval`/`export` need to rebuild the student."""

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distill.contracts import CHECKPOINT_FORMAT, CheckpointHeader, validated
from distill.errors import DistillError
from distill.io import atomic_write, torch_load
from distill.models import RetrievalNet, create_model

FORMAT = CHECKPOINT_FORMAT


def rng_state() -> dict[str, Any]:
    """Python, NumPy-global and torch RNG states."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of `rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` (plus the format tag) atomically: a crash leaves the previous file intact."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`; one-line errors otherwise."""
    p = Path(path)
    state = torch_load(p, missing="checkpoint", unreadable="checkpoint", weights_only=False)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise DistillError(f"{p}: not a distill checkpoint (expected format {FORMAT!r})")
    return validated(CheckpointHeader, state, p)


def student_from_checkpoint(path: str | Path) -> tuple[RetrievalNet, dict[str, Any]]:
    """Rebuild the trained student (eval mode) and return it with the checkpoint's metadata."""
    state = load_checkpoint(path)
    arch = state["student"]
    model = create_model(arch["preset"], pretrained=False, dim=arch["dim"], projection=arch["projection"])
    model.load_state_dict(state["model"])
    assert model.info is not None
    model.info.weights, model.info.weights_sha256 = str(path), None
    model.info.extra.update(teacher=state.get("teacher_manifest", {}), checkpoint_step=state["step"])
    return model.eval(), state
