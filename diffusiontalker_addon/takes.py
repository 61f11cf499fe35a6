"""The takes on a head: the list of them, and switching, muting, deleting and baking one.

Takes on one head add up when they all play, so a new take silences the others
unless asked to layer. A take is found from its shape keys' names, the way the
writer names them, so a take written before takes were recorded is listed too; what
the names cannot tell (the style, the seed, the frames) is recorded on the head's
shape-key datablock when the take is written. Muting uses the shape keys' own Mute,
which keeps every key and curve as it is, and also silences the take's sound strip:
takes of one line usually share its frames, and their strips would play at once.

A separate Lower Teeth object takes the head's take under the same name; the head's
record names it and its record names the head, so what is done to the head's take
(solo, mute, delete, bake, or a new take that silences it) is done to the teeth's,
and what is done on the teeth alone leaves the sound strip, which is the head's.

Baking moves a take's curves out of the action it shares with the user's keys and
the other takes into an action of its own, played by an NLA track of the same name:
one action per take is what the NLA Editor stacks and swaps, and what exporters that
write one animation per action take apart.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty

from ..core.errors import DiffusionTalkerError
from .animation import action_fcurves, copied_action, existing_fcurves, remove_fcurves
from .inputs import SetupError, target_mesh
from .panel import DIFFUSIONTALKER_PT_lip_sync, _SidebarTab
from .writer import BASIS, PER_FRAME, _TAKE_SUFFIX, _take_pattern, all_strips, audio_strip_name, holder, remove_take

RECORDS = "diffusiontalker_takes"  # custom property of the head's Key: take name -> what made it
_ANY_TAKE = re.compile("(.+)" + _TAKE_SUFFIX)
_VALUE_PATH = re.compile(r'key_blocks\["(.*)"\]\.value')


@dataclass
class Take:
    name: str
    mode: str
    keys: list[str]
    muted: bool  # every one of its keys is
    record: dict  # mode, style, seed, variation, start, frames, transcript (given or not); empty before records


def take_of_key(name: str) -> str | None:
    match = _ANY_TAKE.fullmatch(name)
    return match.group(1) if match else None


def takes_of(obj: bpy.types.Object) -> list[Take]:
    """The head's takes in the order of their first shape keys."""
    key = obj.data.shape_keys
    if key is None:
        return []
    found: dict[str, list] = {}
    for block in key.key_blocks:
        take = take_of_key(block.name)
        if take is not None:
            found.setdefault(take, []).append(block)
    records = key.get(RECORDS, {})
    return [Take(name, BASIS if blocks[0].name[len(name) + 1:].startswith("pc") else PER_FRAME,
                 [b.name for b in blocks], all(b.mute for b in blocks),
                 records[name].to_dict() if name in records else {})
            for name, blocks in found.items()]


def find_take(obj: bpy.types.Object, name: str) -> Take:
    takes = takes_of(obj)
    found = next((t for t in takes if t.name == name), None)
    if found is None:
        listed = ", ".join(t.name for t in takes) or "none"
        raise SetupError(f"'{obj.name}' has no take named {name!r} (its takes: {listed})")
    return found


def first_keys(key_blocks, flag: int) -> list[int]:
    """UIList filter flags that keep one row per take: its first shape key."""
    seen = set()
    flags = []
    for block in key_blocks:
        take = take_of_key(block.name)
        flags.append(flag if take is not None and take not in seen else 0)
        seen.add(take)
    return flags


def _sound_strip(scene: bpy.types.Scene, take: str):
    return all_strips(scene).get(audio_strip_name(take)) if scene.sequence_editor else None


def _teeth_take(obj: bpy.types.Object, take: Take) -> tuple[bpy.types.Object, Take] | None:
    """The Lower Teeth that took this take of the head with it, and their take, if both are still there."""
    teeth = bpy.data.objects.get(take.record.get("lower_teeth") or "")
    if teeth is None or teeth.type != "MESH":
        return None
    theirs = next((t for t in takes_of(teeth) if t.name == take.name and t.record.get("follows") == obj.name), None)
    return (teeth, theirs) if theirs is not None else None


def set_muted(scene: bpy.types.Scene, obj: bpy.types.Object, take: Take, muted: bool) -> None:
    blocks = obj.data.shape_keys.key_blocks
    for name in take.keys:
        blocks[name].mute = muted
    if take.record.get("follows"):
        return  # the teeth's take: the strip is the head's to mute
    strip = _sound_strip(scene, take.name)
    if strip is not None:
        strip.mute = muted
    if (teeth := _teeth_take(obj, take)) is not None:
        set_muted(scene, *teeth, muted)


def solo(scene: bpy.types.Scene, obj: bpy.types.Object, name: str) -> None:
    """Show and hear only this take; the user's own keys are left as they are."""
    for take in takes_of(obj):
        set_muted(scene, obj, take, take.name != name)


def _owned(data_path: str, pattern: re.Pattern) -> bool:
    """Whether the curve animates a shape key named like the take's, deleted or not."""
    match = _VALUE_PATH.fullmatch(data_path)
    return bool(match and pattern.fullmatch(bpy.utils.unescape_identifier(match.group(1))))


def _remove_baked(key: bpy.types.Key, take: str) -> None:
    """Take the take's curves out of the head's NLA strips; a strip (and its track and
    action) left with nothing is removed, one that still animates something else stays."""
    anim = key.animation_data
    if anim is None:
        return
    pattern = _take_pattern(take)
    for track in list(anim.nla_tracks):
        emptied = 0
        for strip in list(track.strips):
            curves = strip.action and action_fcurves(strip.action, getattr(strip, "action_slot", None))
            doomed = [fc for fc in curves or () if _owned(fc.data_path, pattern)]
            for fc in doomed:
                curves.remove(fc)
            if doomed and not len(curves):
                action = strip.action
                track.strips.remove(strip)
                emptied += 1
                if not action.users:
                    bpy.data.actions.remove(action)
        if emptied and not len(track.strips):
            anim.nla_tracks.remove(track)


def delete(scene: bpy.types.Scene, obj: bpy.types.Object, take: Take) -> None:
    """Remove the take's shape keys, their curves wherever they play, its sound strip and its record."""
    key = obj.data.shape_keys
    _remove_baked(key, take.name)
    records = key.get(RECORDS)
    if records is not None and take.name in records:
        del records[take.name]
    remove_take(obj, take.name)
    if take.record.get("follows"):
        return
    strip = _sound_strip(scene, take.name)
    if strip is not None:
        holder(scene, strip).remove(strip)
    if (teeth := _teeth_take(obj, take)) is not None:
        delete(scene, *teeth)


def bake(obj: bpy.types.Object, take: Take) -> bpy.types.Action:
    """Move the take's curves into their own action, played where they played by an NLA
    strip: a copy of the head's action keeps every key and handle exactly as it was."""
    key = obj.data.shape_keys
    paths = _curve_paths(key, take.name)
    if not paths:
        raise SetupError(f"take '{take.name}' has no curves in the action of '{obj.name}' to bake; "
                         "a baked take plays from its NLA track (see the NLA Editor)")
    action, slot = copied_action(key, take.name)
    curves = action_fcurves(action, slot)
    for fc in [fc for fc in curves if fc.data_path not in paths]:
        curves.remove(fc)
    remove_fcurves(key, paths)
    track = key.animation_data.nla_tracks.new()
    track.name = take.name
    strip = track.strips.new(take.name, math.floor(action.frame_range[0]), action)
    if slot is not None:
        strip.action_slot = slot
    teeth = _teeth_take(obj, take)
    if teeth is not None and _curve_paths(teeth[0].data.shape_keys, take.name):  # not baked on their own already
        bake(*teeth)
    return action


def _curve_paths(key: bpy.types.Key, take: str) -> set[str]:
    """The data paths of the take's curves in the Key's own action."""
    pattern = _take_pattern(take)
    return {fc.data_path for fc in existing_fcurves(key) or () if _owned(fc.data_path, pattern)}


def settle_new_take(scene: bpy.types.Scene, obj: bpy.types.Object, plan, made, frames: int,
                    follows: str = "") -> None:
    """Record what a just-written take was made with (and which Lower Teeth took it, or,
    on the teeth, which head they follow), drop what a bake of its previous version left
    in the NLA, and silence the other takes unless the plan layers them. Teeth that took
    the previous version and not this one lose theirs."""
    key = obj.data.shape_keys
    if RECORDS not in key:
        key[RECORDS] = {}
    before = next((t for t in takes_of(obj) if t.name == plan.take), None)
    stale = before is not None and not follows and _teeth_take(obj, before)
    if stale and stale[0].name != plan.lower_teeth:
        delete(scene, *stale)
    style = f"{made.style} + {made.blend_style}" if made.blend_style else made.style
    key[RECORDS][plan.take] = {"mode": plan.mode, "style": style, "seed": made.seed, "variation": made.variation,
                               "start": plan.start_frame, "frames": frames, "transcript": plan.transcript,
                               **({"follows": follows} if follows else {"lower_teeth": plan.lower_teeth})}
    _remove_baked(key, plan.take)
    if plan.mute_other_takes:
        solo(scene, obj, plan.take)
    elif not follows and (strip := _sound_strip(scene, plan.take)) is not None:
        strip.mute = False  # the take plays, so its line does: a take before it in the run may have muted it


def playing_spans(obj: bpy.types.Object) -> list[tuple[int, int]]:
    """(start frame, frames) of the head's takes that play (not muted, made since takes
    were recorded)."""
    return [(int(t.record["start"]), int(t.record["frames"])) for t in takes_of(obj)
            if not t.muted and "start" in t.record]


class _TakeOperator:
    bl_options = {"UNDO"}

    take: StringProperty(name="Take", options={"SKIP_SAVE"}, description="Name of the take")
    object: StringProperty(name="Object", options={"SKIP_SAVE"},
                           description="The head carrying the take; empty for the active object")

    def execute(self, context):
        try:
            obj = target_mesh(context, self.object or None)
            message = self.act(context, obj, find_take(obj, self.take))
        except DiffusionTalkerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, message)
        return {"FINISHED"}


class DIFFUSIONTALKER_OT_take_solo(_TakeOperator, bpy.types.Operator):
    """Show and hear only this take: every other take on the head is muted"""

    bl_idname = "diffusiontalker.take_solo"
    bl_label = "Solo Take"

    def act(self, context, obj, take):
        solo(context.scene, obj, take.name)
        return f"{take.name} plays alone on '{obj.name}'"


class DIFFUSIONTALKER_OT_take_mute(_TakeOperator, bpy.types.Operator):
    """Mute or unmute the take: its shape keys and curves stay, but it stops moving the face and its sound strip is silent"""

    bl_idname = "diffusiontalker.take_mute"
    bl_label = "Mute Take"

    mute: BoolProperty(name="Mute", default=True, options={"SKIP_SAVE"},
                       description="Mute the take; off unmutes it")

    def act(self, context, obj, take):
        set_muted(context.scene, obj, take, self.mute)
        return f"{take.name} {'muted' if self.mute else 'unmuted'}"


class DIFFUSIONTALKER_OT_take_delete(_TakeOperator, bpy.types.Operator):
    """Delete the take: its shape keys, their animation and its sound strip; your own shape keys stay"""

    bl_idname = "diffusiontalker.take_delete"
    bl_label = "Delete Take"

    def act(self, context, obj, take):
        delete(context.scene, obj, take)
        return f"{take.name} deleted ({len(take.keys)} shape keys)"


class DIFFUSIONTALKER_OT_take_bake(_TakeOperator, bpy.types.Operator):
    """Move the take's animation into one action of its own, on an NLA track named after it, to stack, swap or export it"""

    bl_idname = "diffusiontalker.take_bake"
    bl_label = "Bake to One Action"

    def act(self, context, obj, take):
        action = bake(obj, take)
        return f"{take.name} baked into the action '{action.name}' on the NLA track '{take.name}'"


class DIFFUSIONTALKER_UL_takes(bpy.types.UIList):
    """Runs over the head's shape keys and shows one row per take, at its first key."""

    def filter_items(self, context, data, propname):
        return first_keys(getattr(data, propname), self.bitflag_filter_item), []

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        name = take_of_key(item.name)
        record = data.get(RECORDS, {}).get(name) or {}
        row = layout.row(align=True)
        row.label(text=name, icon="SHAPEKEY_DATA")
        if record:
            said = " · transcript" if record.get("transcript") else ""  # records before transcripts lack it
            row.label(text=f"{record['style']} · seed {record['seed']} · {record['frames']} f{said}")
        muted = item.mute  # a take's keys are muted together
        op = row.operator("diffusiontalker.take_solo", text="", icon="SOLO_OFF", emboss=False)
        op.take = name
        op = row.operator("diffusiontalker.take_mute", text="", icon="HIDE_ON" if muted else "HIDE_OFF", emboss=False)
        op.take, op.mute = name, not muted


class DIFFUSIONTALKER_PT_takes(_SidebarTab, bpy.types.Panel):
    """The active head's takes, so that one shows at a time and the rest can be compared, baked or let go."""

    bl_label = "Takes"
    bl_idname = "DIFFUSIONTALKER_PT_takes"
    bl_parent_id = DIFFUSIONTALKER_PT_lip_sync.bl_idname

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(context.scene.diffusiontalker, "mute_other_takes")
        layout.prop(context.scene.diffusiontalker, "fit_frame_range")
        obj = context.active_object
        key = obj.data.shape_keys if obj is not None and obj.type == "MESH" else None
        if key is None or not any(first_keys(key.key_blocks, 1)):
            layout.label(text="No takes on the active object", icon="INFO")
            return
        layout.template_list("DIFFUSIONTALKER_UL_takes", "", key, "key_blocks", key, "diffusiontalker_take_index")
        index = key.diffusiontalker_take_index
        chosen = take_of_key(key.key_blocks[index].name) if 0 <= index < len(key.key_blocks) else None
        row = layout.row(align=True)
        row.enabled = chosen is not None
        row.operator("diffusiontalker.take_bake", icon="NLA").take = chosen or ""
        row.operator("diffusiontalker.take_delete", text="Delete", icon="TRASH").take = chosen or ""


CLASSES = (DIFFUSIONTALKER_OT_take_solo, DIFFUSIONTALKER_OT_take_mute, DIFFUSIONTALKER_OT_take_delete,
           DIFFUSIONTALKER_OT_take_bake, DIFFUSIONTALKER_UL_takes, DIFFUSIONTALKER_PT_takes)
_register, _unregister = bpy.utils.register_classes_factory(CLASSES)


def register():
    bpy.types.Key.diffusiontalker_take_index = IntProperty(
        name="Chosen Take", options={"HIDDEN"}, description="Row chosen in the Takes list (a shape key's index)")
    _register()


def unregister():
    _unregister()
    del bpy.types.Key.diffusiontalker_take_index
