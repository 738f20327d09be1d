"""Training configuration: defaults < YAML `--config` < command-line flags; the resolved form is
saved in the run folder and a resume must match it."""

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from distill.errors import DistillError
from distill.io import atomic_write
from distill.precision import PRECISIONS


@dataclass
class TrainConfig:
    """Everything that determines a training run (and so must not change across a resume)."""

    data: str = ""
    student: str = "efficientnet_lite0_gem"
    teacher_cache: str | None = None
    teacher: str | None = None  # preset; read from the cache manifest when not given
    split: str = "train"
    loss: str = "contrastive_plus"
    loss_params: dict[str, Any] = field(default_factory=dict)
    mode: str = "asym"
    mining: str = "hard"
    nnum: int = 5  # negatives per tuple
    pool_size: int = 2000  # hard mining pool
    refresh_every: int = 0  # steps between miner refreshes; 0 = once per epoch
    samples_per_class: int = 4  # class sets: K images per class in a batch
    epochs: int = 5
    batch_size: int = 8  # tuples (tuple sets) or images (class sets) per step
    lr: float = 1e-5
    head_lr_mult: float = 10.0  # GeM p and the projection learn faster than the backbone (as cirtorch's pool)
    weight_decay: float = 1e-6
    schedule: str = "cosine"  # or "constant"
    projection_init: str = "lstsq"  # asym: ridge fit of the projection to the teacher ("lstsq") or "random"
    dim: int | None = None  # student output dim; default: the teacher's (asym) or the backbone's (sym)
    eval_data: str | None = None
    eval_teacher_cache: str | None = None
    eval_every: int = 1  # epochs
    checkpoint_every: int = 0  # steps; 0 = end of each epoch only
    seed: int = 0
    teacher_online: bool = False
    pretrained: bool = True
    max_steps: int | None = None  # stop early (smoke runs); counted in steps
    # function matching on consistent views (on when the teacher cache is a view cache, or `views`)
    views: bool = False
    views_per_photo: int = 2  # views of each photo in a batch (the others are its positives)
    heldout_photos: float = 0.1  # share of the pool's photos held out (by photo) for λ and best.pt
    photo_size: int = 384  # side of the square uint8 photos views are rendered from (online teacher)
    projection_views: int = 8192  # training views the projection's ridge fit uses (view training)
    freeze_stages: int = 0  # backbone stages (after the stem) kept frozen; cached views: their output computed once
    device: str | None = None  # cuda | cpu; default: cuda when present
    precision: str = "auto"  # autocast of passes and steps: auto | fp32 | bf16 | fp16 (distill.precision)
    optimizer: str = "adam"  # or adamw
    warmup_steps: int = 0
    test_data: str | None = None  # revisited test set reported once before and once after training
    test_teacher_cache: str | None = None


def config_from_sources(yaml_path: str | None, overrides: dict[str, Any]) -> TrainConfig:
    """Defaults, then the YAML file's keys, then `overrides` (flags actually given: not None)."""
    values: dict[str, Any] = {}
    if yaml_path:
        values.update(read_yaml(yaml_path))
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise DistillError(f"{yaml_path or 'config'}: unknown key(s) {unknown}; expected some of {sorted(known)}")
    cfg = TrainConfig(**values)
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """One-line errors for values that cannot work."""
    if not cfg.data:
        raise DistillError("train: --data is required (a SfM-120k-format pickle or a class set)")
    if cfg.mode not in ("sym", "asym"):
        raise DistillError(f"mode {cfg.mode!r}: expected 'sym' or 'asym'")
    if cfg.projection_init not in ("lstsq", "random"):
        raise DistillError(f"projection_init {cfg.projection_init!r}: expected 'lstsq' or 'random'")
    if cfg.optimizer not in ("adam", "adamw"):
        raise DistillError(f"optimizer {cfg.optimizer!r}: expected 'adam' or 'adamw'")
    if cfg.device not in (None, "cpu", "cuda") and not str(cfg.device).startswith("cuda:"):
        raise DistillError(f"device {cfg.device!r}: expected 'cpu' or 'cuda'")
    if cfg.precision not in PRECISIONS or cfg.precision == "fp16":
        raise DistillError(f"precision {cfg.precision!r}: expected auto, fp32 or bf16 (auto runs passes without "
                           f"gradients in fp16 where the CPU has it natively)")
    if not 0 <= cfg.heldout_photos < 1:
        raise DistillError(f"heldout_photos = {cfg.heldout_photos}: expected a share in [0, 1)")
    if bool(cfg.test_data) != bool(cfg.test_teacher_cache):
        raise DistillError("test_data and test_teacher_cache go together (the teacher's database embeddings)")
    if cfg.schedule not in ("cosine", "constant"):
        raise DistillError(f"schedule {cfg.schedule!r}: expected 'cosine' or 'constant'")
    for name in ("epochs", "batch_size", "nnum", "eval_every", "samples_per_class", "views_per_photo"):
        if getattr(cfg, name) < 1:
            raise DistillError(f"{name} = {getattr(cfg, name)}: expected ≥ 1")
    if cfg.freeze_stages < 0:
        raise DistillError(f"freeze_stages = {cfg.freeze_stages}: expected ≥ 0 (0: train every stage)")
    if not cfg.teacher_cache and not (cfg.teacher_online and cfg.teacher):
        raise DistillError("train: needs --teacher-cache DIR (or --teacher-online with --teacher PRESET)")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from `path`, with one-line errors."""
    import yaml

    p = Path(path)
    try:
        obj = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise DistillError(f"{p}: config file not found") from None
    except yaml.YAMLError as e:
        raise DistillError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(obj, dict):
        raise DistillError(f"{p}: expected a YAML mapping of training options")
    return obj


def write_yaml(path: str | Path, cfg: TrainConfig) -> None:
    """Save the resolved configuration."""
    import yaml

    text = yaml.safe_dump(asdict(cfg), sort_keys=False)
    atomic_write(path, lambda f: f.write(text.encode()))


def config_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Keys whose values differ between two resolved configurations."""
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
