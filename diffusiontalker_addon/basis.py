"""A few dozen shape keys that reproduce a whole take.

One shape key per frame is exact but heavy and cannot be edited like hand
animation. A truncated SVD of the (frames x coordinates) offset matrix gives the
best rank-K reconstruction, so K basis shapes with one weight curve each is the
smallest faithful representation. The SVD is randomized (fixed seed) because an
exact SVD of 1800 x 15069 does not fit the one-second write budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Basis:
    shapes: np.ndarray  # (K, V, 3) float32 offsets, scaled so every weight lies in [-1, 1]
    weights: np.ndarray  # (T, K) float32 per-frame shape key values
    rms_error: float  # metres, per vertex position over all frames
    max_error: float  # metres, worst vertex in the worst frame


def principal_basis(offsets: np.ndarray, count: int, seed: int = 0, power_iterations: int = 1) -> Basis:
    """Best rank-``count`` reconstruction of (T, V, 3) offsets as shapes x weights."""
    frames, vertices = offsets.shape[:2]
    matrix = np.ascontiguousarray(offsets, dtype=np.float32).reshape(frames, vertices * 3)
    count = max(1, min(count, frames, vertices * 3))
    sketch = min(count + 10, frames, vertices * 3)
    if sketch >= min(frames, vertices * 3):
        u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    else:
        rng = np.random.default_rng(seed)
        probe = matrix @ rng.standard_normal((vertices * 3, sketch)).astype(np.float32)
        for _ in range(power_iterations):  # sharpens the spectrum so small components are not lost
            q, _ = np.linalg.qr(probe)
            probe = matrix @ (matrix.T @ q)
        q, _ = np.linalg.qr(probe)
        # SVD of the thin (sketch x D) projection through its small Gram matrix: an exact
        # SVD of it would cost more than everything else here together.
        projected = (q.T @ matrix).astype(np.float64)
        eigenvalues, eigenvectors = np.linalg.eigh(projected @ projected.T)
        order = np.argsort(eigenvalues)[::-1]
        s = np.sqrt(np.maximum(eigenvalues[order], 0.0))
        vt = (eigenvectors[:, order].T @ projected) / np.maximum(s, 1e-30)[:, None]
        u = q @ eigenvectors[:, order].astype(np.float32)
    coefficients = u[:, :count] * s[:count]
    shapes = vt[:count]
    scale = np.abs(coefficients).max(axis=0)
    scale[scale == 0] = 1.0
    weights = (coefficients / scale).astype(np.float32)
    shapes = (shapes * scale[:, None]).astype(np.float32)
    residual = (matrix - weights @ shapes).reshape(frames, vertices, 3)
    squared = np.einsum("tvc,tvc->tv", residual, residual)
    return Basis(
        shapes=shapes.reshape(count, vertices, 3),
        weights=weights,
        rms_error=float(np.sqrt(squared.mean())),
        max_error=float(np.sqrt(squared.max())),
    )
