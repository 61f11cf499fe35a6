"""Retiming a take from the model's frame rate to the scene's.

Kept free of ``bpy`` so it is testable anywhere. Linear interpolation between the
two nearest model frames: the model's motion is smooth at 30 fps, so anything
fancier would only add ringing at the lip closures.
"""

from __future__ import annotations

import numpy as np


def resample_offsets(offsets: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """(T, V, 3) at ``src_fps`` -> (N, V, 3) at ``dst_fps`` covering the same duration."""
    if src_fps <= 0 or dst_fps <= 0:
        raise ValueError(f"frame rates must be positive (got {src_fps} and {dst_fps})")
    count = offsets.shape[0]
    if count == 0 or abs(src_fps - dst_fps) < 1e-9:
        return offsets
    out_count = max(1, int(round(count * dst_fps / src_fps)))
    position = np.minimum(np.arange(out_count) * (src_fps / dst_fps), count - 1)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, count - 1)
    frac = (position - lower).astype(offsets.dtype)[:, None, None]
    return offsets[lower] * (1 - frac) + offsets[upper] * frac
