"""Compatibility keys: which embedding space a vector lives in, and the one check that two sides share it.

A query embedding can be searched against a database only when both live in the same space. For an
asymmetric student that space is its teacher's (preset, weights, dimension, L2 normalisation); the key
is a short hash of exactly that, written into every exported artefact and every index manifest.
`same_space` is the only place that decides "same space", `require_same_space` the only one that words the
refusal.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from distill.errors import DistillError

NORMALIZATION = "l2"


class SpaceMismatch(DistillError):
    """Two sides live in different embedding spaces (a one-line `DistillError`; servers answer it 409)."""

    code = "space_mismatch"


def space_identity(teacher: str, weights_sha256: str | None, dim: int) -> dict[str, Any]:
    """The fields that define an embedding space."""
    return {"teacher": teacher, "weights_sha256": weights_sha256, "dim": int(dim), "normalization": NORMALIZATION}


def compat_key(teacher: str, weights_sha256: str | None, dim: int) -> str:
    """16-hex-digit key of the space of `teacher` (its weights and dimension, L2-normalised)."""
    text = json.dumps(space_identity(teacher, weights_sha256, dim), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def manifest_compat_key(manifest: Mapping[str, Any]) -> str:
    """The key of a teacher cache (or index) manifest: `teacher`, `weights_sha256`, `dim`."""
    return compat_key(str(manifest["teacher"]), manifest.get("weights_sha256"), int(manifest["dim"]))


def space_key(space: Mapping[str, Any]) -> str:
    """The compat key of one side: its stored `compat_key`, else the key of its `teacher`, `weights_sha256`, `dim`."""
    return str(space["compat_key"]) if space.get("compat_key") else manifest_compat_key(space)


def same_space(have: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    """Whether two sides live in one embedding space: their compat keys are equal."""
    return space_key(have) == space_key(want)


def require_same_space(have: Mapping[str, Any], want: Mapping[str, Any], *, what: str, against: str, where: str,
                       hint: str = "") -> None:
    """Refuse with one line naming both sides (`SpaceMismatch`) unless `have` lives in `want`'s space.

    Each side is a space identity, a cache / index manifest, or just `{"compat_key": …}`; `same_space`
    decides. `what` and `against` name the sides (`have` gives embeddings, `want` holds them), `where`
    starts the line and `hint` ends it (what to do instead)."""
    if same_space(have, want):
        return
    raise SpaceMismatch(f"{where}: {_side(what, have, 'gives')}, {_side(against, want, 'holds')}: compat keys "
                        f"differ ({space_key(have)} ≠ {space_key(want)})" + (f"; {hint}" if hint else ""))


def _side(name: str, space: Mapping[str, Any], verb: str) -> str:
    teacher = f" for teacher {space['teacher']}" if space.get("teacher") else ""
    dim = f"{space['dim']}-d " if space.get("dim") is not None else ""
    return f"{name}{teacher} {verb} {dim}embeddings"
