"""Atomic file writes: temp file in the same folder + fsync + rename, so readers never see half a file;
file hashing and torch loading with one-line errors."""

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from distill.errors import DistillError


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Call `write(f)` on a temp file beside `path`, fsync it, then rename it over `path`."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions open() would
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(p.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write `obj` as indented JSON atomically."""
    atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def torch_load(path: str | Path, missing: str, unreadable: str, weights_only: bool = True) -> Any:
    """`torch.load` on CPU with one-line errors: "<path>: <missing> not found" / "not a readable <unreadable>"."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise DistillError(f"{p}: {missing} not found")
    try:
        return torch.load(p, map_location="cpu", weights_only=weights_only)
    except Exception as e:  # torch raises many types for a file that is not a checkpoint
        raise DistillError(f"{p}: not a readable {unreadable} ({type(e).__name__})") from None
