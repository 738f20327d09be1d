"""Core ML: `torch.export` → coremltools `mlprogram` (.mlpackage, iOS 16+), fp32 or fp16 compute, int8
by linear symmetric per-channel weight quantisation. Prediction exists only on macOS: elsewhere the
runner raises `CannotRun` and the report says the fidelity check was not run (never faked)."""

import platform
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distill.models.net import RetrievalNet
from export.base import CannotRun, ExportFormat, conversion_error, need
from export.metadata import METADATA_KEY

HINT = "pip install 'asym-distill[export]' (coremltools)"
INPUT, OUTPUT = "image", "embedding"


def convert(model: RetrievalNet, out: Path, quantization: str, calib: np.ndarray | None) -> None:
    """Write `out` (.mlpackage) at `quantization` (calibration is not needed: int8 is weight-only)."""
    assert model.info is not None
    ct = need("coremltools", HINT)
    shape = (1, 3, *model.info.preprocess.input_size)
    try:
        prog = torch.export.export(model.eval(), (torch.zeros(shape),)).run_decompositions({})
        precision = ct.precision.FLOAT32 if quantization == "fp32" else ct.precision.FLOAT16
        ml = ct.convert(prog, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
                        compute_precision=precision, inputs=[ct.TensorType(name=INPUT, shape=shape)],
                        outputs=[ct.TensorType(name=OUTPUT)])
        if quantization == "int8":
            from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

            config = OptimizationConfig(global_config=OpLinearQuantizerConfig(mode="linear_symmetric",
                                                                              granularity="per_channel"))
            ml = linear_quantize_weights(ml, config)
    except Exception as e:  # the converter raises many types; all become one line
        raise conversion_error("coreml", model, e) from e
    if out.exists():
        shutil.rmtree(out)
    ml.save(str(out))


def _load(path: Path, compile_model: bool = False) -> Any:
    ct = need("coremltools", HINT)
    return ct.models.MLModel(str(path), skip_model_load=not compile_model)


def write_metadata(path: Path, text: str) -> None:
    """Store the metadata document in `user_defined_metadata` and re-save the package."""
    ml = _load(path)
    ml.user_defined_metadata[METADATA_KEY] = text
    tmp = path.with_name(".metadata-" + path.name)  # keeps the .mlpackage suffix coremltools requires
    ml.save(str(tmp))
    shutil.rmtree(path)
    tmp.rename(path)


def read_metadata(path: Path) -> str | None:
    """The stored metadata document, or None."""
    return dict(_load(path).get_spec().description.metadata.userDefined).get(METADATA_KEY)


def describe(path: Path) -> dict[str, Any]:
    """Inputs and outputs from the model spec (readable on any platform)."""
    desc = _load(path).get_spec().description

    def feature(f: Any) -> dict[str, Any]:
        arr = f.type.multiArrayType
        return {"name": f.name, "shape": list(arr.shape), "dtype": type(arr).ArrayDataType.Name(arr.dataType).lower()}

    return {"inputs": [feature(f) for f in desc.input], "outputs": [feature(f) for f in desc.output]}


class CoremlRunner:
    """Core ML prediction, one image per call (macOS only)."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        if platform.system() != "Darwin":
            raise CannotRun(f"Core ML prediction needs macOS (this is {platform.system()}); the spec, shapes and "
                            f"metadata of {path.name} were checked, its outputs were not")
        self.model = _load(path, compile_model=True)
        self.note = ""

    def embed(self, x: np.ndarray) -> np.ndarray:
        rows = [np.asarray(self.model.predict({INPUT: x[i: i + 1]})[OUTPUT], np.float32) for i in range(len(x))]
        return np.concatenate(rows)


FORMAT = ExportFormat("coreml", ".mlpackage", ("fp32", "fp16", "int8"), HINT, convert, write_metadata,
                      read_metadata, describe, CoremlRunner)
