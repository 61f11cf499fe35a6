"""F-curves of a datablock across Blender's action API changes.

Blender 4.4 introduced slotted (layered) actions, where F-curves live in a
channelbag per slot, and 5.0 removed the old ``Action.fcurves``. 4.2 and 4.3 only
have ``Action.fcurves``. Everything that writes keys goes through here, so the
writer never needs to know which Blender it runs in.
"""

from __future__ import annotations

import bpy
import numpy as np

_LAYERED = hasattr(bpy.types, "ActionSlot")
_INTERPOLATION = {item.identifier: item.value for item in bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items}


def fcurves_of(datablock: bpy.types.ID, action_name: str):
    """The F-curve collection animating ``datablock`` alone, creating action/slot/layer as needed.

    An action the user already assigned is reused (their keys live there too), so
    our curves sit beside theirs and theirs are never replaced. Curves that also
    animate another datablock (one action shared before 4.4, one slot since) are
    first swapped for a copy, named ``action_name``: keys written there would move both.
    """
    anim = datablock.animation_data or datablock.animation_data_create()
    if anim.action is None:
        anim.action = bpy.data.actions.new(action_name)
    elif _animates_others(datablock, anim):
        anim.action, slot = copied_action(datablock, action_name)
        if slot is not None:
            anim.action_slot = slot
    action = anim.action
    if not _LAYERED:
        return action.fcurves
    slot = anim.action_slot
    if slot is None:
        # A slot another datablock animates through is theirs: writing into it would key both.
        slot = next((s for s in anim.action_suitable_slots if not s.users()), None) \
            or action.slots.new(id_type=datablock.id_type, name=datablock.name)
        anim.action_slot = slot
    layer = action.layers[0] if action.layers else action.layers.new("Layer")
    strip = layer.strips[0] if layer.strips else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True).fcurves


def _animates_others(datablock: bpy.types.ID, anim) -> bool:
    if _LAYERED:
        return anim.action_slot is not None and any(user != datablock for user in anim.action_slot.users())
    users = bpy.data.user_map(subset=[anim.action], value_types={datablock.id_type})[anim.action]
    return bool(users - {datablock})


def existing_fcurves(datablock: bpy.types.ID):
    """The F-curves already animating ``datablock`` (its action, in 4.4+ its slot), or None."""
    anim = datablock.animation_data
    if anim is None or anim.action is None:
        return None
    return action_fcurves(anim.action, anim.action_slot if _LAYERED else None)


def action_fcurves(action: bpy.types.Action, slot):
    """The F-curves ``action`` holds for ``slot`` (4.4+; None when it holds none), or all of
    its curves where actions have no slots; an NLA strip's curves are found the same way."""
    if not _LAYERED:
        return action.fcurves
    from bpy_extras.anim_utils import action_get_channelbag_for_slot

    channelbag = slot and action_get_channelbag_for_slot(action, slot)
    return channelbag.fcurves if channelbag else None


def copied_action(datablock: bpy.types.ID, name: str):
    """(a copy of the action animating ``datablock``, the copy's slot for it or None before 4.4).

    A copy keeps every keyframe, handle, easing and curve modifier exactly, which
    rebuilding curves key by key would not. Slots of other datablocks are left out: the
    copy animates this one only.
    """
    anim = datablock.animation_data
    action = anim.action.copy()
    action.name = name
    if not _LAYERED:
        return action, None
    for slot in [s for s in action.slots if s.identifier != anim.action_slot.identifier]:
        action.slots.remove(slot)
    return action, action.slots[anim.action_slot.identifier]


def find_fcurve(datablock: bpy.types.ID, data_path: str):
    """The curve animating ``data_path`` (index 0), or None when the property is not animated."""
    collection = existing_fcurves(datablock)
    return collection.find(data_path) if collection is not None else None


def remove_fcurves(datablock: bpy.types.ID, data_paths: set[str]) -> int:
    """Delete the F-curves animating exactly these paths; every other curve stays."""
    collection = existing_fcurves(datablock)
    if collection is None:
        return 0
    doomed = [fc for fc in collection if fc.data_path in data_paths]
    for fc in doomed:
        collection.remove(fc)
    return len(doomed)


def set_keys(fcurve, frames: np.ndarray, values: np.ndarray, interpolation: str) -> None:
    """Write all keyframes of one curve in two bulk calls instead of a keyframe_insert loop."""
    points = fcurve.keyframe_points
    points.add(len(frames))
    co = np.empty((len(frames), 2), dtype=np.float32)
    co[:, 0] = frames
    co[:, 1] = values
    points.foreach_set("co", co.ravel())
    points.foreach_set("interpolation", np.full(len(frames), _INTERPOLATION[interpolation], dtype=np.int32))
    fcurve.update()  # sorts keys and computes the Bezier handles the Graph Editor shows
