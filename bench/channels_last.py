"""NCHW vs channels-last (NHWC) on this CPU, side by side in one process: teacher inference (the view
cache's cost) and a student training step (the training loop's cost). Outputs are compared too.

Run: `.venv/bin/python bench/channels_last.py [repeat]` (needs the packaged weights; no data)."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import seconds

from distill.encode import channels_last, fast_layout
from distill.models import create_model
from distill.train.optim import freeze_batchnorm


def main(argv: list[str] | None = None) -> int:
    """Time both layouts on the same inputs and print the speed-ups."""
    repeat = int((argv or sys.argv[1:] or ["3"])[0])
    torch.manual_seed(0)
    x = torch.randn(32, 3, 260, 260)
    nchw = create_model("efficientnet_lite2_gem").eval()
    nhwc = fast_layout(create_model("efficientnet_lite2_gem").eval())
    with torch.inference_mode():
        t_a = seconds(lambda: nchw(x), repeat)
        t_b = seconds(lambda: nhwc(channels_last(x)), repeat)
        diff = float((nchw(x) - nhwc(channels_last(x))).abs().max())
    print(f"teacher efficientnet_lite2_gem @260, batch 32, {torch.get_num_threads()} threads")
    print(f"  NCHW {32 / t_a:6.1f} img/s   NHWC {32 / t_b:6.1f} img/s   speed-up {t_a / t_b:.2f}×   max |Δ| {diff:.1e}")
    s = torch.randn(32, 3, 224, 224)
    times = []
    for fast in (False, True):
        model = create_model("efficientnet_lite0_gem", projection=True, dim=1280).train()
        freeze_batchnorm(model)  # as the training loop does
        inp = s
        if fast:
            model, inp = fast_layout(model), channels_last(s)
        opt = torch.optim.AdamW(model.parameters(), lr=0.0)

        def step(model: torch.nn.Module = model, inp: torch.Tensor = inp, opt: torch.optim.Optimizer = opt) -> None:
            opt.zero_grad()
            model(inp).sum().backward()
            opt.step()

        times.append(seconds(step, repeat))
    print("student efficientnet_lite0_gem @224 + projection, training step of 32 views (BatchNorm frozen)")
    print(f"  NCHW {32 / times[0]:6.1f} img/s   NHWC {32 / times[1]:6.1f} img/s   speed-up {times[0] / times[1]:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
