"""Where a training step gets its inputs: images of the batch for a model, and teacher embeddings
(from the cache — no teacher pass per step — or, with `--teacher-online`, from the teacher itself)."""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distill.cache import load_cache
from distill.data import Dataset
from distill.data.images import ImageDataset, ImageRef
from distill.encode import channels_last, encode, fast_layout
from distill.errors import DistillError
from distill.evaluate import query_refs
from distill.models import create_model
from distill.models.net import RetrievalNet


def is_view_cache(cache: str | None) -> bool:
    """Whether `cache` is a teacher cache of views (`distill cache-teacher --views K`)."""
    if not cache:
        return False
    man = Path(cache) / "manifest.json"
    try:
        return man.is_file() and bool(json.loads(man.read_text()).get("views"))
    except ValueError:
        raise DistillError(f"{man}: not valid JSON") from None


def load_images(refs: Sequence[ImageRef], model: RetrievalNet, idx: np.ndarray) -> torch.Tensor:
    """The images `idx` preprocessed for `model` (its own input size and normalisation), stacked."""
    assert model.info is not None
    ds = ImageDataset(refs, model.info.preprocess)
    return torch.stack([ds[int(i)] for i in idx])


def online_teacher(name: str, device: torch.device) -> tuple[RetrievalNet, dict[str, Any]]:
    """Teacher preset `name` ready to run on `device`, and the manifest a run without a cache records."""
    model = fast_layout(create_model(name).to(device).eval())
    assert model.info is not None
    return model, {"teacher": name, "dim": model.dim, "weights_sha256": model.info.weights_sha256}


class TeacherIdentity:
    """`name` and `dim` of the teacher that `manifest` (a cache's, or `online_teacher`'s) describes."""

    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        """The teacher preset."""
        return str(self.manifest["teacher"])

    @property
    def dim(self) -> int:
        """The teacher's embedding dimension."""
        return int(self.manifest["dim"])


class TeacherSource(TeacherIdentity):
    """Teacher embeddings of training images, by index: memory-mapped cache or online teacher."""

    def __init__(self, data: Dataset, cache: str | None, teacher: str | None, online: bool,
                 device: torch.device) -> None:
        self.refs = data.refs
        self.device = device
        self.values: np.ndarray | None = None
        self.model: RetrievalNet | None = None
        self.manifest: dict[str, Any] = {}
        if cache:
            expect: dict[str, Any] = {"image_list_sha256": data.list_sha256(), "count": len(data.refs)}
            if teacher:
                expect["teacher"] = teacher
            self.values, self.manifest = load_cache(cache, expect)
        if online:
            self.model, manifest = online_teacher(teacher or self.manifest["teacher"], device)
            self.manifest = self.manifest or manifest

    def embed(self, idx: np.ndarray) -> torch.Tensor:
        """B×d float32 teacher embeddings of images `idx`, on the training device."""
        if self.model is not None:
            with torch.no_grad():  # not inference_mode: the result enters the student's autograd graph
                x = load_images(self.refs, self.model, idx).to(self.device)
                return self.model(channels_last(x)).float()
        assert self.values is not None
        return torch.from_numpy(np.asarray(self.values[idx], np.float32)).to(self.device)

    def embed_numpy(self, idx: np.ndarray) -> np.ndarray:
        """Like `embed`, as a NumPy array (for the miner's FAISS search)."""
        return self.embed(idx).cpu().numpy()


def eval_embeddings(student: RetrievalNet, data: Dataset, mode: str, batch_size: int = 32) -> np.ndarray:
    """Student embeddings the evaluation needs: only the queries of a revisited set in asym mode
    (the database is the teacher's), otherwise every image."""
    device = next(student.parameters()).device
    return encode(student, query_refs(data, mode), batch_size=batch_size, desc="eval", device=device)
