"""Closed-form start for the asymmetric projection: ridge regression from the student's pooled
features to the teacher's embeddings over (unlabelled) training images.

A random projection puts the student's queries nowhere near the teacher's space, so an asymmetric
loss first spends its budget on a linear map that least squares gives directly. The ridge strength
is chosen on a held-out fifth of the images (never on evaluation data), then refit on all of them.
"""

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from distill.data.images import ImageRef
from distill.encode import channels_last, image_batches
from distill.errors import DistillError
from distill.models.net import RetrievalNet

RIDGE_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)  # relative to the mean eigenvalue of the feature covariance


def pooled_features(model: RetrievalNet, refs: Sequence[ImageRef], device: torch.device,
                    batch_size: int = 32) -> np.ndarray:
    """N×backbone_dim pooled (unprojected, unnormalised) features, float64."""
    assert model.info is not None
    model.eval()
    with torch.inference_mode():
        parts = [model.pooled(channels_last(x.to(device))).double().cpu().numpy()
                 for x in image_batches(refs, model.info.preprocess, batch_size, desc="projection init")]
    return np.concatenate(parts)


def ridge_fit(x: np.ndarray, t: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """W (D×d), b (d) minimising ||(x W + b) − t||² + λ||W||², λ = `ridge` × mean eigenvalue of cov(x)."""
    mx, mt = x.mean(0), t.mean(0)
    xc = x - mx
    gram = xc.T @ xc
    lam = ridge * max(float(np.trace(gram)) / gram.shape[0], 1e-12)
    w = np.linalg.solve(gram + lam * np.eye(gram.shape[0]), xc.T @ (t - mt))
    return w, mt - mx @ w


def mean_cosine(pred: np.ndarray, t: np.ndarray) -> float:
    """Mean cosine between rows of `pred` and `t`."""
    pn = pred / np.maximum(np.linalg.norm(pred, axis=1, keepdims=True), 1e-12)
    tn = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    return float((pn * tn).sum(1).mean())


def init_projection(model: RetrievalNet, refs: Sequence[ImageRef], teacher: Callable[[np.ndarray], np.ndarray],
                    seed: int, max_images: int = 5000, device: torch.device | None = None) -> dict[str, float]:
    """Fit `model.proj` on training images: λ chosen on a held-out fifth of them (`fit_projection`)."""
    _require_projection(model)
    if len(refs) < 10:
        raise DistillError(f"projection init: needs ≥ 10 training images, got {len(refs)}")
    device = device or next(model.parameters()).device
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.permutation(len(refs))[:max_images])
    x = pooled_features(model, [refs[i] for i in idx], device)
    t = teacher(idx).astype(np.float64)
    hold = rng.permutation(len(idx))
    val, fit = hold[: len(idx) // 5], hold[len(idx) // 5:]
    return fit_projection(model, x[fit], t[fit], x[val], t[val])


def _require_projection(model: RetrievalNet) -> None:
    if model.proj is None or not isinstance(model.proj, torch.nn.Linear):
        raise DistillError("projection init: the student has no linear projection (asym mode builds one)")


def fit_projection(model: RetrievalNet, x_fit: np.ndarray, t_fit: np.ndarray, x_val: np.ndarray,
                   t_val: np.ndarray, refit_all: bool = True) -> dict[str, float]:
    """Set `model.proj` to the ridge map from pooled features `x` to teacher embeddings `t`: λ is chosen by
    the held-out rows' mean cosine, then (`refit_all`) the map is refit on all rows, or kept as fitted so
    the held-out rows stay unseen (when they also choose checkpoints). Returns λ, the held-out and train
    mean cosines and the number of rows fitted."""
    _require_projection(model)
    assert isinstance(model.proj, torch.nn.Linear)
    if len(x_val) < 2 or len(x_fit) < 2:
        raise DistillError(f"projection init: needs held-out and fit rows, got {len(x_val)} and {len(x_fit)}")
    scores = {r: mean_cosine(x_val @ w + b, t_val) for r in RIDGE_GRID for w, b in [ridge_fit(x_fit, t_fit, r)]}
    best = max(scores, key=lambda r: scores[r])
    x, t = (np.concatenate([x_fit, x_val]), np.concatenate([t_fit, t_val])) if refit_all else (x_fit, t_fit)
    w, b = ridge_fit(x, t, best)
    # The output is L2-normalised, so (W, b) may be scaled freely: match the default init's weight size so
    # that Adam's steps (about lr per weight, whatever the gradient's scale) perturb it no more than usual.
    scale = math.sqrt(1.0 / (3 * w.shape[0])) / max(float(np.sqrt((w**2).mean())), 1e-30)
    w, b = w * scale, b * scale
    with torch.no_grad():
        model.proj.weight.copy_(torch.from_numpy(w.T))
        model.proj.bias.copy_(torch.from_numpy(b))
    return {"ridge": best, "heldout_cosine": scores[best], "train_cosine": mean_cosine(x @ w + b, t),
            "images": float(len(x))}
