"""How a head of FLAME's topology stands against FLAME's own frame.

The model's offsets are in FLAME's frame: metres, Y up, the face toward +Z. A FLAME head
brought into Blender often is not: an importer or the user stood it up Z-up and applied
the rotation, or it was modelled in centimetres. Offsets added as they are would then
open the jaw into the face, or move the lips by a hundredth of their size, with no error
to show for it. Four vertices, picked by index (the same on every FLAME head), find the
head's axes and size: the eye regions' centres give the left-right axis and the
forehead's and lips' centres the up one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEFT_EYE, RIGHT_EYE, FOREHEAD, LIPS = 1224, 2454, 3524, 3547
# The same lengths on FLAME's template (FLAME_sample.ply), in metres; tests check them there.
EYES_M, FOREHEAD_TO_LIPS_M = 0.072466, 0.102469
# A head within these of FLAME's frame is in it: what is left is its own shape.
STANDING_DEGREES, SIZE_SHARE = 10.0, 0.25


@dataclass(frozen=True)
class Frame:
    """FLAME's axes in the head's coordinates (rows: FLAME's x, y, z) and its size."""
    axes: np.ndarray
    scale: float

    @property
    def is_flames(self) -> bool:
        return np.allclose(self.axes, np.eye(3)) and self.scale == 1.0

    def to_head(self, offsets: np.ndarray) -> np.ndarray:
        """(..., 3) offsets in FLAME's frame -> the head's."""
        return offsets if self.is_flames else (self.scale * offsets @ self.axes).astype(offsets.dtype)

    def to_flame(self, offsets: np.ndarray) -> np.ndarray:
        return offsets if self.is_flames else (offsets @ self.axes.T / self.scale).astype(offsets.dtype)

    def describe(self) -> str:
        names = {0: "x", 1: "y", 2: "z"}
        up = self.axes[1]
        axis = int(np.argmax(np.abs(up)))
        side = f"{'+' if up[axis] > 0 else '-'}{names[axis]} up" if abs(up[axis]) > 0.99 else "tilted"
        return side if self.scale == 1.0 else f"{side}, {self.scale:.3g} times FLAME's size"


def frame_of(vertices: np.ndarray) -> Frame:
    """The frame of a FLAME-topology head's rest shape (V, 3). Axes within STANDING_DEGREES
    of a quarter turn (none being one of them) are taken as that turn, and a size within
    SIZE_SHARE of FLAME's as FLAME's, so a FLAME head as FLAME ships it gets the model's
    offsets untouched."""
    v = np.asarray(vertices, dtype=np.float64)
    across, up = v[LEFT_EYE] - v[RIGHT_EYE], v[FOREHEAD] - v[LIPS]
    size = (np.linalg.norm(across) + np.linalg.norm(up)) / (EYES_M + FOREHEAD_TO_LIPS_M)
    if not np.isfinite(size) or size <= 0:
        return Frame(np.eye(3), 1.0)  # a degenerate head: nothing to tell, leave the offsets be
    x = across / np.linalg.norm(across)
    y = up - (up @ x) * x
    y /= np.linalg.norm(y)
    axes = np.stack([x, y, np.cross(x, y)])
    turn = np.round(axes)  # the nearest quarter turn, where it is one
    if np.allclose(np.abs(turn).sum(axis=1), 1) and np.allclose(np.abs(turn).sum(axis=0), 1) \
            and _degrees(axes, turn) < STANDING_DEGREES:
        axes = turn
    return Frame(axes, 1.0 if abs(size - 1.0) < SIZE_SHARE else float(size))


def _degrees(a: np.ndarray, b: np.ndarray) -> float:
    """The angle of the rotation taking ``b`` to ``a``."""
    cos = (np.trace(a @ b.T) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
