"""ONNX: `torch.onnx.export` (dynamo, opset 18, dynamic batch) run by onnxruntime; fp16 by
onnxruntime's float16 converter (float32 inputs/outputs kept); int8 by onnxruntime's static QDQ
quantisation (per-channel int8 weights, uint8 activations) calibrated on real images."""

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distill.models.net import RetrievalNet
from export.base import ExportFormat, conversion_error, cpu_has_vnni, need
from export.metadata import METADATA_KEY

HINT = "pip install 'asym-distill[export]' (onnx, onnxscript, onnxruntime)"
INPUT, OUTPUT = "image", "embedding"


def _export_fp32(model: RetrievalNet, out: Path) -> None:
    assert model.info is not None
    need("onnxscript", HINT)
    x = torch.zeros(2, 3, *model.info.preprocess.input_size)
    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        prog = torch.onnx.export(model.eval(), (x,), dynamo=True, opset_version=18, input_names=[INPUT],
                                 output_names=[OUTPUT], dynamic_shapes=({0: batch},), verbose=False)
        assert prog is not None
        prog.save(str(out), external_data=False)
    except Exception as e:  # the exporter raises many types; all become one line
        raise conversion_error("onnx", model, e) from e


class _Calibration:
    """onnxruntime CalibrationDataReader over preprocessed images, one per call."""

    def __init__(self, calib: np.ndarray) -> None:
        self.items = iter([{INPUT: calib[i: i + 1]} for i in range(len(calib))])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.items, None)


def convert(model: RetrievalNet, out: Path, quantization: str, calib: np.ndarray | None) -> None:
    """Write `out` (.onnx) at `quantization`."""
    onnx = need("onnx", HINT)
    if quantization == "fp32":
        _export_fp32(model, out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        _export_fp32(model, fp32)
        if quantization == "fp16":
            from onnxruntime.transformers.float16 import convert_float_to_float16

            onnx.save(convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True), str(out))
            return
        assert calib is not None
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)  # symbolic inference fails on Expand
        quantize_static(str(pre), str(out), _Calibration(calib), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def write_metadata(path: Path, text: str) -> None:
    """Store the metadata document in `metadata_props` (other properties kept)."""
    onnx = need("onnx", HINT)
    m = onnx.load(str(path))
    props = {p.key: p.value for p in m.metadata_props}
    props[METADATA_KEY] = text
    onnx.helper.set_model_props(m, props)
    onnx.save(m, str(path))


def read_metadata(path: Path) -> str | None:
    """The stored metadata document, or None."""
    ort = need("onnxruntime", HINT)
    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    return meta.custom_metadata_map.get(METADATA_KEY)


def describe(path: Path) -> dict[str, Any]:
    """Inputs and outputs as the runtime sees them."""
    ort = need("onnxruntime", HINT)
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return {"inputs": [{"name": i.name, "shape": i.shape, "dtype": i.type} for i in s.get_inputs()],
            "outputs": [{"name": o.name, "shape": o.shape, "dtype": o.type} for o in s.get_outputs()]}


SATURATION_NOTE = ("this x86 CPU has no VNNI: onnxruntime's fused u8s8 int8 kernels saturate here (demo student: "
                   "median cosine 0.978 instead of 0.997), so the QDQ graph runs unfused (graph optimisation "
                   "BASIC): the numbers are the quantised model's, the speed is not int8's")


class OnnxRunner:
    """onnxruntime CPU session; batches of any size. On x86 CPUs without VNNI a quantised model runs
    without the fused int8 kernels, which saturate there (see SATURATION_NOTE), unless `fused=True`."""

    def __init__(self, path: Path, threads: int = 0, fused: bool = False) -> None:
        ort = need("onnxruntime", HINT)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.note = ""
        if not fused and not cpu_has_vnni() and _is_quantized(path):
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            self.note = SATURATION_NOTE
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def embed(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(None, {self.input: np.ascontiguousarray(x, np.float32)})[0], np.float32)


def _is_quantized(path: Path) -> bool:
    onnx = need("onnx", HINT)
    return any(n.op_type == "QuantizeLinear" for n in onnx.load(str(path), load_external_data=False).graph.node)


FORMAT = ExportFormat("onnx", ".onnx", ("fp32", "fp16", "int8"), HINT, convert, write_metadata, read_metadata,
                      describe, OnnxRunner)
