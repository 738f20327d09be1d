"""Typed file contracts: a wrong or missing field of a cache manifest, checkpoint or index manifest is one line
naming the file and the field; files written before the contracts (no format_version) still read."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from device_eval.index import build_index, read_manifest
from distill.cache import load_cache
from distill.checkpoint import load_checkpoint
from distill.compat import space_identity
from distill.errors import DistillError

DROP = object()


def edited_cache(src: Path, dst: Path, **changes: object) -> Path:
    """A copy of the cache `src` with manifest fields changed (or dropped: DROP)."""
    shutil.copytree(src, dst)
    man = {**json.loads((dst / "manifest.json").read_text()), **changes}
    (dst / "manifest.json").write_text(json.dumps({k: v for k, v in man.items() if v is not DROP}))
    return dst


def test_a_cache_manifest_without_format_version_reads_as_written(tiny_asym_run: dict, tmp_path: Path) -> None:
    src = json.loads((tiny_asym_run["cache"] / "manifest.json").read_text())
    old = edited_cache(tiny_asym_run["cache"], tmp_path / "old", format_version=DROP)
    _, man = load_cache(old)
    assert "format_version" not in man and man == {k: v for k, v in src.items() if k != "format_version"}


@pytest.mark.parametrize("changes,message", [
    ({"dim": "wide"}, "CacheManifest field dim: Input should be a valid integer"),
    ({"teacher": DROP}, "CacheManifest field teacher: Field required"),
    ({"dtype": "int4"}, "CacheManifest field dtype: Input should be 'float32' or 'float16'"),
    ({"format_version": 7}, "CacheManifest field format_version: Input should be 1"),
])
def test_bad_cache_manifest_fields_are_one_line(tiny_asym_run: dict, tmp_path: Path, changes: dict,
                                                message: str) -> None:
    bad = edited_cache(tiny_asym_run["cache"], tmp_path / "bad", **changes)
    with pytest.raises(DistillError, match=message) as e:
        load_cache(bad)
    assert str(bad / "manifest.json") in str(e.value) and "\n" not in str(e.value)


def test_a_checkpoint_with_a_broken_header_is_one_line(tiny_asym_run: dict, tmp_path: Path) -> None:
    state = torch.load(tiny_asym_run["ckpt"], weights_only=False)
    state["student"] = {"preset": "tiny_test_gem", "dim": 0, "projection": True}
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(DistillError, match=r"bad\.pt: CheckpointHeader field student\.dim: Input should be greater"):
        load_checkpoint(tmp_path / "bad.pt")
    del state["step"]
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(DistillError, match="CheckpointHeader field step: Field required"):
        load_checkpoint(tmp_path / "bad.pt")


def test_an_index_manifest_with_a_wrong_field_is_one_line(tmp_path: Path) -> None:
    vecs = torch.nn.functional.normalize(torch.randn(4, 8), dim=1).numpy()
    build_index(vecs, [{"name": f"{i}", "path": ""} for i in range(4)], space_identity("t", None, 8), tmp_path)
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert read_manifest(tmp_path)["count"] == 4
    man["files"] = {"index": [], "items": "items.jsonl"}
    (tmp_path / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(DistillError, match=r"IndexManifest field files\.index: List should have at least 1 item"):
        read_manifest(tmp_path)


META = {"format": "onnx", "quantization": "fp32", "student": "s", "mode": "asym", "dim": 8, "input_size": [4, 4],
        "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bilinear", "resize": "squash", "input_layout": "NCHW",
        "teacher": "t", "teacher_weights_sha256": None, "compat_key": "k", "normalization": "l2",
        "checkpoint_sha256": "c", "checkpoint_step": 3, "created": "now"}


def test_artifact_metadata_reads_old_documents_and_refuses_wrong_fields() -> None:
    from export.metadata import ArtifactMetadata

    meta = ArtifactMetadata.from_json(json.dumps(META), "a.onnx")  # no `version`: written before it existed
    assert meta.version == 1 and meta.dim == 8 and ArtifactMetadata.from_json(meta.to_json(), "a.onnx") == meta
    with pytest.raises(DistillError, match=r"a\.onnx: ArtifactMetadata field dim: Input should be a valid integer"):
        ArtifactMetadata.from_json(json.dumps({**META, "dim": "eight"}), "a.onnx")
    with pytest.raises(DistillError, match=r"a\.onnx: ArtifactMetadata field compat_key: Field required"):
        ArtifactMetadata.from_json(json.dumps({k: v for k, v in META.items() if k != "compat_key"}), "a.onnx")
