"""Function matching on consistent views: what a training step sees when the student learns the teacher's
function on augmented views of unlabelled photos (`distill.data.views`).

Photos are split by photo into training and held-out ones (seeded). A step takes P photos × m views
(`views_per_photo`); the label of a view is its photo, so other views of the same photo are positives
(Contr, Contr⁺, triplet, MS) and are left out of InfoNCE's negatives. Teacher embeddings come from a
view cache (`distill cache-teacher --views K`, CPU: the student's views are re-rendered from the stored
parameters) or from the teacher online on freshly drawn views (GPU). Batch order and views depend only
on (seed, epoch, step), so a resumed run replays exactly.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from distill import metrics
from distill.cache import load_cache, load_views
from distill.data import ClassSet
from distill.data.views import Augment, ViewParams, load_photos, photo_views, render_views, sample_views
from distill.encode import channels_last
from distill.errors import DistillError
from distill.models.net import RetrievalNet
from distill.models.trunk import Tail
from distill.precision import autocast, resolve_precision, unit_rows
from distill.train.batches import Batch, epoch_rng
from distill.train.sources import TeacherIdentity, online_teacher

VIEW_PURPOSE, SPLIT_PURPOSE, HELDOUT_PURPOSE = 2, 3, 4
HELDOUT_VIEWS = 4  # views per held-out photo when the teacher runs online
MAX_HELDOUT_VIEWS = 8  # views per held-out photo read from a view cache (evaluation cost stays bounded)


def in_batches(views: ViewParams, fn: Callable[[ViewParams, np.ndarray], torch.Tensor], batch_size: int = 64,
               desc: str | None = None) -> torch.Tensor:
    """`fn(chunk, positions)` applied to consecutive chunks of `views` (bounded memory), concatenated; a
    progress bar with `desc`."""
    parts = []
    with tqdm(total=len(views), desc=desc, unit="view", leave=False, disable=desc is None) as bar:
        for s in range(0, len(views), batch_size):
            idx = np.arange(s, min(s + batch_size, len(views)))
            parts.append(fn(views.take(idx), idx))
            bar.update(len(idx))
    return torch.cat(parts)


@dataclass
class ViewBatch(Batch):
    """A step's views; `rows` are their rows in the view cache (None when the teacher runs online)."""

    views: ViewParams | None = None
    rows: np.ndarray | None = None


class ViewFeed(TeacherIdentity):
    """Views of a photo pool for one run: batches, rendered inputs, teacher embeddings, held-out views."""

    def __init__(self, data: ClassSet, cache: str | None, teacher: str | None, online: bool, cfg: Any,
                 device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.precision = resolve_precision(cfg.precision, device)  # of its passes without gradients
        self.values: np.ndarray | None = None
        self.cached: ViewParams | None = None
        self.manifest: dict[str, Any] = {}
        photo_size = cfg.photo_size
        if cache:
            self.values, self.manifest = load_cache(cache, {"image_list_sha256": data.list_sha256()})
            self.cached = load_views(cache, self.manifest)
            photo_size = int(self.manifest["views"].get("photo_size", photo_size))
            if teacher and teacher != self.manifest["teacher"]:
                raise DistillError(f"{cache}: views encoded by {self.manifest['teacher']}, not --teacher {teacher}")
        elif not online:
            raise DistillError("view training needs a view cache (distill cache-teacher --views K) or --teacher-online")
        self.model: RetrievalNet | None = None
        if online:
            self.model, manifest = online_teacher(teacher or self.manifest["teacher"], device)
            self.manifest = self.manifest or manifest
        self.photos = load_photos(data.refs, photo_size).to(device)  # uint8, held on the training device
        n = len(data.refs)
        n_held = round(cfg.heldout_photos * n)
        if n - n_held < 2 or cfg.batch_size < 2 * cfg.views_per_photo:
            raise DistillError(f"view training needs ≥ 2 training photos and batch_size ≥ 2 × views_per_photo "
                               f"({n} photos, {n_held} held out, batch {cfg.batch_size})")
        order = epoch_rng(cfg.seed, 0, SPLIT_PURPOSE).permutation(n)
        self.heldout, self.train = np.sort(order[:n_held]), np.sort(order[n_held:])
        self.per_photo = len(self.cached) // n if self.cached is not None else 0
        if self.cached is not None and (len(self.cached) != n * self.per_photo
                                        or not (self.cached.photo == np.repeat(np.arange(n), self.per_photo)).all()):
            raise DistillError(f"{cache}: views are not K per photo in photo order (build the cache with "
                               f"distill cache-teacher --views K)")
        if self.cached is not None and self.per_photo < cfg.views_per_photo:
            raise DistillError(f"{cache}: {self.per_photo} views per photo, fewer than views_per_photo "
                               f"{cfg.views_per_photo}")
        self.held_views, self.held_teacher = self._heldout_views()
        self.trunk_out: torch.Tensor | None = None  # frozen trunk's output per training row (cache_trunk)
        self.trunk_row = np.zeros(0, np.int64)
        self.tail: Tail | None = None

    # -- batches -----------------------------------------------------------------------------------
    def epoch_plan(self, epoch: int) -> list[ViewBatch]:
        """The epoch's steps: P training photos × m views each; every training photo once per epoch."""
        m = self.cfg.views_per_photo
        p = self.cfg.batch_size // m
        rng = epoch_rng(self.cfg.seed, epoch, VIEW_PURPOSE)
        order = rng.permutation(self.train)
        out = []
        for s in range(len(order) // p):
            photos = np.repeat(order[s * p:(s + 1) * p], m)
            labels = photos.astype(np.int64)
            if self.cached is not None:
                picks = np.concatenate([rng.choice(self.per_photo, m, replace=False) for _ in range(p)])
                rows = photos * self.per_photo + picks
                out.append(ViewBatch(rows, labels, np.arange(len(rows)), self.cached.take(rows), rows))
            else:
                views = sample_views(photos, len(self.photos), rng, Augment())
                out.append(ViewBatch(photos, labels, np.arange(len(photos)), views, None))
        if not out:
            raise DistillError(f"{len(self.train)} training photos cannot fill one batch of {p} photos")
        return out

    def render(self, model: RetrievalNet, views: ViewParams) -> torch.Tensor:
        """`views` rendered for `model` (its input size and normalisation), on the training device."""
        assert model.info is not None
        return channels_last(render_views(self.photos, views, model.info.preprocess))

    def run(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """`fn(x)` at the run's precision (x rendered before: rendering stays float32)."""
        with autocast(self.device, self.precision):
            return fn(x)

    def train_rows(self) -> np.ndarray:
        """Cache rows of every view of the training photos, in photo order."""
        return (self.train[:, None] * self.per_photo + np.arange(self.per_photo)[None]).reshape(-1)

    def cache_trunk(self, student: RetrievalNet, trunk: torch.nn.Module, tail: Tail) -> None:
        """Run the frozen `trunk` once over every cached training view and keep its output (float16, on the
        device): steps (and the projection fit) then read it by cache row instead of rendering and
        re-encoding the view, and run only `tail`."""
        if self.cached is None:
            return
        self.tail = tail
        rows = self.train_rows()

        def chunk(v: ViewParams, _: np.ndarray) -> torch.Tensor:
            return self.run(trunk, self.render(student, v)).half()

        with torch.inference_mode():
            out = in_batches(self.cached.take(rows), chunk, desc="frozen trunk")
        self.trunk_out = out
        self.trunk_row = np.full(len(self.cached), -1)
        self.trunk_row[rows] = np.arange(len(rows))

    def student_input(self, student: RetrievalNet, views: ViewParams, rows: np.ndarray | None
                      ) -> tuple[torch.Tensor, bool]:
        """The views as the student's input, and whether it is the frozen trunk's output (of cached rows)
        rather than rendered images."""
        if self.trunk_out is None or rows is None:
            return self.render(student, views), False
        return channels_last(self.trunk_out[torch.from_numpy(self.trunk_row[rows])].float()), True

    def teacher(self, views: ViewParams, rows: np.ndarray | None) -> torch.Tensor:
        """B×d teacher embeddings of the views: cached rows, or the teacher run on the same views."""
        if rows is not None and self.values is not None:
            return torch.from_numpy(np.asarray(self.values[rows], np.float32)).to(self.device)
        assert self.model is not None
        with torch.no_grad():
            return unit_rows(self.run(self.model, self.render(self.model, views)))

    # -- held-out views ----------------------------------------------------------------------------
    def _heldout_views(self) -> tuple[ViewParams, torch.Tensor]:
        if self.cached is not None:
            k = min(self.per_photo, MAX_HELDOUT_VIEWS)
            rows = (self.heldout[:, None] * self.per_photo + np.arange(k)[None]).reshape(-1)
            return self.cached.take(rows), self.teacher(self.cached.take(rows), rows)
        rng = epoch_rng(self.cfg.seed, 0, HELDOUT_PURPOSE)
        views = photo_views(len(self.photos), HELDOUT_VIEWS, rng, Augment()).take(
            (self.heldout[:, None] * HELDOUT_VIEWS + np.arange(HELDOUT_VIEWS)[None]).reshape(-1))
        emb = in_batches(views, lambda v, _: self.teacher(v, None)) if len(views) else torch.zeros(0, self.dim)
        return views, emb.to(self.device)

    def embed(self, model: RetrievalNet, views: ViewParams, batch_size: int = 64) -> torch.Tensor:
        """Embeddings of `views` by `model` (eval mode, no gradient)."""
        model.eval()
        with torch.inference_mode():
            if not len(views):
                return torch.zeros(0, model.dim, device=self.device)
            return in_batches(views, lambda v, _: unit_rows(self.run(model, self.render(model, v))), batch_size)

    def heldout_metrics(self, student: RetrievalNet) -> dict[str, Any] | None:
        """Held-out photos' views: mean cosine of student to teacher, and asym retrieval among the views
        (each student view queries the teacher's embeddings of the others; positives: the same photo)."""
        if len(self.held_views) < 2:
            return None
        s = self.embed(student, self.held_views)
        t = self.held_teacher.to(s.dtype)
        sim = s @ t.T
        sim.fill_diagonal_(float("-inf"))
        ranks = torch.argsort(sim, dim=1, descending=True)[:, :-1].cpu().numpy()
        labels = self.held_views.photo
        return {"heldout": {"cosine": float((s * t).sum(1).mean()),
                            "map": metrics.mean_average_precision(ranks, labels, labels),
                            "recall1": metrics.recall_at_k(ranks, labels, labels, (1,))["1"],
                            "views": len(self.held_views)}}

    # -- projection initialisation ---------------------------------------------------------------------
    def projection_data(self, student: RetrievalNet, max_views: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Pooled student features and teacher embeddings of training views (fit) and held-out views
        (choice of λ, held out by photo), as float64 arrays."""
        if len(self.held_views) < 2:
            raise DistillError("projection init on views chooses λ on held-out photos: set heldout_photos > 0 "
                               "(or --projection-init random)")
        rng = epoch_rng(self.cfg.seed, 0, VIEW_PURPOSE + 10)
        rows: np.ndarray | None = None
        if self.cached is not None:
            rows = self.train_rows()
            rows = np.sort(rng.permutation(rows)[:max_views])
            views, teacher = self.cached.take(rows), self.teacher(self.cached.take(rows), rows)
        else:
            per = max(1, max_views // max(len(self.train), 1))
            views = sample_views(np.repeat(self.train, per), len(self.photos), rng, Augment())
            teacher = in_batches(views, lambda v, _: self.teacher(v, None))
        return (self.pooled(student, views, rows), teacher.double().cpu().numpy(),
                self.pooled(student, self.held_views), self.held_teacher.double().cpu().numpy())

    def pooled(self, student: RetrievalNet, views: ViewParams, rows: np.ndarray | None = None,
               batch_size: int = 64) -> np.ndarray:
        """Pooled (unprojected) student features of `views` (cache `rows`: from the frozen trunk's output),
        float64."""
        student.eval()

        def chunk(v: ViewParams, idx: np.ndarray) -> torch.Tensor:
            x, after_trunk = self.student_input(student, v, None if rows is None else rows[idx])
            return self.run(self.tail.pooled if after_trunk and self.tail else student.pooled, x).double()

        with torch.inference_mode():
            feats = in_batches(views, chunk, batch_size, desc="projection init")
        return feats.cpu().numpy()
