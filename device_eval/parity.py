"""`distill device-eval`: exported-student queries searched in the hosted teacher index give the same
revisited mAP as the PyTorch student — one table, PyTorch vs each artefact, with a verdict."""

from pathlib import Path
from typing import Any

import numpy as np
import torch

from device_eval.index import ServedIndex, open_index
from distill.checkpoint import student_from_checkpoint
from distill.compat import require_same_space
from distill.data import RevisitedSet, open_dataset
from distill.encode import encode
from distill.errors import DistillError
from distill.io import sha256_file
from distill.metrics import revisited_map
from export.artifact import open_artifact
from export.base import CannotRun
from export.fidelity import agreement
from export.metadata import ArtifactMetadata, checkpoint_space
from export.tolerance import MAP_DELTA_POINTS  # |Δ mAP| allowed per quantisation, shared with export fidelity


def index_ranks(index: ServedIndex, queries: np.ndarray, data: RevisitedSet, k: int | None = None) -> np.ndarray:
    """Each query's full ranking through the index (or its top `k`), as positions in `data.imlist`; index
    items that are not in the data's database (distractors) and unranked slots become position
    len(imlist), never a positive (so a positive outside the top `k` counts as never retrieved)."""
    n_db = len(data.imlist)
    names = {it["name"] for it in index.items}
    missing = [n for n in data.imlist if n not in names]
    if missing:
        raise DistillError(f"{index.path}: lacks {len(missing)} of the {n_db} database images of {data.name} "
                           f"(e.g. {missing[0]!r}); build the index from this dataset")
    pos = {n: i for i, n in enumerate(data.imlist)}
    id_to_pos = np.array([pos.get(it["name"], n_db) for it in index.items] + [n_db], dtype=np.int64)
    _, ids = index.search(queries, len(index) if k is None else k)
    return id_to_pos[ids]  # id -1 (not found) indexes the last entry: n_db


def require_artifact_fits(meta: ArtifactMetadata, manifest: dict[str, Any], index_path: str | Path,
                          where: str | Path) -> None:
    """One-line refusal of an artefact exported for another space (teacher, weights, dimension) than the index's."""
    require_same_space(meta.keyed_space(), manifest, what="the student exported", against=f"index {index_path}",
                       where=str(where), hint="search it with an index of the space it was exported for")


def device_eval(artifacts: list[str], index_path: str | Path, data_path: str | Path, ckpt: str | Path,
                tolerance: dict[str, float] | None = None) -> dict[str, Any]:
    """PyTorch asym mAP vs each artefact's, both searched in the index, with per-query cosines."""
    tol = {**MAP_DELTA_POINTS, **(tolerance or {})}
    index = open_index(index_path)
    data = open_dataset(data_path)
    if not isinstance(data, RevisitedSet):
        raise DistillError(f"{data_path}: device-eval needs a revisited test set (gnd_*.pkl + jpg/)")
    opened = [open_artifact(a) for a in artifacts]
    for art in opened:  # refuse before any slow work
        require_artifact_fits(art.meta, index.manifest, index.path, art.path)
    model, state = student_from_checkpoint(ckpt)
    require_same_space(checkpoint_space(model, state, sha256_file(ckpt)), index.manifest, what="the student trained",
                       against=f"index {index.path}", where=str(ckpt),
                       hint="device-eval needs the index of the space the student was trained for")
    refs = data.query_refs
    reference = encode(model.cpu(), refs, desc="pytorch queries", device=torch.device("cpu"))
    rows: list[dict[str, Any]] = [{"model": "pytorch", "quantization": "fp32",
                                   **revisited_map(index_ranks(index, reference, data), data.gnd)}]
    for art in opened:
        row: dict[str, Any] = {"model": str(art.path), "format": art.format.name,
                               "quantization": art.meta.quantization}
        try:
            runner = art.runner()
        except CannotRun as e:
            rows.append({**row, "ran": False, "reason": str(e), "passed": None})
            continue
        got = art.embed_refs(refs, runner, desc="artefact queries")
        row["runtime_note"] = runner.note
        agree = agreement(reference, got)
        row.update(revisited_map(index_ranks(index, got, data), data.gnd), ran=True,
                   cosine={"median": agree["cosine_median"], "min": agree["cosine_min"]})
        row["delta_points"] = {k: 100 * (row["map"][k] - rows[0]["map"][k]) for k in rows[0]["map"]}
        row["tolerance_points"] = tol[art.meta.quantization]
        row["passed"] = all(abs(d) <= row["tolerance_points"] for d in row["delta_points"].values())
        rows.append(row)
    return {"index": str(index.path), "index_kind": index.manifest["kind"], "data": str(data_path),
            "checkpoint": str(ckpt), "queries": len(refs), "rows": rows,
            "passed": all(r["passed"] is not False for r in rows[1:])}


def format_table(result: dict[str, Any]) -> str:
    """The side-by-side table (mAP in percent, Δ in points)."""
    lines = [f"device-eval · {result['data']} · {result['queries']} queries → index {result['index']} "
             f"({result['index_kind']})",
             f"{'model':34}{'E':>7}{'M':>7}{'H':>7}{'ΔE':>7}{'ΔM':>7}{'ΔH':>7}{'cos med':>9}{'cos min':>9}  verdict"]
    for r in result["rows"]:
        name = Path(r["model"]).name
        if r.get("ran") is False:
            lines.append(f"{name:34}  not run: {r['reason']}")
            continue
        m = r["map"]
        vals = "".join(f"{100 * m.get(k, float('nan')):7.2f}" for k in ("easy", "medium", "hard"))
        if "delta_points" not in r:
            lines.append(f"{name:34}{vals}{'':21}{'':18}  reference")
            continue
        d = "".join(f"{r['delta_points'].get(k, float('nan')):+7.2f}" for k in ("easy", "medium", "hard"))
        verdict = ("PASS" if r["passed"] else "FAIL") + f" (|Δ| ≤ {r['tolerance_points']:g})"
        lines.append(f"{name:34}{vals}{d}{r['cosine']['median']:9.4f}{r['cosine']['min']:9.4f}  {verdict}")
    notes = {r["runtime_note"] for r in result["rows"] if r.get("runtime_note")}
    return "\n".join([*lines, *(f"note: {n}" for n in sorted(notes))])
