"""Safe-ish reading of the published cirtorch / revisitop pickles with structural validation."""

import pickle
from pathlib import Path
from typing import Any

from distill.errors import DistillError


def read_pickle(path: str | Path) -> Any:
    """Unpickle `path`; a missing or non-pickle file is a one-line DistillError."""
    p = Path(path)
    if not p.is_file():
        raise DistillError(f"{p}: file not found")
    try:
        with open(p, "rb") as f:
            return pickle.load(f)
    except Exception as e:  # pickle raises many unrelated types on garbage input
        raise DistillError(f"{p}: not a readable pickle ({type(e).__name__})") from None


def require_keys(obj: Any, keys: tuple[str, ...], where: str) -> dict:
    """`obj` must be a dict holding `keys`; `where` names the file and field for the error."""
    if not isinstance(obj, dict):
        raise DistillError(f"{where}: expected a dict with keys {list(keys)}, got {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise DistillError(f"{where}: missing key(s) {missing}; expected {list(keys)}")
    return obj
