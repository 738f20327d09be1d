"""Synthetic distractor embeddings for scale tests: draws from a Gaussian with the mean and covariance
of real teacher embeddings, L2-normalised — the same first and second moments as the real database, so
the index sees realistic similarity distributions (no images behind them: they are never positives)."""

import numpy as np

from distill.errors import DistillError


def gaussian_like(real: np.ndarray, n: int, seed: int = 0, chunk: int = 65536) -> np.ndarray:
    """n×d unit vectors ~ N(mean(real), cov(real)), normalised. The covariance is used exactly through
    the centred data: x = μ + Xcᵀ g / √(m−1) with g ~ N(0, I_m), so no d×d matrix is formed."""
    real = np.asarray(real, dtype=np.float64)
    if real.ndim != 2 or len(real) < 2:
        raise DistillError(f"distractors need at least 2 real embeddings (N×d), got shape {real.shape}")
    rng = np.random.default_rng(seed)
    mu = real.mean(0)
    xc = (real - mu) / np.sqrt(len(real) - 1)
    out = np.empty((n, real.shape[1]), np.float32)
    for start in range(0, n, chunk):
        g = rng.standard_normal((min(chunk, n - start), len(real)))
        v = mu + g @ xc
        out[start: start + len(v)] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out
