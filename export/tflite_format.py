"""TFLite: `litert_torch.convert` (batch-1 graph, NCHW float input) run by ai-edge-litert; fp16 and
static int8 by ai-edge-quantizer on the float model (int8 artefacts take int8 input and give int8
output: the runner quantises/dequantises with the tensors' scale and zero point, as an app must)."""

import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distill.models.net import RetrievalNet
from export.base import ExportFormat, conversion_error, need
from export.metadata import METADATA_KEY

HINT = "pip install 'asym-distill[export]' (litert-torch, ai-edge-litert, ai-edge-quantizer)"
FP16_RECIPE = [{"regex": ".*", "operation": "*", "algorithm_key": "float_casting",
                "op_config": {"weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT", "symmetric": True,
                                                       "granularity": "TENSORWISE"},
                              "compute_precision": "FLOAT", "explicit_dequantize": True}}]

# int8 keeps GeM pooling in float (x^p under one int8 range loses the small activations that make up the
# mean; median cosine 0.9885 -> 0.9911 on the demo student), a few thousand of its ~0.39 G MACs.
# Tensor names are the module paths litert-torch writes (`...RetrievalNet/<class>_pool;N`); the
# quantizer matches an op's "<output names>;".
INT8_FLOAT_HEAD = r"RetrievalNet/[\w.]+_pool(;\d+)?;"
# From the head on (GeM's output re-quantised, the projection, the L2 normalisation, the output)
# activations take the full range seen in calibration (min/max over all images), not the quantizer's
# 0.95 moving average, which clips the embedding's largest coordinates (0.9911 -> 0.9930).
INT8_FULL_RANGE = r"RetrievalNet(/[\w.]+_(pool|proj))?(;\d+)?$|^serving_default_output"


def int8_recipe() -> list[dict[str, Any]]:
    """Static int8 (channelwise int8 weights, int8 activations) with the head kept in float."""
    recipe_manager = need("ai_edge_quantizer.recipe_manager", HINT)
    qtyping = need("ai_edge_quantizer.qtyping", HINT)
    ops = qtyping.TFLOperationName.ALL_SUPPORTED
    rm = recipe_manager.RecipeManager()
    rm.add_static_config(regex=".*", operation_name=ops, activation_num_bits=8, weight_num_bits=8)
    rm.add_quantization_config(regex=INT8_FLOAT_HEAD, operation_name=ops, algorithm_key="no_quantize")
    return list(rm.get_quantization_recipe())


def calibrate(q: Any, signature: str, name: str, calib: np.ndarray) -> dict[str, Any]:
    """Activation ranges of `calib` (N×3×H×W): the moving average, but the full range on the output chain."""
    samples = [{name: calib[i: i + 1]} for i in range(len(calib))]
    result = dict(q.calibrate({signature: samples}))
    per_image = [q.calibrate({signature: [s]}) for s in samples]
    for tensor, qsv in result.items():
        if re.search(INT8_FULL_RANGE, tensor) and "min" in qsv:
            result[tensor] = {**qsv, "min": np.min([p[tensor]["min"] for p in per_image], axis=0),
                              "max": np.max([p[tensor]["max"] for p in per_image], axis=0)}
    return result


def _export_fp32(model: RetrievalNet, out: Path) -> None:
    assert model.info is not None
    litert_torch = need("litert_torch", HINT)
    x = torch.zeros(1, 3, *model.info.preprocess.input_size)
    try:
        litert_torch.convert(model.eval(), (x,)).export(str(out))
    except Exception as e:  # the converter raises many types; all become one line
        raise conversion_error("tflite", model, e) from e


def convert(model: RetrievalNet, out: Path, quantization: str, calib: np.ndarray | None) -> None:
    """Write `out` (.tflite) at `quantization`."""
    if quantization == "fp32":
        _export_fp32(model, out)
        return
    quantizer = need("ai_edge_quantizer.quantizer", HINT)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.tflite"
        _export_fp32(model, fp32)
        q = quantizer.Quantizer(str(fp32))
        if quantization == "fp16":
            q.load_quantization_recipe(FP16_RECIPE)
            result = q.quantize()
        else:
            assert calib is not None
            q.load_quantization_recipe(int8_recipe())
            signature, names = _signature(fp32)
            result = q.quantize(calibrate(q, signature, names[0], calib))
        result.export_model(str(out), overwrite=True)


def _signature(path: Path) -> tuple[str, list[str]]:
    interp = need("ai_edge_litert.interpreter", HINT).Interpreter(model_path=str(path))
    (name, sig), = interp.get_signature_list().items()
    return name, list(sig["inputs"])


def write_metadata(path: Path, text: str) -> None:
    """Append the metadata document as a named buffer (the TFLite `metadata` table)."""
    fb = need("ai_edge_litert.tools.flatbuffer_utils", HINT)
    schema = need("ai_edge_litert.schema_py_generated", HINT)
    model = fb.read_model(str(path))
    model.metadata = [m for m in (model.metadata or []) if m.name.decode() != METADATA_KEY]
    buf = schema.BufferT()
    buf.data = np.frombuffer(text.encode(), np.uint8)
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_KEY.encode(), len(model.buffers) - 1
    model.metadata.append(entry)
    fb.write_model(model, str(path))


def read_metadata(path: Path) -> str | None:
    """The stored metadata document, or None."""
    fb = need("ai_edge_litert.tools.flatbuffer_utils", HINT)
    model = fb.read_model(str(path))
    for m in model.metadata or []:
        if m.name.decode() == METADATA_KEY:
            return bytes(np.asarray(model.buffers[m.buffer].data, np.uint8)).decode()
    return None


def describe(path: Path) -> dict[str, Any]:
    """Inputs and outputs as the interpreter sees them (with int8 scale/zero point)."""
    interp = need("ai_edge_litert.interpreter", HINT).Interpreter(model_path=str(path))

    def tensor(d: dict[str, Any]) -> dict[str, Any]:
        scale, zero = d["quantization"]
        return {"name": d["name"], "shape": d["shape"].tolist(), "dtype": np.dtype(d["dtype"]).name,
                **({"scale": float(scale), "zero_point": int(zero)} if scale else {})}

    return {"inputs": [tensor(d) for d in interp.get_input_details()],
            "outputs": [tensor(d) for d in interp.get_output_details()]}


class TfliteRunner:
    """ai-edge-litert interpreter (XNNPACK on CPU); one image per invocation (batch-1 graph)."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        mod = need("ai_edge_litert.interpreter", HINT)
        self.note = ""
        self.interp = mod.Interpreter(model_path=str(path), num_threads=threads or None)
        self.interp.allocate_tensors()
        self.inp, self.out = self.interp.get_input_details()[0], self.interp.get_output_details()[0]

    def embed(self, x: np.ndarray) -> np.ndarray:
        rows = []
        for i in range(len(x)):
            self.interp.set_tensor(self.inp["index"], _quantize(x[i: i + 1], self.inp))
            self.interp.invoke()
            rows.append(_dequantize(self.interp.get_tensor(self.out["index"]), self.out))
        return np.concatenate(rows).astype(np.float32)


def _quantize(x: np.ndarray, d: dict[str, Any]) -> np.ndarray:
    scale, zero = d["quantization"]
    if not scale:
        return np.ascontiguousarray(x, np.float32)
    info = np.iinfo(d["dtype"])
    return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(d["dtype"])


def _dequantize(y: np.ndarray, d: dict[str, Any]) -> np.ndarray:
    scale, zero = d["quantization"]
    return (y.astype(np.float32) - zero) * scale if scale else y.astype(np.float32)


FORMAT = ExportFormat("tflite", ".tflite", ("fp32", "fp16", "int8"), HINT, convert, write_metadata, read_metadata,
                      describe, TfliteRunner)
