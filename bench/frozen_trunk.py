"""What a frozen trunk saves: one lite0 training step of 32 views (BatchNorm frozen, channels-last, AdamW),
whole network vs only the stages after a frozen trunk whose output was cached (`--freeze-stages K`),
side by side in one process on the same inputs. Also the one-off cost of caching the trunk's output.

Run: `.venv/bin/python bench/frozen_trunk.py [repeat]` (needs the packaged weights; no data)."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import seconds

from distill.encode import channels_last, fast_layout
from distill.models import create_model
from distill.models.trunk import num_stages, split_frozen
from distill.train.optim import freeze_batchnorm


def step_seconds(stages: int, images: torch.Tensor, repeat: int) -> tuple[float, float, int]:
    """(seconds per training step, seconds to run the trunk once on the batch, floats cached per view)."""
    torch.manual_seed(0)
    model = fast_layout(create_model("efficientnet_lite0_gem", projection=True, dim=1280)).train()
    freeze_batchnorm(model)
    forward: torch.nn.Module = model
    inp, trunk_s, per_view = images, 0.0, 0
    if stages:
        trunk, forward = split_frozen(model, stages)
        with torch.no_grad():  # not inference_mode: its tensors cannot enter the timed backward pass
            trunk_s = seconds(lambda: trunk(images), repeat)
            inp = channels_last(trunk(images).half().float())
        per_view = inp[0].numel()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.0)

    def step() -> None:
        opt.zero_grad()
        forward(inp).sum().backward()
        opt.step()

    return seconds(step, repeat), trunk_s, per_view


def main(argv: list[str] | None = None) -> int:
    """Time the whole step and each frozen split; print the speed-ups."""
    repeat = int((argv or sys.argv[1:] or ["3"])[0])
    images = channels_last(torch.randn(32, 3, 224, 224))
    n = num_stages(create_model("efficientnet_lite0_gem", pretrained=False))
    print(f"efficientnet_lite0_gem @224 + projection, step of 32 views, {torch.get_num_threads()} threads")
    base, _, _ = step_seconds(0, images, repeat)
    print(f"  frozen stages 0 (whole network): {base:.3f} s/step  {32 / base:6.1f} views/s")
    for k in range(1, n):
        t, trunk_s, per_view = step_seconds(k, images, repeat)
        print(f"  frozen stages {k}: {t:.3f} s/step  {32 / t:6.1f} views/s  speed-up {base / t:.2f}×   "
              f"trunk once {32 / trunk_s:6.1f} views/s, cache {per_view * 2 / 1024:.0f} KiB/view (float16)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
