"""The parts of a training run, built from its config before anything is trained: the data, the teacher's
embeddings (cached tuples/classes, or consistent views), the loss, the miner, the student (and its frozen
trunk), the optimiser and schedule, and the evaluation inputs. Building them has no side effects on the run
folder; `Trainer` then starts (projection fit, test report, config.yaml) or resumes the run."""

from dataclasses import dataclass

import numpy as np
import torch

from distill.cache import load_cache
from distill.data import ClassSet, Dataset, TupleSplit, open_dataset
from distill.distributed import DistEnv
from distill.encode import fast_layout
from distill.errors import DistillError
from distill.evaluate import Embeddings
from distill.losses import PairLoss, create_loss
from distill.miners import Miner, create_miner
from distill.models import create_model, same_network
from distill.models.net import RetrievalNet
from distill.models.trunk import Tail, split_frozen
from distill.train.batches import Batch, class_batches, epoch_rng, tuple_order
from distill.train.config import TrainConfig, validate
from distill.train.optim import create_optimizer, create_scheduler
from distill.train.sources import TeacherSource, is_view_cache
from distill.train.views import ViewBatch, ViewFeed

Plan = list[np.ndarray] | list[Batch] | list[ViewBatch]


@dataclass
class TrainParts:
    """Everything a run trains with; `views` is set (and is also `teacher`) for function matching on views."""

    data: TupleSplit | ClassSet
    teacher: TeacherSource | ViewFeed
    views: ViewFeed | None
    loss: PairLoss
    miner: Miner | None
    student: RetrievalNet
    trunk: torch.nn.Module | None  # frozen stem + first stages (--freeze-stages); steps train `tail` only
    tail: Tail | None
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    steps_per_epoch: int
    total_steps: int
    eval_set: Dataset | None
    eval_teacher: Embeddings | None


def epoch_plan(cfg: TrainConfig, data: TupleSplit | ClassSet, views: ViewFeed | None, epoch: int) -> Plan:
    """The epoch's steps: query selections (tuple sets), ready batches (class sets) or view batches."""
    if views is not None:
        return views.epoch_plan(epoch)
    rng = epoch_rng(cfg.seed, epoch)
    if isinstance(data, TupleSplit):
        return tuple_order(len(data.qidxs), cfg.batch_size, rng)
    return class_batches(data.labels, cfg.batch_size, cfg.samples_per_class, rng)


def build_parts(cfg: TrainConfig, device: torch.device, dist: DistEnv) -> TrainParts:
    """Open and check everything `cfg` names; one-line errors for what does not fit together."""
    validate(cfg)
    data = open_dataset(cfg.data, cfg.split)
    if not isinstance(data, TupleSplit | ClassSet):
        raise DistillError(f"{cfg.data}: training needs SfM-120k-format tuples, a class set or a photo pool")
    views: ViewFeed | None = None
    teacher: TeacherSource | ViewFeed
    if cfg.views or is_view_cache(cfg.teacher_cache):
        if not isinstance(data, ClassSet):
            raise DistillError(f"{cfg.data}: view training needs a photo pool (distill data build-pool) or "
                               f"another image list, not tuples")
        teacher = views = ViewFeed(data, cfg.teacher_cache, cfg.teacher, cfg.teacher_online, cfg, device)
    else:
        teacher = TeacherSource(data, cfg.teacher_cache, cfg.teacher, cfg.teacher_online, device)
    loss = create_loss(cfg.loss, **cfg.loss_params)
    loss.check_mode(cfg.mode)
    miner = None
    if isinstance(data, TupleSplit):
        miner = create_miner(cfg.mining, nnum=cfg.nnum, pool_size=cfg.pool_size)
    elif cfg.mining == "hard" and views is None:
        raise DistillError(f"{cfg.data}: hard mining needs tuples with clusters; use --mining random "
                           f"(class-balanced batches) for a class set")
    student, trunk, tail = _student(cfg, teacher, device, dist)
    opt = create_optimizer(cfg.optimizer, student, cfg.lr, cfg.head_lr_mult, cfg.weight_decay)
    steps_per_epoch = len(epoch_plan(cfg, data, views, 0))
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    sched = create_scheduler(opt, cfg.schedule, total_steps, cfg.warmup_steps)
    eval_set, eval_teacher = _eval_inputs(cfg, teacher.name)
    return TrainParts(data, teacher, views, loss, miner, student, trunk, tail, opt, sched, steps_per_epoch,
                      total_steps, eval_set, eval_teacher)


def _student(cfg: TrainConfig, teacher: TeacherSource | ViewFeed, device: torch.device, dist: DistEnv
             ) -> tuple[RetrievalNet, torch.nn.Module | None, Tail | None]:
    """The student (NHWC, on `device`) and, with --freeze-stages, its frozen trunk and trained tail."""
    dim = cfg.dim or (teacher.dim if cfg.mode == "asym" else None)
    torch.manual_seed(cfg.seed)  # random-init layers (projection, random presets) depend on the seed
    # a student of the teacher's own network and weights (at another input size) is already in its space
    own = cfg.mode == "asym" and same_network(cfg.student, teacher.name) and cfg.pretrained
    student = create_model(cfg.student, pretrained=cfg.pretrained, dim=dim,
                           projection=cfg.mode == "asym" and not own).to(device)
    fast_layout(student)  # NHWC: faster on CPU and GPU; every input is made channels_last too
    if cfg.mode == "asym" and student.dim != teacher.dim:
        raise DistillError(f"asym mode: student dim {student.dim} ≠ teacher {teacher.name} dim "
                           f"{teacher.dim}; drop --dim or set it to {teacher.dim}")
    if not cfg.freeze_stages:
        return student, None, None
    if dist.world > 1:
        raise DistillError("--freeze-stages runs in one process; drop it under torchrun")
    trunk, tail = split_frozen(student, cfg.freeze_stages)
    return student, trunk, tail


def _eval_inputs(cfg: TrainConfig, teacher: str) -> tuple[Dataset | None, Embeddings | None]:
    """The evaluation set and, in asym mode, the teacher's cached embeddings of its database."""
    if not cfg.eval_data:
        return None, None
    data = open_dataset(cfg.eval_data)
    if cfg.mode == "sym":
        return data, None
    if not cfg.eval_teacher_cache:
        raise DistillError("asym evaluation needs --eval-teacher-cache (the teacher's database embeddings)")
    values, man = load_cache(cfg.eval_teacher_cache, {"image_list_sha256": data.list_sha256(), "teacher": teacher})
    return data, Embeddings(values, man["teacher"])
