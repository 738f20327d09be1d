"""Compatibility keys: which embedding space a vector lives in.

A query embedding can be searched against a database only when both live in the same space. For an
asymmetric student that space is its teacher's (preset, weights, dimension, L2 normalisation); the key
is a short hash of exactly that, written into every exported artefact and every index manifest.
"""

import hashlib
import json
from typing import Any

NORMALIZATION = "l2"


def space_identity(teacher: str, weights_sha256: str | None, dim: int) -> dict[str, Any]:
    """The fields that define an embedding space."""
    return {"teacher": teacher, "weights_sha256": weights_sha256, "dim": int(dim), "normalization": NORMALIZATION}


def compat_key(teacher: str, weights_sha256: str | None, dim: int) -> str:
    """16-hex-digit key of the space of `teacher` (its weights and dimension, L2-normalised)."""
    text = json.dumps(space_identity(teacher, weights_sha256, dim), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def manifest_compat_key(manifest: dict[str, Any]) -> str:
    """The key of a teacher cache (or index) manifest: `teacher`, `weights_sha256`, `dim`."""
    return compat_key(str(manifest["teacher"]), manifest.get("weights_sha256"), int(manifest["dim"]))
