"""What the Blender-side scenario scripts share: reading a head alike, and running scenarios
so that a broken one is an observation and the others still run."""

import json
import os
import traceback

import bpy
import numpy as np
import soundfile


def refusal(op, **kwargs) -> str | None:
    """The operator's error (bpy.ops raises on an ERROR report), or None if it went through."""
    try:
        op(**kwargs)
    except RuntimeError as exc:
        return str(exc)
    return None


def short_clip(wav: str, work: str, seconds: float = 1.2) -> str:
    """The first ``seconds`` of the speech as a file in ``work``: enough for a take to move
    the face, and short enough that a model run takes seconds on two cores."""
    wave, rate = soundfile.read(wav, dtype="float32")
    path = os.path.join(work, "clip.wav")
    soundfile.write(path, wave[: int(seconds * rate)], rate)
    return path


def flame_head(ply: str, offset: float) -> bpy.types.Object:
    """A fresh file holding the FLAME template as 'Head' with the user's own animated shape key
    'Smile' (every vertex moved by ``offset``), which no take may touch."""
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.ply_import(filepath=ply)
    head = bpy.context.active_object
    head.name = "Head"
    head.shape_key_add(name="Basis", from_mix=False)
    smile = head.shape_key_add(name="Smile", from_mix=False)
    smile.data.foreach_set("co", (coordinates(smile) + offset).ravel())
    for frame, value in ((1, 0.2), (20, 0.9)):
        smile.value = value
        smile.keyframe_insert("value", frame=frame)
    return head


def coordinates(block) -> np.ndarray:
    co = np.empty(len(block.data) * 3, dtype=np.float32)
    block.data.foreach_get("co", co)
    return co.reshape(-1, 3)


def active_curves(obj) -> dict:
    """data path -> F-curve of the shape keys' own action (not the NLA's)."""
    anim = obj.data.shape_keys.animation_data
    if anim is None or anim.action is None:
        return {}
    if hasattr(anim, "action_slot"):
        from bpy_extras.anim_utils import action_get_channelbag_for_slot

        bag = action_get_channelbag_for_slot(anim.action, anim.action_slot)
        return {fc.data_path: fc for fc in bag.fcurves} if bag else {}
    return {fc.data_path: fc for fc in anim.action.fcurves}


def shown(obj, frame) -> np.ndarray:
    """(V, 3) what Blender shows at ``frame`` minus the basis."""
    bpy.context.scene.frame_set(frame)
    mesh = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3) - coordinates(obj.data.shape_keys.reference_key)


def run_all(scenarios, observed: dict, out: str) -> None:
    """Add each scenario's observations (or its traceback) to ``observed`` and write them as JSON to ``out``."""
    for run in scenarios:
        try:
            observed[run.__name__] = run()
        except Exception:  # noqa: BLE001 - a broken scenario is an observation, the others still run
            observed[run.__name__] = {"crash": traceback.format_exc()}
    with open(out, "w") as fh:
        json.dump(observed, fh, indent=1)
