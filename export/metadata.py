"""What every exported artefact carries, as one JSON document stored in the file itself (ONNX
`metadata_props`, a TFLite metadata buffer, Core ML `user_defined_metadata`) under `METADATA_KEY`."""

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from distill.compat import NORMALIZATION, manifest_compat_key, space_identity
from distill.contracts import parse
from distill.errors import DistillError
from distill.io import sha256_file
from distill.models.net import RetrievalNet

METADATA_KEY = "asym_distill"
FORMAT_VERSION = 1


@dataclass
class ArtifactMetadata:
    """Identity and contract of one artefact.

    Input: `input_layout` float32 tensor of one or more images, each squash-resized to `input_size`
    (H, W), scaled to [0, 1] and normalised with `mean`/`std`. Output: N×`dim` float32, L2-normalised
    inside the graph (int8 artefacts: dequantise with the output tensor's scale/zero point).
    """

    format: str
    quantization: str
    student: str
    mode: str
    dim: int
    input_size: list[int]
    mean: list[float]
    std: list[float]
    interpolation: str
    resize: str
    input_layout: str
    teacher: str
    teacher_weights_sha256: str | None
    compat_key: str
    normalization: str
    checkpoint_sha256: str
    checkpoint_step: int
    created: str
    version: int = FORMAT_VERSION

    def space(self) -> dict[str, Any]:
        """The embedding space the student's outputs live in (what an index must hold to be searched)."""
        return student_space(self.mode, self.teacher, self.teacher_weights_sha256, self.student,
                             self.checkpoint_sha256, self.dim)

    def keyed_space(self) -> dict[str, Any]:
        """`space()` with the stored compat key, the one clients send (for `distill.compat.require_same_space`)."""
        return {**self.space(), "compat_key": self.compat_key}

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str) -> "ArtifactMetadata":
        """Inverse of `to_json`; a missing or malformed document or field is a one-line error naming `where`
        (a document without `version` was written before it existed: version 1)."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise DistillError(f"{where}: unreadable {METADATA_KEY} metadata (JSONDecodeError: {e})") from None
        return parse(cls, d, where)  # types and required fields, one line for the first wrong one


def student_space(mode: str, teacher: str, teacher_weights_sha256: str | None, student: str,
                  checkpoint_sha256: str, dim: int) -> dict[str, Any]:
    """An asymmetric student lives in its teacher's space; a symmetric one in its own, identified by its
    checkpoint (`distill.compat.space_identity` fields)."""
    if mode == "asym":
        return space_identity(teacher, teacher_weights_sha256, dim)
    return space_identity(f"student:{student}", checkpoint_sha256, dim)


def checkpoint_space(model: RetrievalNet, state: dict[str, Any], checkpoint_sha256: str) -> dict[str, Any]:
    """The space the student of a checkpoint (`state`, file sha256 `checkpoint_sha256`) embeds into."""
    assert model.info is not None
    teacher = state.get("teacher_manifest") or {}
    return student_space(state.get("config", {}).get("mode", "asym"), str(teacher.get("teacher", "")),
                         teacher.get("weights_sha256"), model.info.preset, checkpoint_sha256, model.dim)


def build_metadata(model: RetrievalNet, state: dict[str, Any], ckpt: str | Path, fmt: str, quantization: str,
                   layout: str = "NCHW") -> ArtifactMetadata:
    """Metadata of `model` (rebuilt from checkpoint `ckpt` with contents `state`) exported as `fmt`; its
    compat key is that of the student's space (`student_space`)."""
    assert model.info is not None
    teacher = state.get("teacher_manifest") or {}
    mode = state.get("config", {}).get("mode", "asym")
    ck_sha = sha256_file(ckpt)
    if mode == "asym" and not teacher:
        raise DistillError(f"{ckpt}: asymmetric checkpoint without a teacher manifest; cannot key the export")
    key = manifest_compat_key(checkpoint_space(model, state, ck_sha))
    pre = model.info.preprocess
    return ArtifactMetadata(
        format=fmt, quantization=quantization, student=model.info.preset, mode=mode, dim=model.dim,
        input_size=list(pre.input_size), mean=list(pre.mean), std=list(pre.std), interpolation=pre.interpolation,
        resize=pre.resize, input_layout=layout, teacher=str(teacher.get("teacher", "")),
        teacher_weights_sha256=teacher.get("weights_sha256"), compat_key=key, normalization=NORMALIZATION,
        checkpoint_sha256=ck_sha, checkpoint_step=int(state.get("step", 0)),
        created=datetime.now(UTC).isoformat(timespec="seconds"))
