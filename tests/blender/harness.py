"""What the Blender-side scenario scripts read off a head, shared so each reads it alike."""

import numpy as np


def refusal(op, **kwargs) -> str | None:
    """The operator's error (bpy.ops raises on an ERROR report), or None if it went through."""
    try:
        op(**kwargs)
    except RuntimeError as exc:
        return str(exc)
    return None


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
