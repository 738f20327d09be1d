"""An exported artefact opened for use: its format, its metadata, and its runtime."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.data.images import ImageRef
from distill.encode import image_batches
from distill.errors import DistillError
from distill.preprocess import PreprocessConfig
from export.base import ExportFormat, Runner
from export.formats import format_of
from export.metadata import METADATA_KEY, ArtifactMetadata


@dataclass
class Artifact:
    """An artefact file with the metadata read back from it."""

    path: Path
    format: ExportFormat
    meta: ArtifactMetadata

    @property
    def preprocess(self) -> PreprocessConfig:
        """The preprocessing the artefact's input expects."""
        m = self.meta
        return PreprocessConfig(tuple(m.input_size), tuple(m.mean), tuple(m.std), m.interpolation,  # type: ignore[arg-type]
                                m.resize)

    def runner(self, threads: int = 0) -> Runner:
        """The artefact loaded in its own runtime (raises CannotRun where that runtime is missing)."""
        return self.format.runner(self.path, threads)

    def embed_refs(self, refs: Sequence[ImageRef], runner: Runner | None = None, batch_size: int = 16,
                   desc: str = "artefact") -> np.ndarray:
        """N×d float32 embeddings of images, preprocessed as the metadata says and run by the runtime."""
        runner = runner or self.runner()
        out = [runner.embed(x.numpy())
               for x in image_batches(refs, self.preprocess, batch_size, desc=f"{desc} ({self.path.name})")]
        return np.concatenate(out) if out else np.zeros((0, self.meta.dim), np.float32)


def open_artifact(path: str | Path) -> Artifact:
    """Open an .onnx/.tflite/.mlpackage written by `distill export`; one-line errors otherwise."""
    p = Path(path)
    if not p.exists():
        raise DistillError(f"{p}: artefact not found")
    fmt = format_of(p)
    try:
        text = fmt.read_metadata(p)
    except DistillError:
        raise
    except Exception as e:  # each runtime has its own parse errors
        raise DistillError(f"{p}: not a readable {fmt.name} model ({type(e).__name__}: {str(e)[:200]})") from None
    if text is None:
        raise DistillError(f"{p}: no {METADATA_KEY} metadata; export the student with `distill export`")
    return Artifact(p, fmt, ArtifactMetadata.from_json(text, str(p)))
