"""One export: checkpoint → budget check → artefact (+ metadata) → fidelity → report."""

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from distill.cache import load_cache
from distill.checkpoint import student_from_checkpoint
from distill.errors import DistillError
from distill.models import create_model
from export.artifact import open_artifact
from export.budget import Cost, check_budget, model_cost
from export.calib import image_refs, load_inputs, sample_refs
from export.fidelity import check_fidelity, require_space
from export.formats import get_format
from export.metadata import build_metadata
from export.report import artifact_size, write_report


@dataclass
class ExportRequest:
    """What `distill export FORMAT` was asked to do."""

    format: str
    ckpt: str
    out: str
    calib: str
    quantize: str = "fp32"
    calib_count: int = 128
    budget_gflops: float | None = None
    budget_mparams: float | None = None
    eval_data: str | None = None
    eval_teacher_cache: str | None = None
    seed: int = 0


def teacher_cost(state: dict[str, Any]) -> Cost | None:
    """The teacher's cost at its own input size (architecture only: no weights are loaded)."""
    name = (state.get("teacher_manifest") or {}).get("teacher")
    if not name:
        return None
    return model_cost(create_model(name, pretrained=False))


def export_student(req: ExportRequest) -> dict[str, Any]:
    """Run the whole export; returns the report (also written beside the artefact).

    Raises DistillError (one line) for bad input, a budget overrun, or fidelity below target (the
    artefact and its report are kept so the numbers can be read)."""
    fmt = get_format(req.format)
    if req.quantize not in fmt.quantizations:
        raise DistillError(f"--quantize {req.quantize}: {fmt.name} supports {', '.join(fmt.quantizations)}")
    if (req.eval_data is None) != (req.eval_teacher_cache is None):
        raise DistillError("--eval-data and --eval-teacher-cache go together (benchmark queries, teacher database)")
    model, state = student_from_checkpoint(req.ckpt)
    model = model.cpu()
    assert model.info is not None
    student, teacher = model_cost(model), teacher_cost(state)
    check_budget(student, req.budget_gflops, req.budget_mparams)
    meta = build_metadata(model, state, req.ckpt, fmt.name, req.quantize)
    if req.eval_teacher_cache:
        require_space(load_cache(req.eval_teacher_cache)[1], meta, req.eval_teacher_cache)
    refs = sample_refs(image_refs(req.calib), req.calib_count, req.seed)
    calib = load_inputs(refs, model.info.preprocess)
    out_dir = Path(req.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"student_{req.quantize}{fmt.suffix}"
    tmp = out_dir / f".partial-{final.name}"
    _remove(tmp)
    fmt.convert(model, tmp, req.quantize, calib)
    fmt.write_metadata(tmp, meta.to_json())
    _remove(final)
    tmp.rename(final)  # a crash before this leaves no half-written artefact under the final name
    artifact = open_artifact(final)
    io = fmt.describe(final)
    check_io(io, artifact.meta.input_size, artifact.meta.dim, final)
    fidelity = check_fidelity(artifact, model, refs, req.eval_data, req.eval_teacher_cache)
    report = {"artifact": str(final), "format": fmt.name, "size_bytes": artifact_size(final),
              "metadata": asdict(artifact.meta), "io": io, "request": asdict(req),
              "cost": {"student": student.to_dict(), "teacher": teacher.to_dict() if teacher else None},
              "calibration_images": len(refs), "fidelity": fidelity}
    files = write_report(final, report, student, teacher)
    report["files"] = [str(p) for p in files]
    if fidelity["passed"] is False:
        raise DistillError(f"{final}: fidelity below the {req.quantize} target (see {files[1]})")
    return report


def check_io(io: dict[str, Any], input_size: list[int], dim: int, where: Path) -> None:
    """The artefact's one input is ?×3×H×W and its one output ?×dim, as the metadata says."""
    ins, outs = io["inputs"], io["outputs"]
    if len(ins) != 1 or len(outs) != 1:
        raise DistillError(f"{where}: expected one input and one output, found {len(ins)} and {len(outs)}")
    shape_in, shape_out = list(ins[0]["shape"]), list(outs[0]["shape"])
    if shape_in[1:] != [3, *input_size] or shape_out[-1:] != [dim]:
        raise DistillError(f"{where}: input {shape_in} / output {shape_out} do not match the metadata "
                           f"(?×3×{input_size[0]}×{input_size[1]} → ?×{dim})")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
