"""What every export format provides (one small module per format registers an `ExportFormat`)."""

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from distill.errors import DistillError
from distill.models.net import RetrievalNet

QUANTIZATIONS = ("fp32", "fp16", "int8")


class Runner(Protocol):
    """An artefact loaded in its own runtime: N×3×H×W float32 inputs → N×d float32 embeddings."""

    note: str  # how the runtime was configured, when it matters for the numbers ("" otherwise)

    def embed(self, x: np.ndarray) -> np.ndarray:
        """Embeddings of a batch of preprocessed images."""
        ...


def cpu_has_vnni() -> bool:
    """Whether this x86 CPU has VNNI int8 dot products (non-x86 CPUs, e.g. ARM, count as having them)."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    return "avx512_vnni" in flags or "avx_vnni" in flags


@dataclass(frozen=True)
class ExportFormat:
    """A target format: how to convert a student into it, store/read metadata, describe and run it.

    `convert(model, out, quantization, calib)` writes the artefact (`calib`: N×3×H×W float32 inputs for
    static int8, else None); `runner(path, threads)` returns a Runner, or raises `CannotRun` where the
    runtime does not exist on this platform (Core ML prediction off macOS)."""

    name: str
    suffix: str
    quantizations: tuple[str, ...]
    install_hint: str
    convert: Callable[[RetrievalNet, Path, str, np.ndarray | None], None]
    write_metadata: Callable[[Path, str], None]
    read_metadata: Callable[[Path], str | None]
    describe: Callable[[Path], dict[str, Any]]
    runner: Callable[[Path, int], Runner]


class CannotRun(DistillError):
    """The artefact's runtime is not available on this platform (the reason is the message)."""


def need(module: str, hint: str) -> ModuleType:
    """Import an optional heavy dependency, or a one-line error with the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise DistillError(f"{module} is not installed ({e}); install it with: {hint}") from None


def conversion_error(fmt: str, model: RetrievalNet, e: Exception) -> DistillError:
    """A converter's exception as one line (the first line of its message)."""
    name = model.info.preset if model.info else type(model).__name__
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()  # some converters colour their messages
    first = (text.splitlines() or [""])[0][:300]
    return DistillError(f"{fmt} conversion of {name} failed ({type(e).__name__}: {first}); "
                        f"re-run with --debug for the traceback")
