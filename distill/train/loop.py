"""The training loop only: optimiser, schedule, mining refreshes, evaluation, atomic checkpoints and
an exact resume. Losses, miners, batches and teacher embeddings come from their own modules."""

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from distill.checkpoint import load_checkpoint, rng_state, set_rng_state
from distill.data import TupleSplit
from distill.distributed import DistEnv, gather_rows
from distill.encode import channels_last, default_device, encode
from distill.errors import DistillError
from distill.evaluate import Embeddings, evaluate
from distill.models import create_model
from distill.precision import autocast, resolve_precision
from distill.train.batches import Batch, epoch_rng, tuple_batch
from distill.train.config import TrainConfig, config_differences, write_yaml
from distill.train.factory import Plan, build_parts, epoch_plan
from distill.train.optim import freeze_batchnorm, load_scheduler_state
from distill.train.projection_init import fit_projection, init_projection
from distill.train.report import report_test, save_test, selection_score, write_provenance
from distill.train.saver import CheckpointSaver
from distill.train.sources import TeacherSource, eval_embeddings, load_images
from distill.train.state import RunState
from distill.train.views import ViewBatch

MINING_PURPOSE = 1


class Trainer:
    """One run: `Trainer(cfg, out).fit()`; `resume=True` continues from `out/last.pt`.

    Set-up is three visible steps: `build_parts` (data, teacher, loss, miner, student, optimiser), then either
    `_resume` or `_start` (projection fit, test report before training), then config.yaml and provenance."""

    def __init__(self, cfg: TrainConfig, out: str | Path, resume: bool = False,
                 device: torch.device | None = None, dist: DistEnv | None = None) -> None:
        self.cfg, self.out = cfg, Path(out)
        self.device = device or (torch.device(cfg.device) if cfg.device else default_device())
        self.precision = resolve_precision(cfg.precision, self.device, training=True)  # of the steps
        self.dist = dist or DistEnv()  # under torchrun: each rank runs its shard of every batch
        self.parts = parts = build_parts(cfg, self.device, self.dist)
        self.data, self.teacher, self.views, self.student = parts.data, parts.teacher, parts.views, parts.student
        self.loss, self.opt, self.sched = parts.loss, parts.opt, parts.sched
        self.trunk, self.tail = parts.trunk, parts.tail  # frozen stem + first stages; steps train `tail` only
        self.state = RunState()
        self.saver = CheckpointSaver(self.out, self.dist)
        if self.trunk is not None and self.tail is not None and self.views is not None:
            self.views.cache_trunk(self.student, self.trunk, self.tail)
        if resume and self.saver.last.exists():
            self._resume(self.saver.last)
        elif self.saver.last.exists():
            raise DistillError(f"{self.saver.last} exists: pass --resume to continue that run, or choose another --out")
        else:
            self._start()
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            write_yaml(self.out / "config.yaml", cfg)
            write_provenance(self.out, self.device)
        self.model: torch.nn.Module = self.student
        if self.dist.world > 1:  # after init/resume: DDP starts from rank 0's (identical) weights
            self.model = torch.nn.parallel.DistributedDataParallel(self.student)

    @property
    def total_steps(self) -> int:
        """Steps of the whole run (epochs × steps per epoch, capped by max_steps)."""
        return self.parts.total_steps

    @property
    def steps_per_epoch(self) -> int:
        """Steps of one epoch."""
        return self.parts.steps_per_epoch

    # -- set-up ------------------------------------------------------------------------------------
    def _start(self) -> None:
        """A new run: the closed-form projection (asym), then the test report of the initialised student."""
        cfg = self.cfg
        if self.student.proj is not None and cfg.mode == "asym" and cfg.projection_init == "lstsq":
            self.state.projection_init = self._init_projection()
        if cfg.test_data and self.dist.is_main:
            self.state.test_before = report_test(self.student, cfg, self.teacher.name)

    def _init_projection(self) -> dict[str, float]:
        if self.views is None:
            assert isinstance(self.teacher, TeacherSource)
            return init_projection(self.student, self.data.refs, self.teacher.embed_numpy, self.cfg.seed,
                                   device=self.device)
        # the held-out photos choose λ and, later, best.pt: the projection is not refit on them
        return fit_projection(self.student, *self.views.projection_data(self.student, self.cfg.projection_views),
                              refit_all=False)

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
        load_scheduler_state(self.sched, ck["scheduler"])
        set_rng_state(ck["rng"])
        self.state = RunState.from_dict(ck["run"], str(last))

    # -- one epoch's batches -----------------------------------------------------------------------
    def epoch_plan(self, epoch: int) -> Plan:
        """The epoch's steps: query selections (tuple sets) or ready batches (class sets, views)."""
        return epoch_plan(self.cfg, self.data, self.views, epoch)

    def batch(self, planned: np.ndarray | Batch) -> Batch:
        """The step's batch: tuples assembled with the current negatives."""
        if isinstance(planned, Batch):
            return planned
        assert isinstance(self.data, TupleSplit) and self.state.negatives is not None
        d = self.data
        return tuple_batch(planned, d.qidxs, d.pidxs, self.state.negatives, d.cluster)

    def refresh_negatives(self) -> None:
        """Re-mine the negatives of every query with the current student."""
        miner = self.parts.miner
        assert isinstance(self.data, TupleSplit) and miner is not None
        d, step = self.data, self.state.step
        rng = epoch_rng(self.cfg.seed, step, MINING_PURPOSE)

        def student_embed(idx: np.ndarray) -> np.ndarray:  # each rank encodes its shard of the pool
            a, b = self.dist.shard(len(idx))
            local = encode(self.student, [d.refs[i] for i in idx[a:b]], desc="mining", device=self.device)
            with torch.no_grad():
                return gather_rows(torch.from_numpy(local).to(self.device), self.dist, len(idx)).cpu().numpy()

        assert isinstance(self.teacher, TeacherSource)
        pool_fn = self.teacher.embed_numpy if self.cfg.mode == "asym" else student_embed
        self.state.negatives = miner.mine(d.qidxs, d.cluster, rng, student_embed, pool_fn)

    def _refresh_due(self, i: int) -> bool:
        """Mine before the first step, then every `refresh_every` steps (or at each epoch's batch 0)."""
        if self.parts.miner is None:
            return False
        if self.state.negatives is None:
            return True
        if self.cfg.refresh_every:
            return self.state.step % self.cfg.refresh_every == 0
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
        trunk, tail = self.trunk, self.tail
        with autocast(self.device, self.precision):
            if trunk is not None and not after_trunk:  # the frozen trunk runs without a graph
                with torch.no_grad():
                    x = trunk(x)
            emb = gather_rows((self.model if tail is None else tail)(x).float(), self.dist, len(rows))
        loss = self.loss(emb, teacher, torch.from_numpy(batch.labels).to(self.device), mode=self.cfg.mode,
                         anchors=torch.from_numpy(batch.anchors).to(self.device))
        if not torch.isfinite(loss):
            raise DistillError(f"loss {self.cfg.loss} is {loss.item()} at step {self.state.step + 1} "
                               f"(epoch {self.state.epoch + 1}); stopping. Last good checkpoint: "
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
        eval_set = self.parts.eval_set
        if eval_set is None:
            return None
        values = eval_embeddings(self.student, eval_set, self.cfg.mode)
        student = Embeddings(values, f"{self.cfg.student}@step{self.state.step}")
        db = self.parts.eval_teacher if self.cfg.mode == "asym" else student
        assert db is not None
        return evaluate(eval_set, student, db, self.cfg.mode, self.cfg.eval_data or "")

    def _checkpoint(self, best: bool = False) -> None:
        info = self.student.info
        assert info is not None
        payload = {"model": self.student.state_dict(), "optimizer": self.opt.state_dict(),
                   "scheduler": self.sched.state_dict(), "rng": rng_state(), "run": self.state.to_dict(),
                   "step": self.state.step, "config": asdict(self.cfg), "teacher_manifest": self.teacher.manifest,
                   "student": {"preset": self.cfg.student, "dim": self.student.dim,
                               "projection": self.student.proj is not None, "info": info.to_dict()}}
        self.saver.save(payload, self.state, best)

    def _record_eval(self, epoch: int) -> bool:
        result = self.evaluate() if self.dist.is_main else None
        if self.dist.world > 1:  # every rank keeps the same history (rank 0 evaluated)
            shared = [result]
            torch.distributed.broadcast_object_list(shared, src=0)
            result = shared[0]
        entry = {"epoch": epoch, "step": self.state.step, "loss": self.state.epoch_loss(),
                 "lr": self.sched.get_last_lr()[0]}
        if result is not None:
            entry.update({k: result[k] for k in ("map", "mp", "recall", "heldout") if k in result})
        self.state.history.append(entry)
        return self.saver.improves(self.state, selection_score(result))

    # -- the loop ----------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train to the end (or `max_steps`); returns the run state (as saved) with its evaluation history."""
        cfg, st = self.cfg, self.state
        if not st.history:
            self._checkpoint(best=self._record_eval(0))
        while st.epoch < cfg.epochs and st.step < self.total_steps:
            plan = self.epoch_plan(st.epoch)
            bar = tqdm(total=len(plan), initial=st.batch_in_epoch, desc=f"epoch {st.epoch + 1}/{cfg.epochs}",
                       unit="step", leave=False, disable=not self.dist.is_main)
            for i in range(st.batch_in_epoch, len(plan)):
                if self._refresh_due(i):
                    self.refresh_negatives()
                batch = self.batch(plan[i])
                t0 = time.perf_counter()
                value = self.train_step(batch)
                st.record_step(value, i)
                bar.set_postfix(loss=f"{value:.4f}", img_s=f"{len(batch.items) / (time.perf_counter() - t0):.1f}")
                bar.update(1)
                if st.step >= self.total_steps:
                    break
                if cfg.checkpoint_every and st.step % cfg.checkpoint_every == 0:
                    self._checkpoint()
            bar.close()
            epoch_done = st.batch_in_epoch >= len(plan)
            st.epoch += int(epoch_done)
            finished = st.step >= self.total_steps
            best = False
            if st.epoch % cfg.eval_every == 0 or finished:
                best = self._record_eval(st.epoch)
            if epoch_done:
                st.new_epoch()
            self._checkpoint(best=best)
            if finished:
                break
        if cfg.test_data and self.dist.is_main and st.test is None:
            self._report_best()
        return st.to_dict()

    def _report_best(self) -> None:
        """The test set once, for best.pt; written to test.json and kept in the run state."""
        best_model = create_model(self.cfg.student, pretrained=False, dim=self.student.dim,
                                  projection=self.student.proj is not None)
        best_model.load_state_dict(load_checkpoint(self.saver.best)["model"])
        self.state.test = report_test(best_model.to(self.device), self.cfg, self.teacher.name)
        save_test(self.out, {"before": self.state.test_before, "after (best.pt)": self.state.test})
        self._checkpoint()
