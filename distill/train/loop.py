"""The training loop only: optimiser, schedule, mining refreshes, evaluation, atomic checkpoints and
an exact resume. Losses, miners, batches and teacher embeddings come from their own modules."""

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from distill.cache import load_cache
from distill.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from distill.data import ClassSet, Dataset, TupleSplit, open_dataset
from distill.distributed import DistEnv, gather_rows
from distill.encode import channels_last, default_device, encode, fast_layout
from distill.errors import DistillError
from distill.evaluate import Embeddings, evaluate
from distill.io import atomic_write
from distill.losses import PairLoss, create_loss
from distill.miners import Miner, create_miner
from distill.models import create_model, same_network
from distill.models.net import RetrievalNet
from distill.models.trunk import Tail, split_frozen
from distill.precision import autocast, resolve_precision
from distill.train.batches import Batch, class_batches, epoch_rng, tuple_batch, tuple_order
from distill.train.config import TrainConfig, config_differences, validate, write_yaml
from distill.train.optim import create_optimizer, freeze_batchnorm, lr_factor
from distill.train.projection_init import fit_projection, init_projection
from distill.train.report import plot_curves, report_test, save_test, selection_score, write_provenance
from distill.train.sources import TeacherSource, eval_embeddings, is_view_cache, load_images
from distill.train.views import ViewBatch, ViewFeed

MINING_PURPOSE = 1


class Trainer:
    """One run: `Trainer(cfg, out).fit()`; `resume=True` continues from `out/last.pt`."""

    def __init__(self, cfg: TrainConfig, out: str | Path, resume: bool = False,
                 device: torch.device | None = None, dist: DistEnv | None = None) -> None:
        validate(cfg)
        self.cfg, self.out = cfg, Path(out)
        self.device = device or (torch.device(cfg.device) if cfg.device else default_device())
        self.precision = resolve_precision(cfg.precision, self.device, training=True)  # of the steps
        self.dist = dist or DistEnv()  # under torchrun: each rank runs its shard of every batch
        self.data: Dataset = open_dataset(cfg.data, cfg.split)
        if not isinstance(self.data, TupleSplit | ClassSet):
            raise DistillError(f"{cfg.data}: training needs SfM-120k-format tuples, a class set or a photo pool")
        self.views: ViewFeed | None = None
        self.teacher: TeacherSource | ViewFeed
        if cfg.views or is_view_cache(cfg.teacher_cache):
            if not isinstance(self.data, ClassSet):
                raise DistillError(f"{cfg.data}: view training needs a photo pool (distill data build-pool) or "
                                   f"another image list, not tuples")
            self.teacher = self.views = ViewFeed(self.data, cfg.teacher_cache, cfg.teacher, cfg.teacher_online,
                                                 cfg, self.device)
        else:
            self.teacher = TeacherSource(self.data, cfg.teacher_cache, cfg.teacher, cfg.teacher_online, self.device)
        self.loss: PairLoss = create_loss(cfg.loss, **cfg.loss_params)
        self.loss.check_mode(cfg.mode)
        self.miner: Miner | None = None
        if isinstance(self.data, TupleSplit):
            self.miner = create_miner(cfg.mining, nnum=cfg.nnum, pool_size=cfg.pool_size)
        elif cfg.mining == "hard" and self.views is None:
            raise DistillError(f"{cfg.data}: hard mining needs tuples with clusters; use --mining random "
                               f"(class-balanced batches) for a class set")
        dim = cfg.dim or (self.teacher.dim if cfg.mode == "asym" else None)
        torch.manual_seed(cfg.seed)  # random-init layers (projection, random presets) depend on the seed
        # a student of the teacher's own network and weights (at another input size) is already in its space
        own = cfg.mode == "asym" and same_network(cfg.student, self.teacher.name) and cfg.pretrained
        self.student: RetrievalNet = create_model(cfg.student, pretrained=cfg.pretrained, dim=dim,
                                                  projection=cfg.mode == "asym" and not own).to(self.device)
        fast_layout(self.student)  # NHWC: faster on CPU and GPU; every input is made channels_last too
        self.trunk: torch.nn.Module | None = None  # frozen stem + first stages; steps train `tail` only
        self.tail: Tail | None = None
        if cfg.freeze_stages:
            if self.dist.world > 1:
                raise DistillError("--freeze-stages runs in one process; drop it under torchrun")
            self.trunk, self.tail = split_frozen(self.student, cfg.freeze_stages)
        if cfg.mode == "asym" and self.student.dim != self.teacher.dim:
            raise DistillError(f"asym mode: student dim {self.student.dim} ≠ teacher {self.teacher.name} dim "
                               f"{self.teacher.dim}; drop --dim or set it to {self.teacher.dim}")
        self.opt = create_optimizer(cfg.optimizer, self.student, cfg.lr, cfg.head_lr_mult, cfg.weight_decay)
        self.steps_per_epoch = len(self.epoch_plan(0))
        self.total_steps = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_factor(cfg.schedule, self.total_steps,
                                                                           cfg.warmup_steps))
        self.state: dict[str, Any] = {"step": 0, "epoch": 0, "batch_in_epoch": 0, "negatives": None,
                                      "history": [], "best": None, "epoch_loss": [0.0, 0], "losses": []}
        self.eval_set, self.eval_teacher = self._eval_inputs()
        if self.trunk is not None and self.tail is not None and self.views is not None:
            self.views.cache_trunk(self.student, self.trunk, self.tail)
        last = self.out / "last.pt"
        if resume and last.exists():
            self._resume(last)
        elif last.exists():
            raise DistillError(f"{last} exists: pass --resume to continue that run, or choose another --out")
        else:
            if self.student.proj is not None and cfg.mode == "asym" and cfg.projection_init == "lstsq":
                self.state["projection_init"] = self._init_projection()
            if cfg.test_data and self.dist.is_main:
                self.state["test_before"] = report_test(self.student, cfg, self.teacher.name)
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            write_yaml(self.out / "config.yaml", cfg)
            write_provenance(self.out, self.device)
        self.model: torch.nn.Module = self.student
        if self.dist.world > 1:  # after init/resume: DDP starts from rank 0's (identical) weights
            self.model = torch.nn.parallel.DistributedDataParallel(self.student)

    # -- set-up ------------------------------------------------------------------------------------
    def _init_projection(self) -> dict[str, float]:
        if self.views is None:
            assert isinstance(self.teacher, TeacherSource)
            return init_projection(self.student, self.data.refs, self.teacher.embed_numpy, self.cfg.seed,
                                   device=self.device)
        # the held-out photos choose λ and, later, best.pt: the projection is not refit on them
        return fit_projection(self.student, *self.views.projection_data(self.student, self.cfg.projection_views),
                              refit_all=False)

    def _eval_inputs(self) -> tuple[Dataset | None, Embeddings | None]:
        cfg = self.cfg
        if not cfg.eval_data:
            return None, None
        data = open_dataset(cfg.eval_data)
        if cfg.mode == "sym":
            return data, None
        if not cfg.eval_teacher_cache:
            raise DistillError("asym evaluation needs --eval-teacher-cache (the teacher's database embeddings)")
        values, man = load_cache(cfg.eval_teacher_cache, {"image_list_sha256": data.list_sha256(),
                                                           "teacher": self.teacher.name})
        return data, Embeddings(values, man["teacher"])

    def _resume(self, last: Path) -> None:
        ck = load_checkpoint(last)
        diff = config_differences({**asdict(TrainConfig()), **ck["config"]}, asdict(self.cfg))
        if diff:
            raise DistillError(f"{last}: refusing to resume with another configuration (differs in: "
                               f"{', '.join(diff)}); use a new --out or the original options")
        if ck["teacher_manifest"] != self.teacher.manifest:
            raise DistillError(f"{last}: the run was trained against another teacher/cache "
                               f"({ck['teacher_manifest'].get('teacher')}); refusing to resume")
        self.student.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        set_rng_state(ck["rng"])
        self.state = ck["run"]

    # -- one epoch's batches -----------------------------------------------------------------------
    def epoch_plan(self, epoch: int) -> list[np.ndarray] | list[Batch] | list[ViewBatch]:
        """The epoch's steps: query selections (tuple sets) or ready batches (class sets)."""
        if self.views is not None:
            return self.views.epoch_plan(epoch)
        rng = epoch_rng(self.cfg.seed, epoch)
        if isinstance(self.data, TupleSplit):
            return tuple_order(len(self.data.qidxs), self.cfg.batch_size, rng)
        assert isinstance(self.data, ClassSet)
        return class_batches(self.data.labels, self.cfg.batch_size, self.cfg.samples_per_class, rng)

    def batch(self, planned: np.ndarray | Batch) -> Batch:
        """The step's batch: tuples assembled with the current negatives."""
        if isinstance(planned, Batch):
            return planned
        assert isinstance(self.data, TupleSplit) and self.state["negatives"] is not None
        d = self.data
        return tuple_batch(planned, d.qidxs, d.pidxs, self.state["negatives"], d.cluster)

    def refresh_negatives(self) -> None:
        """Re-mine the negatives of every query with the current student."""
        assert isinstance(self.data, TupleSplit) and self.miner is not None
        d, step = self.data, self.state["step"]
        rng = epoch_rng(self.cfg.seed, step, MINING_PURPOSE)

        def student_embed(idx: np.ndarray) -> np.ndarray:  # each rank encodes its shard of the pool
            a, b = self.dist.shard(len(idx))
            local = encode(self.student, [d.refs[i] for i in idx[a:b]], desc="mining", device=self.device)
            with torch.no_grad():
                return gather_rows(torch.from_numpy(local).to(self.device), self.dist, len(idx)).cpu().numpy()

        assert isinstance(self.teacher, TeacherSource)
        pool_fn = self.teacher.embed_numpy if self.cfg.mode == "asym" else student_embed
        self.state["negatives"] = self.miner.mine(d.qidxs, d.cluster, rng, student_embed, pool_fn)

    def _refresh_due(self, i: int) -> bool:
        """Mine before the first step, then every `refresh_every` steps (or at each epoch's batch 0)."""
        if self.miner is None:
            return False
        if self.state["negatives"] is None:
            return True
        if self.cfg.refresh_every:
            return self.state["step"] % self.cfg.refresh_every == 0
        return i == 0

    # -- the step ----------------------------------------------------------------------------------
    def train_step(self, batch: Batch) -> float:
        """One optimisation step on `batch`; returns the loss value."""
        all_rows = self.cfg.mode == "sym" or self.loss.needs_all_student
        rows = batch.items if all_rows else batch.items[batch.anchors]
        a, b = self.dist.shard(len(rows))
        teacher: torch.Tensor | None = None
        after_trunk = False  # x is already the frozen trunk's output
        if isinstance(batch, ViewBatch) and self.views is not None:  # every view is an anchor
            assert batch.views is not None
            x, after_trunk = self.views.student_input(self.student, batch.views.take(np.arange(a, b)),
                                         None if batch.rows is None else batch.rows[a:b])
            teacher = self.views.teacher(batch.views, batch.rows)
        else:
            assert isinstance(self.teacher, TeacherSource)
            x = channels_last(load_images(self.data.refs, self.student, rows[a:b]).to(self.device))
            if self.cfg.mode == "asym" or self.loss.needs_teacher:
                teacher = self.teacher.embed(batch.items)
        self.student.train()
        freeze_batchnorm(self.student)
        with autocast(self.device, self.precision):
            if self.trunk is not None and not after_trunk:  # the frozen trunk runs without a graph
                with torch.no_grad():
                    x = self.trunk(x)
            emb = gather_rows((self.model if self.tail is None else self.tail)(x).float(), self.dist, len(rows))
        loss = self.loss(emb, teacher, torch.from_numpy(batch.labels).to(self.device), mode=self.cfg.mode,
                         anchors=torch.from_numpy(batch.anchors).to(self.device))
        if not torch.isfinite(loss):
            raise DistillError(f"loss {self.cfg.loss} is {loss.item()} at step {self.state['step'] + 1} "
                               f"(epoch {self.state['epoch'] + 1}); stopping. Last good checkpoint: "
                               f"{self.out / 'last.pt'} (lower --lr, check the data)")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        return float(loss.item())

    # -- evaluation and checkpoints ----------------------------------------------------------------
    def evaluate(self) -> dict[str, Any] | None:
        """Retrieval metrics of the current student: held-out views (view training) or `eval_data` (None
        when neither is configured)."""
        if self.views is not None:
            return self.views.heldout_metrics(self.student)
        if self.eval_set is None:
            return None
        values = eval_embeddings(self.student, self.eval_set, self.cfg.mode)
        student = Embeddings(values, f"{self.cfg.student}@step{self.state['step']}")
        db = self.eval_teacher if self.cfg.mode == "asym" else student
        assert db is not None
        return evaluate(self.eval_set, student, db, self.cfg.mode, self.cfg.eval_data or "")

    def _checkpoint(self, best: bool = False) -> None:
        if not self.dist.is_main:
            self.dist.barrier()  # rank 0 writes; the others wait until the files are complete
            return
        info = self.student.info
        assert info is not None
        state = {"model": self.student.state_dict(), "optimizer": self.opt.state_dict(),
                 "scheduler": self.sched.state_dict(), "rng": rng_state(), "run": self.state,
                 "step": self.state["step"], "config": asdict(self.cfg), "teacher_manifest": self.teacher.manifest,
                 "student": {"preset": self.cfg.student, "dim": self.student.dim,
                             "projection": self.student.proj is not None, "info": info.to_dict()}}
        save_checkpoint(self.out / "last.pt", state)
        if best:
            save_checkpoint(self.out / "best.pt", state)
        lines = "".join(json.dumps(h) + "\n" for h in self.state["history"])
        atomic_write(self.out / "metrics.jsonl", lambda f: f.write(lines.encode()))
        plot_curves(self.state, self.out / "curves.png")
        self.dist.barrier()

    def _record_eval(self, epoch: int) -> bool:
        result = self.evaluate() if self.dist.is_main else None
        if self.dist.world > 1:  # every rank keeps the same history (rank 0 evaluated)
            shared = [result]
            torch.distributed.broadcast_object_list(shared, src=0)
            result = shared[0]
        loss_sum, n = self.state["epoch_loss"]
        entry = {"epoch": epoch, "step": self.state["step"], "loss": loss_sum / n if n else None,
                 "lr": self.sched.get_last_lr()[0]}
        if result is not None:
            entry.update({k: result[k] for k in ("map", "mp", "recall", "heldout") if k in result})
        self.state["history"].append(entry)
        score = selection_score(result)
        if score is None:  # nothing to select by: best.pt is the latest state
            return True
        if self.state["best"] is None or score > self.state["best"]:
            self.state["best"] = score
            return True
        return False

    # -- the loop ----------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train to the end (or `max_steps`); returns the run state with its evaluation history."""
        cfg, st = self.cfg, self.state
        if not st["history"]:
            self._checkpoint(best=self._record_eval(0))
        while st["epoch"] < cfg.epochs and st["step"] < self.total_steps:
            plan = self.epoch_plan(st["epoch"])
            bar = tqdm(total=len(plan), initial=st["batch_in_epoch"], desc=f"epoch {st['epoch'] + 1}/{cfg.epochs}",
                       unit="step", leave=False, disable=not self.dist.is_main)
            for i in range(st["batch_in_epoch"], len(plan)):
                if self._refresh_due(i):
                    self.refresh_negatives()
                batch = self.batch(plan[i])
                t0 = time.perf_counter()
                value = self.train_step(batch)
                st["step"] += 1
                st["batch_in_epoch"] = i + 1
                st["epoch_loss"] = [st["epoch_loss"][0] + value, st["epoch_loss"][1] + 1]
                st["losses"].append(value)
                bar.set_postfix(loss=f"{value:.4f}", img_s=f"{len(batch.items) / (time.perf_counter() - t0):.1f}")
                bar.update(1)
                if st["step"] >= self.total_steps:
                    break
                if cfg.checkpoint_every and st["step"] % cfg.checkpoint_every == 0:
                    self._checkpoint()
            bar.close()
            st["epoch"] += 1 if st["batch_in_epoch"] >= len(plan) else 0
            finished = st["step"] >= self.total_steps
            best = False
            if st["epoch"] % cfg.eval_every == 0 or finished:
                best = self._record_eval(st["epoch"])
            if st["batch_in_epoch"] >= len(plan):
                st["batch_in_epoch"], st["epoch_loss"] = 0, [0.0, 0]
            self._checkpoint(best=best)
            if finished:
                break
        if cfg.test_data and self.dist.is_main and "test" not in st:
            best_model = create_model(cfg.student, pretrained=False, dim=self.student.dim,
                                      projection=self.student.proj is not None)
            best_model.load_state_dict(load_checkpoint(self.out / "best.pt")["model"])
            st["test"] = report_test(best_model.to(self.device), cfg, self.teacher.name)
            save_test(self.out, {"before": st.get("test_before"), "after (best.pt)": st["test"]})
            self._checkpoint()
        return st
