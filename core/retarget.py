"""Apply a take to another FLAME-topology head.

Offsets from the neutral are topology-level motion, so the simplest transfer adds
them to the other head's own neutral (``mode="offsets"``): the face keeps its shape
and moves as the source moved. That is wrong in size when the faces differ (a 30%
wider mouth should open its corners 30% further), so ``mode="deformation"`` maps each
vertex's offset through the local linear map that takes the source neutral's
one-ring edges onto the target's (a per-vertex deformation gradient, regularised
toward the identity where the ring says little). Same topology is required; the
vertex count is checked.
"""

from __future__ import annotations

import numpy as np

from .mesh import check_vertex_count


def one_ring(num_vertices: int, faces) -> list[np.ndarray]:
    neighbours = [set() for _ in range(num_vertices)]
    for face in faces:
        for i, a in enumerate(face):
            neighbours[a].update(face[:i] + face[i + 1:])
    return [np.fromiter(n, dtype=np.int64) for n in neighbours]


def local_maps(source: np.ndarray, target: np.ndarray, faces, regulariser: float = 1e-2) -> np.ndarray:
    """(V, 3, 3) linear maps A_i with E_src,i @ A_i ≈ E_tgt,i over each one-ring."""
    rings = one_ring(len(source), faces)
    maps = np.repeat(np.eye(3)[None], len(source), axis=0)
    for i, ring in enumerate(rings):
        if ring.size == 0:
            continue
        e_s, e_t = source[ring] - source[i], target[ring] - target[i]
        scale = regulariser * float((e_s ** 2).sum()) / len(ring)  # relative to the ring's own size
        maps[i] = np.linalg.solve(e_s.T @ e_s + scale * np.eye(3), e_s.T @ e_t + scale * np.eye(3))
    return maps


def retarget(offsets: np.ndarray, source_neutral: np.ndarray, target_neutral: np.ndarray, faces=None,
             mode: str = "offsets") -> np.ndarray:
    """(T, V, 3) offsets made on ``source_neutral`` -> offsets for ``target_neutral``."""
    check_vertex_count(len(target_neutral), offsets.shape[1], "target head")
    if mode == "offsets":
        return offsets.copy()
    if mode != "deformation":
        raise ValueError(f"unknown retarget mode {mode!r}; use 'offsets' or 'deformation'")
    if faces is None:
        raise ValueError("deformation transfer needs the mesh faces")
    maps = local_maps(np.asarray(source_neutral, np.float64), np.asarray(target_neutral, np.float64), faces)
    return np.einsum("tvi,vij->tvj", offsets.astype(np.float64), maps).astype(np.float32)
