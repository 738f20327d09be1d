"""Fidelity: run the artefact with its own runtime on real images and compare with the PyTorch
student — embedding agreement (max abs error, cosine) and, on a benchmark, the asymmetric mAP of
artefact queries against the teacher database next to PyTorch's."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distill.cache import load_cache
from distill.compat import require_same_space
from distill.data import open_dataset
from distill.data.images import ImageRef
from distill.encode import encode
from distill.errors import DistillError
from distill.evaluate import Embeddings, evaluate, query_refs
from distill.models.net import RetrievalNet
from export.artifact import Artifact
from export.base import CannotRun, Runner
from export.calib import load_inputs
from export.metadata import ArtifactMetadata
from export.tolerance import MAP_DELTA_POINTS


@dataclass(frozen=True)
class Target:
    """What an artefact of one quantisation must achieve against PyTorch."""

    min_median_cosine: float
    max_map_delta: float  # points, from `export.tolerance.MAP_DELTA_POINTS`


MIN_MEDIAN_COSINE = {"fp32": 0.9999, "fp16": 0.999, "int8": 0.99}
TARGETS = {q: Target(MIN_MEDIAN_COSINE[q], MAP_DELTA_POINTS[q]) for q in MAP_DELTA_POINTS}


def agreement(reference: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Row-wise agreement of two N×d embedding sets: max abs error and cosine median/min/mean."""
    if reference.shape != got.shape:
        raise DistillError(f"artefact output {got.shape} ≠ PyTorch output {reference.shape}")
    cos = (reference * got).sum(1) / np.maximum(
        np.linalg.norm(reference, axis=1) * np.linalg.norm(got, axis=1), 1e-12)
    return {"n": len(cos), "max_abs_error": float(np.abs(reference - got).max()),
            "cosine_median": float(np.median(cos)), "cosine_min": float(cos.min()), "cosine_mean": float(cos.mean())}


def torch_embed(model: RetrievalNet, x: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """The PyTorch student's embeddings of preprocessed inputs."""
    model.eval()
    with torch.inference_mode():
        parts = [model(torch.from_numpy(x[i: i + batch_size])).float().numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(parts)


def require_space(manifest: dict[str, Any], meta: ArtifactMetadata, where: str | Path) -> None:
    """A one-line error unless the teacher database `manifest` is the space `meta` was exported for."""
    require_same_space(meta.keyed_space(), manifest, what="the student exported", against="the teacher cache",
                       where=str(where), hint="this cache is not the space the student was exported for")


def benchmark_map(artifact: Artifact, runner: Runner, model: RetrievalNet, data_path: str | Path,
                  teacher_cache: str | Path) -> dict[str, Any]:
    """Asymmetric mAP of PyTorch and of the artefact on `data_path` against the teacher cache."""
    data = open_dataset(data_path)
    values, man = load_cache(teacher_cache, {"image_list_sha256": data.list_sha256()})
    require_space(man, artifact.meta, teacher_cache)
    db = Embeddings(np.asarray(values, np.float32), man["teacher"])
    refs: list[ImageRef] = query_refs(data, "asym")
    pt = encode(model, refs, desc="pytorch queries", device=torch.device("cpu"))
    ar = artifact.embed_refs(refs, runner, desc="artefact queries")
    res_pt = evaluate(data, Embeddings(pt, "pytorch"), db, "asym", data_path)["map"]
    res_ar = evaluate(data, Embeddings(ar, artifact.path.name), db, "asym", data_path)["map"]
    return {"data": str(data_path), "queries": agreement(pt, ar), "pytorch": res_pt, "artifact": res_ar,
            "delta_points": {k: 100 * (res_ar[k] - res_pt[k]) for k in res_pt}}


def check_fidelity(artifact: Artifact, model: RetrievalNet, check_refs: list[ImageRef],
                   eval_data: str | Path | None = None, eval_teacher_cache: str | Path | None = None) -> dict[str, Any]:
    """Everything the report says about fidelity, with a verdict against `TARGETS`."""
    target = TARGETS[artifact.meta.quantization]
    result: dict[str, Any] = {"target": {"min_median_cosine": target.min_median_cosine,
                                         "max_map_delta_points": target.max_map_delta}}
    try:
        runner = artifact.runner()
    except CannotRun as e:
        return {**result, "ran": False, "reason": str(e), "passed": None}
    x = load_inputs(check_refs, artifact.preprocess)
    result["images"] = agreement(torch_embed(model, x), runner.embed(x))
    result["ran"], result["runtime_note"] = True, runner.note
    cosines = [result["images"]["cosine_median"]]
    deltas: list[float] = []
    if eval_data and eval_teacher_cache:
        result["benchmark"] = benchmark_map(artifact, runner, model, eval_data, eval_teacher_cache)
        cosines.append(result["benchmark"]["queries"]["cosine_median"])
        deltas = [abs(v) for v in result["benchmark"]["delta_points"].values()]
    result["passed"] = min(cosines) >= target.min_median_cosine and all(d <= target.max_map_delta for d in deltas)
    return result
