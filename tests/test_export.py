"""Export: each format converted from a real (tiny) checkpoint, run by its own runtime and compared with
PyTorch; metadata read back; FLOPs against published counts; budget and bad-input errors."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import timm
import torch

from distill.cache import build_cache
from distill.checkpoint import student_from_checkpoint
from distill.cli import main
from distill.compat import compat_key
from distill.data import open_dataset
from distill.errors import DistillError
from distill.models import create_model
from export import onnx_format, tflite_format
from export.artifact import open_artifact
from export.budget import check_budget, count_cost
from export.calib import image_refs, load_inputs
from export.pipeline import ExportRequest, export_student

pytestmark = pytest.mark.integration  # real conversions run by their runtimes


@pytest.fixture(scope="module")
def run(tiny_asym_run: dict[str, Path]) -> dict[str, Path]:
    return tiny_asym_run


def pytorch_embeddings(ckpt: Path, x: np.ndarray) -> np.ndarray:
    model, _ = student_from_checkpoint(ckpt)
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def calib_inputs(run: dict[str, Path]) -> np.ndarray:
    model, _ = student_from_checkpoint(run["ckpt"])
    assert model.info is not None
    return load_inputs(image_refs(run["calib"]), model.info.preprocess)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_onnx_fp32_matches_pytorch_and_carries_its_metadata(run: dict[str, Path], tmp_path: Path) -> None:
    report = export_student(ExportRequest("onnx", str(run["ckpt"]), str(tmp_path), str(run["calib"]),
                                          eval_data=str(run["bench"]), eval_teacher_cache=str(run["bench_cache"])))
    path = tmp_path / "student_fp32.onnx"
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = calib_inputs(run)
    got = session.run(None, {"image": x[:5]})[0]  # a batch of 5: the batch dimension is dynamic
    ref = pytorch_embeddings(run["ckpt"], x[:5])
    assert np.abs(got - ref).max() < 1e-5
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # normalised inside the graph
    meta = json.loads(session.get_modelmeta().custom_metadata_map["asym_distill"])
    teacher = json.loads((run["cache"] / "manifest.json").read_text())
    assert meta["compat_key"] == compat_key(teacher["teacher"], teacher["weights_sha256"], 256)
    assert (meta["student"], meta["dim"], meta["input_size"], meta["quantization"]) == ("tiny_test_gem", 256,
                                                                                         [64, 64], "fp32")
    bench = report["fidelity"]["benchmark"]
    assert report["fidelity"]["passed"] and all(abs(d) < 1e-6 for d in bench["delta_points"].values())
    assert Path(report["files"][1]).read_text().count("PASS") == 1


def test_onnx_int8_is_quantised_and_close(run: dict[str, Path], tmp_path: Path) -> None:
    export_student(ExportRequest("onnx", str(run["ckpt"]), str(tmp_path), str(run["calib"]), quantize="int8"))
    import onnx

    path = tmp_path / "student_int8.onnx"
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    art = open_artifact(path)
    x = calib_inputs(run)
    cos = cosines(art.runner().embed(x), pytorch_embeddings(run["ckpt"], x))
    assert np.median(cos) > 0.99
    export_student(ExportRequest("onnx", str(run["ckpt"]), str(tmp_path), str(run["calib"])))
    fp32_size, int8_size = (tmp_path / "student_fp32.onnx").stat().st_size, path.stat().st_size
    assert int8_size < 0.5 * fp32_size, (int8_size, fp32_size)  # 0.44× here (Q/DQ overhead on a tiny net), 0.28× lite0


@pytest.mark.parametrize("quantize", ["fp32", "int8"])
def test_tflite_runs_in_litert_and_matches_pytorch(run: dict[str, Path], tmp_path: Path, quantize: str) -> None:
    export_student(ExportRequest("tflite", str(run["ckpt"]), str(tmp_path), str(run["calib"]), quantize=quantize))
    from ai_edge_litert.interpreter import Interpreter

    path = tmp_path / f"student_{quantize}.tflite"
    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    x = calib_inputs(run)[:4]
    rows = []
    for xi in x:
        if quantize == "int8":  # the app's job with an int8 artefact: quantise the input, dequantise the output
            assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
            (s_in, z_in), (s_out, z_out) = inp["quantization"], out["quantization"]
            interp.set_tensor(inp["index"], np.clip(np.round(xi[None] / s_in) + z_in, -128, 127).astype(np.int8))
            interp.invoke()
            rows.append((interp.get_tensor(out["index"]).astype(np.float32) - z_out) * s_out)
        else:
            interp.set_tensor(inp["index"], xi[None])
            interp.invoke()
            rows.append(interp.get_tensor(out["index"]))
    cos = cosines(np.concatenate(rows), pytorch_embeddings(run["ckpt"], x))
    assert cos.min() > (0.99999 if quantize == "fp32" else 0.98)
    assert open_artifact(path).meta.quantization == quantize


def test_tflite_int8_keeps_gem_in_float_and_the_rest_int8(run: dict[str, Path], tmp_path: Path) -> None:
    export_student(ExportRequest("tflite", str(run["ckpt"]), str(tmp_path), str(run["calib"]), quantize="int8"))
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(tmp_path / "student_int8.tflite"))
    ops = [o for o in interp._get_ops_details() if o["op_name"] != "DELEGATE"]

    def in_dtype(op: dict[str, Any]) -> type:
        return interp._get_tensor_details(int(op["inputs"][0]), 0)["dtype"]

    pows = [o for o in ops if o["op_name"] == "POW"]  # GeM: (mean x^p)^(1/p), the graph's only POWs
    mean = [o for o in ops if o["op_name"] == "MEAN" and o["inputs"][0] == pows[0]["outputs"][0]]
    assert len(pows) == 2 and len(mean) == 1 and all(in_dtype(o) == np.float32 for o in pows + mean)
    weighted = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
    assert all(in_dtype(o) == np.int8 for o in ops if o["op_name"] in weighted)
    assert interp.get_output_details()[0]["dtype"] == np.int8  # the app still receives int8


def test_int8_calibration_takes_the_full_range_on_the_output_chain_only() -> None:
    """The quantizer's moving average is kept for the backbone; the head's tensors get min/max over images."""
    per_image = {0: {"min": -1.0, "max": 2.0}, 1: {"min": -3.0, "max": 1.0}, 2: {"min": -0.5, "max": 0.5}}
    names = ["m.RetrievalNet/timm.Conv2d_conv_head;3", "m.RetrievalNet/m.Linear_proj;2", "m.RetrievalNet;4",
             "serving_default_output_0_output"]

    class Quantizer:
        def calibrate(self, data: dict[str, list[dict[str, np.ndarray]]]) -> dict[str, dict[str, np.ndarray]]:
            (samples,) = data.values()
            if len(samples) > 1:  # the whole set: what the moving average gave
                return {n: {"min": np.array([-0.9]), "max": np.array([0.9])} for n in names}
            q = per_image[int(samples[0]["x"].ravel()[0])]
            return {n: {"min": np.array([q["min"]]), "max": np.array([q["max"]])} for n in names}

    calib = np.arange(3, dtype=np.float32).reshape(3, 1, 1, 1)
    got = tflite_format.calibrate(Quantizer(), "sig", "x", calib)
    assert got[names[0]]["min"] == -0.9 and got[names[0]]["max"] == 0.9  # backbone: unchanged
    for n in names[1:]:
        assert got[n]["min"] == -3.0 and got[n]["max"] == 2.0


def test_coreml_spec_and_metadata_checked_prediction_not_faked(run: dict[str, Path], tmp_path: Path) -> None:
    report = export_student(ExportRequest("coreml", str(run["ckpt"]), str(tmp_path), str(run["calib"]),
                                          quantize="fp16"))
    assert report["io"]["inputs"][0]["shape"] == [1, 3, 64, 64] and report["io"]["outputs"][0]["name"] == "embedding"
    assert open_artifact(tmp_path / "student_fp16.mlpackage").meta.compat_key == report["metadata"]["compat_key"]
    if sys.platform != "darwin":
        assert report["fidelity"]["ran"] is False and "macOS" in report["fidelity"]["reason"]
        assert report["fidelity"]["passed"] is None


def test_flop_counter_matches_published_counts() -> None:
    resnet = count_cost(timm.create_model("resnet101", pretrained=False), (224, 224))
    effb3 = count_cost(timm.create_model("efficientnet_b3", pretrained=False), (300, 300))
    assert resnet.gmacs == pytest.approx(7.8, rel=0.02) and resnet.mparams == pytest.approx(44.5, rel=0.01)
    assert effb3.gmacs == pytest.approx(1.8, rel=0.03) and effb3.mparams == pytest.approx(12.2, rel=0.01)


def test_budget_fails_the_export_with_one_line(run: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cost = count_cost(create_model("tiny_test_gem", pretrained=False), (64, 64), "tiny")
    with pytest.raises(DistillError, match=r"over budget: .* GFLOPs > budget 0\.001"):
        check_budget(cost, 0.001, None)
    code = main(["export", "onnx", "--ckpt", str(run["ckpt"]), "--calib", str(run["calib"]),
                 "--budget-mparams", "0.01", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "M parameters > budget 0.01" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing was written


@pytest.mark.parametrize("case", ["not-a-checkpoint", "missing-calib", "other-teacher"])
def test_bad_input_is_one_line(run: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               case: str) -> None:
    ckpt, calib = str(run["ckpt"]), str(run["calib"])
    extra: list[str] = []
    if case == "not-a-checkpoint":
        ckpt = str(tmp_path / "weights.pt")
        torch.save(create_model("tiny_test_gem", pretrained=False).state_dict(), ckpt)
        expected = "not a distill checkpoint"
    elif case == "missing-calib":
        calib, expected = str(tmp_path / "nowhere"), "calibration data not found"
    else:
        other = build_cache(create_model("tiny_test_gem", pretrained=False, dim=256, projection=True),
                            open_dataset(run["bench"]), tmp_path / "other")
        manifest = json.loads((other / "manifest.json").read_text())
        manifest.update(teacher="efficientnet_lite2_gem", weights_sha256="0" * 64)
        (other / "manifest.json").write_text(json.dumps(manifest))
        extra, expected = ["--eval-data", str(run["bench"]), "--eval-teacher-cache", str(other)], "is not the space"
    code = main(["export", "onnx", "--ckpt", ckpt, "--calib", calib, "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and expected in errors[0] and "Traceback" not in err
    assert not (tmp_path / "out" / "student_fp32.onnx").exists()


def test_unsupported_op_is_a_one_line_conversion_error(tmp_path: Path) -> None:
    class Eigen(torch.nn.Module):  # eigenvalues of the channel Gram matrix: no ONNX lowering
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = x.flatten(2)
            return torch.linalg.eigvalsh(f @ f.transpose(1, 2))

    model = create_model("tiny_test_gem", pretrained=False)
    model.pool = Eigen()
    with pytest.raises(DistillError, match=r"^onnx conversion of tiny_test_gem failed \(\w+: [^\n]*\)"):
        onnx_format.convert(model, tmp_path / "m.onnx", "fp32", None)


def test_python_dash_m_export_inspect(run: dict[str, Path], tmp_path: Path) -> None:
    export_student(ExportRequest("onnx", str(run["ckpt"]), str(tmp_path), str(run["calib"]), quantize="fp16"))
    out = subprocess.run([sys.executable, "-m", "export", "inspect", str(tmp_path / "student_fp16.onnx")],
                         capture_output=True, text=True, check=True)
    info = json.loads(out.stdout)
    assert info["metadata"]["quantization"] == "fp16" and info["io"]["outputs"][0]["shape"] == ["batch", 256]
