"""Re-timing motion between frame rates, in numpy alone.

The model animates at its checkpoint's rate and a Blender scene plays at its own;
the add-on maps one onto the other on Blender's main thread, before and after the
model runs, where importing torch would freeze the interface.
"""

from __future__ import annotations

import numpy as np


def resample_fps(frames: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Linear re-timing of (T, ...) frames, keeping the clip's duration."""
    if abs(fps_in - fps_out) < 1e-6 or len(frames) < 2:
        return frames
    duration = len(frames) / fps_in
    t_out = np.arange(max(1, int(round(duration * fps_out)))) / fps_out
    pos = np.clip(t_out * fps_in, 0, len(frames) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(frames) - 1)
    w = (pos - lo).reshape(-1, *([1] * (frames.ndim - 1))).astype(frames.dtype)
    return frames[lo] * (1 - w) + frames[hi] * w
