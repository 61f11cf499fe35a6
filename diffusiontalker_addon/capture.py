"""Reading motion back out of the scene: what the mesh shows at a frame, one take's
share of it, and an animated setting sampled frame by frame.

The model works in offsets from the neutral face, so poses come back relative to
the mesh's basis shape key. They are read from the evaluated mesh, i.e. what the
user sees: shape keys and modifiers (a jaw bone driven by an armature is part of a
performance too). A modifier that changes the vertex count makes that unreadable
and is refused. Every reader leaves the scene on the frame it found it on.
"""

from __future__ import annotations

from contextlib import contextmanager

import bpy
import numpy as np

from ..core.errors import DiffusionTalkerError
from .animation import find_fcurve
from .writer import take_key_names

KEY_POSE_PREFIX = "Key Pose"  # timeline markers named so (e.g. "Key Pose.001") mark key poses


def rest_coordinates(obj: bpy.types.Object) -> np.ndarray:
    """(V, 3) neutral face: the basis shape key, or the vertices of a mesh without keys."""
    source = obj.data.shape_keys.reference_key.data if obj.data.shape_keys else obj.data.vertices
    co = np.empty(len(obj.data.vertices) * 3, dtype=np.float32)
    source.foreach_get("co", co)
    return co.reshape(-1, 3)


@contextmanager
def frame_kept(scene: bpy.types.Scene):
    """Scrub freely inside; the user's current frame is back afterwards, even on an error."""
    frame, subframe = scene.frame_current, scene.frame_subframe
    try:
        yield
    finally:
        scene.frame_set(frame, subframe=subframe)


def evaluated_offsets(context, obj: bpy.types.Object, frame: int, rest: np.ndarray) -> np.ndarray:
    """(V, 3) what the mesh shows at ``frame`` minus ``rest``; call inside ``frame_kept``."""
    context.scene.frame_set(frame)
    mesh = obj.evaluated_get(context.evaluated_depsgraph_get()).data
    if len(mesh.vertices) != len(rest):
        raise DiffusionTalkerError(
            f"'{obj.name}' shows {len(mesh.vertices)} vertices after its modifiers but has {len(rest)}; "
            "turn off modifiers that change the topology (Subdivision, Decimate …) in the viewport")
    co = np.empty(len(rest) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3) - rest


def take_share(context, obj: bpy.types.Object, take: str, frame: int) -> np.ndarray:
    """(V, 3) how much ``take``'s own shape keys move the face at ``frame``.

    Measured as the difference of the evaluated mesh with and without them, so it
    includes the user's edits to the take (scaled curves, sculpted basis keys) and
    whatever their other keys and modifiers make of it. Call inside ``frame_kept``.
    """
    rest = rest_coordinates(obj)
    blocks = [obj.data.shape_keys.key_blocks[name] for name in take_key_names(obj, take)]
    if not blocks:
        return np.zeros_like(rest)
    shown = evaluated_offsets(context, obj, frame, rest)
    muted = [block.mute for block in blocks]
    try:
        for block in blocks:
            block.mute = True
        return shown - evaluated_offsets(context, obj, frame, rest)
    finally:
        for block, was in zip(blocks, muted):
            block.mute = was


def sampled_setting(owner: bpy.types.ID, data_path: str, constant: float, frames: np.ndarray) -> np.ndarray:
    """The property's value at each frame: its F-curve where it is animated, else ``constant``.

    Read from the curve rather than by changing frames, which would re-evaluate the
    whole scene once per frame.
    """
    curve = find_fcurve(owner, data_path)
    if curve is None:
        return np.full(len(frames), constant, dtype=np.float32)
    return np.array([curve.evaluate(float(f)) for f in frames], dtype=np.float32)


def key_pose_frames(scene: bpy.types.Scene, first: int, last: int) -> list[int]:
    """Frames in [first, last] that carry a key-pose marker, each once."""
    return sorted({m.frame for m in scene.timeline_markers
                   if m.name.startswith(KEY_POSE_PREFIX) and first <= m.frame <= last})
