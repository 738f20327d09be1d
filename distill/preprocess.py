"""The preprocessing config (`PreprocessConfig`): what readers, models and artefacts agree on."""

from dataclasses import asdict, dataclass
from typing import Any

from distill.errors import DistillError


@dataclass(frozen=True)
class PreprocessConfig:
    """How an image becomes the network input; travels with the model (cache, checkpoint, export).

    The whole RGB image is resized to `input_size` (H, W) without cropping ("squash"), so no part of
    the scene is lost, converted to [0, 1], then normalised with `mean`/`std` per channel.
    """

    input_size: tuple[int, int] = (224, 224)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"
    resize: str = "squash"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PreprocessConfig":
        """Inverse of `to_dict`; unknown keys are an error."""
        try:
            return cls(
                input_size=tuple(d["input_size"]),
                mean=tuple(d["mean"]),
                std=tuple(d["std"]),
                interpolation=str(d.get("interpolation", "bilinear")),
                resize=str(d.get("resize", "squash")),
            )
        except (KeyError, TypeError) as e:
            raise DistillError(f"preprocessing config {d!r}: expected input_size, mean, std ({e})") from None
