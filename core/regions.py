"""Named vertex regions (lips, forehead, …) as index lists in JSON.

FLAME's masks and the VOCASET evaluation regions are research data we may not
redistribute, so regions are always read from a file the user names; by default the
copies in ``../shared/flame`` beside a source checkout, when they are there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .errors import DiffusionTalkerError

CLOSED_MM = 1.0  # lips nearer than this (gap change from the neutral) are together: p/b/m closure
SHARED_FLAME = Path(__file__).resolve().parents[1].parent / "shared" / "flame"


def load_regions(path: str | os.PathLike, num_vertices: int | None = None,
                 required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Index lists by name; ``required`` names must be there, or the file is refused."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DiffusionTalkerError(f"{path}: cannot read region lists ({exc})") from None
    if not isinstance(raw, dict):
        raise DiffusionTalkerError(f"{path}: expected a JSON object of region name -> vertex index list")
    regions = {name: np.asarray(idx, dtype=np.int64) for name, idx in raw.items() if isinstance(idx, list)}
    missing = [name for name in required if name not in regions]
    if missing:
        raise DiffusionTalkerError(f"{path}: no {' or '.join(repr(m) for m in missing)} vertex list")
    if num_vertices is not None:
        for name, idx in regions.items():
            if idx.size and (idx.min() < 0 or idx.max() >= num_vertices):
                raise DiffusionTalkerError(
                    f"{path}: region '{name}' indexes vertices beyond a {num_vertices}-vertex mesh")
    return regions


def default_region_file(name: str) -> Path | None:
    """``FLAME_masks.json`` or ``vocaset_eval_regions.json`` from ../shared/flame, if present."""
    path = SHARED_FLAME / name
    return path if path.is_file() else None


def vertex_weights(num_vertices: int, emphasised: np.ndarray | None, weight: float) -> np.ndarray:
    """Per-vertex loss weights: ``weight`` on the emphasised region (the lips), 1 elsewhere."""
    w = np.ones(num_vertices, dtype=np.float32)
    if emphasised is not None:
        w[emphasised] = weight
    return w


def lip_region_file(regions_path, num_vertices: int):
    """The file to read 'lips' from: the user's, else FLAME's masks for FLAME meshes."""
    if regions_path is None and num_vertices == 5023:
        return default_region_file("FLAME_masks.json")
    return regions_path


def mouth_landmarks(template: np.ndarray, lips: np.ndarray):
    """Upper and lower lip vertices near the midline: the quarter of the lip vertices
    closest to the face's centre line, split at their median height."""
    centre_x = np.median(template[:, 0])
    order = np.argsort(np.abs(template[lips, 0] - centre_x), kind="stable")
    mid = lips[order[: max(4, len(lips) // 4)]]
    split = np.median(template[mid, 1])
    return mid[template[mid, 1] > split], mid[template[mid, 1] <= split]


def lip_gap(vertices, upper, lower):
    """Height of the upper lip's landmarks over the lower's, along the face's up axis, per
    frame: numpy arrays or torch tensors alike, so the metric (evaluate) and the loss that
    trains for it (losses) measure the same gap."""
    return vertices[..., upper, 1].mean(-1) - vertices[..., lower, 1].mean(-1)
