"""Numeric precision of network passes: float32, or autocast to a half type where the device computes it
natively. Weights stay float32; only the network runs in half precision, and its output rows are
renormalised in float32 (`unit_rows`).

`auto` chooses per kind of pass:
- passes without gradients (view caches, the frozen trunk's output, projection-fit features, held-out
  views): bf16 on CUDA; fp16 on a CPU whose oneDNN has native fp16 kernels (AVX512-FP16 or AMX-FP16;
  on such a CPU EfficientNet-Lite2 runs about 2x faster with rows at cosine >= 0.9997 to float32, where
  bf16's 8-bit mantissa gives a median of 0.997 and a minimum of 0.97: bench/precision.py, README
  "Precision"); else fp32;
- training steps: bf16 on CUDA, fp32 on CPUs (bf16 steps measured slower there, fp16 gradients would need
  loss scaling).
"""

import torch

from distill.errors import DistillError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def native_half(device: torch.device) -> str | None:
    """The half type `device` computes natively ('bf16' on CUDA, 'fp16' on CPUs with oneDNN fp16 kernels),
    or None."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else None
    if device.type != "cpu":
        return None
    try:  # oneDNN's own probe (AVX512-FP16 / AMX-FP16); absent from builds without oneDNN
        return "fp16" if torch.ops.mkldnn._is_mkldnn_fp16_supported() else None
    except (AttributeError, RuntimeError):
        return None


def resolve_precision(precision: str, device: torch.device, training: bool = False) -> str:
    """'fp32', 'bf16' or 'fp16' for a requested precision; `training`: the precision of steps with gradients."""
    if precision not in PRECISIONS:
        raise DistillError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and training:
        raise DistillError("precision fp16: training steps run in bf16 or fp32 (fp16 gradients would need loss "
                           "scaling); use auto (fp16 passes without gradients where native, fp32 steps)")
    if precision != "auto":
        return precision
    half = native_half(device)
    if training:
        return "bf16" if half == "bf16" else "fp32"
    return half or "fp32"


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """Autocast on `device` to the resolved `precision`'s half type (disabled for 'fp32'). Keep view rendering
    outside it: under autocast its sampling grid loses whole pixels."""
    dtype = DTYPES.get(precision, torch.float32)
    return torch.autocast(device.type, dtype=dtype, enabled=precision in DTYPES)


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows rescaled to unit length in float32 (a half-precision graph normalises only to its precision);
    a row that overflowed is an error, never a silently wrong embedding."""
    x = x.float()
    if not bool(torch.isfinite(x).all()):
        raise DistillError("the network's output overflowed in half precision (inf/NaN rows); "
                           "run with --precision fp32")
    return torch.nn.functional.normalize(x, dim=1)
