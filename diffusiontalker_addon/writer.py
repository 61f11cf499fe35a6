"""Writing a take onto a mesh as shape keys, and the scene around it.

Coordinates are the mesh's own basis plus the model's offsets, so the user's
face shape survives. Each take owns only the shape keys named ``<take>.NNNNN``
(per-frame) or ``<take>.pcNN`` (keyframed basis), their F-curves and the sound
strip ``<take>.audio``; re-running a take replaces exactly those and nothing else.
All bulk data goes through ``foreach_set``: per-element Python loops over 1800
frames x 5023 vertices would take minutes.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field

import bpy
import numpy as np

from .animation import existing_fcurves, fcurves_of, remove_fcurves, set_keys
from .basis import principal_basis

PER_FRAME = "PER_FRAME"
BASIS = "BASIS"


@dataclass
class WriteSummary:
    frames: int
    shape_keys: int
    rms_error: float = 0.0  # metres; keyframed basis only
    max_error: float = 0.0
    notes: list[str] = field(default_factory=list)  # what the user should know of how it was written


def _value_path(name: str) -> str:
    return f'key_blocks["{bpy.utils.escape_identifier(name)}"].value'


_TAKE_SUFFIX = r"\.(\d{5,}|pc\d{2,})"  # what follows the take's name in its shape keys' names


def _take_pattern(take: str) -> re.Pattern:
    return re.compile(re.escape(take) + _TAKE_SUFFIX)


def take_key_names(obj: bpy.types.Object, take: str) -> list[str]:
    if obj.data.shape_keys is None:
        return []
    pattern = _take_pattern(take)
    return [kb.name for kb in obj.data.shape_keys.key_blocks if pattern.fullmatch(kb.name)]


def _take_curve_paths(key: bpy.types.Key, take: str) -> set[str]:
    """Paths of the take's curves, also of keys already gone: Blender keeps a curve when
    its shape key is deleted by hand, and a stale curve would block the new take's."""
    pattern = re.compile(re.escape(f'key_blocks["{bpy.utils.escape_identifier(take)}') + _TAKE_SUFFIX
                         + re.escape('"].value'))
    return {fc.data_path for fc in existing_fcurves(key) or () if pattern.fullmatch(fc.data_path)}


def audio_strip_name(take: str) -> str:
    return f"{take}.audio"


def remove_take(obj: bpy.types.Object, take: str) -> int:
    """Delete one take's shape keys and their curves; returns how many keys went."""
    key = obj.data.shape_keys
    if key is None:
        return 0
    names = take_key_names(obj, take)
    remove_fcurves(key, {_value_path(n) for n in names} | _take_curve_paths(key, take))
    for name in names:
        obj.shape_key_remove(key.key_blocks[name])
    return len(names)


def write_take(obj: bpy.types.Object, offsets: np.ndarray, take: str, start_frame: int,
               mode: str, basis_count: int = 32, seed: int = 0) -> WriteSummary:
    """Replace ``take`` on ``obj`` by (N, V, 3) offsets already at the scene's frame rate."""
    if obj.data.shape_keys is None:
        obj.shape_key_add(name="Basis", from_mix=False)
    key = obj.data.shape_keys
    notes = []
    shared = key.animation_data.action if key.animation_data else None
    curves = fcurves_of(key, f"{obj.name}ShapeKeys")  # before removing: a shared action is copied first
    if shared is not None and key.animation_data.action != shared:
        notes.append(f"'{obj.name}' shared the shape-key animation '{shared.name}' with other objects; "
                     f"it now has its own copy '{key.animation_data.action.name}', so the take moves it alone")
    remove_take(obj, take)
    neutral = np.empty(len(obj.data.vertices) * 3, dtype=np.float32)
    key.reference_key.data.foreach_get("co", neutral)
    frames = start_frame + np.arange(len(offsets), dtype=np.float32)

    if mode == PER_FRAME:
        # A triangle 0 -> 1 -> 0 around each frame: exactly one key is on at every frame,
        # and sub-frames (motion blur) blend the two neighbours linearly.
        for i, frame in enumerate(frames):
            block = _add_shape_key(obj, f"{take}.{i:05d}", neutral + offsets[i].ravel())
            set_keys(curves.new(_value_path(block.name), index=0),
                     np.array([frame - 1, frame, frame + 1]), np.array([0.0, 1.0, 0.0]), "LINEAR")
        return WriteSummary(frames=len(offsets), shape_keys=len(offsets), notes=notes)

    if mode != BASIS:
        raise ValueError(f"unknown output mode {mode!r}")
    basis = principal_basis(offsets, basis_count, seed=seed)
    # A key at rest one frame before and after: curves hold their end values beyond their
    # keys, so a line cut mid-word kept its mouth open after it (and before a later line
    # laid beside it), where per-frame keys are all off.
    frames = np.concatenate([[frames[0] - 1], frames, [frames[-1] + 1]])
    weights = np.pad(basis.weights, ((1, 1), (0, 0)))
    for k, shape in enumerate(basis.shapes):
        block = _add_shape_key(obj, f"{take}.pc{k:02d}", neutral + shape.ravel())
        block.slider_min = -1.0  # weights are scaled into [-1, 1]; the default floor is 0
        set_keys(curves.new(_value_path(block.name), index=0), frames, weights[:, k], "BEZIER")
    return WriteSummary(frames=len(offsets), shape_keys=len(basis.shapes),
                        rms_error=basis.rms_error, max_error=basis.max_error, notes=notes)


def _add_shape_key(obj: bpy.types.Object, name: str, coordinates: np.ndarray) -> bpy.types.ShapeKey:
    block = obj.shape_key_add(name=name, from_mix=False)
    block.data.foreach_set("co", coordinates)
    block.value = 0.0
    return block


def _held(owner):
    """The strips a sequence editor (its top level) or a meta strip holds."""
    return owner.strips if hasattr(owner, "strips") else owner.sequences  # renamed in 4.4


def _strips(scene: bpy.types.Scene):
    return _held(scene.sequence_editor or scene.sequence_editor_create())


def all_strips(scene: bpy.types.Scene):
    """Every strip of the scene, those inside meta strips too (a strip's name is the scene's own)."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    return editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all


def holder(scene: bpy.types.Scene, strip):
    """The strips collection that holds ``strip``: its meta strip's, or the scene's."""
    meta = strip.parent_meta()
    return _strips(scene) if meta is None else _held(meta)


# Blender 5.3 renamed a strip's frames; the old names still read there, with a warning
# that they go in 6.0, and are all that 4.2-5.2 have.
_RENAMED = {"frame_final_start": "left_handle", "frame_final_end": "right_handle",
            "frame_start": "content_start", "animation_offset_start": "content_trim_start"}


def _frame(strip, name: str):
    new = _RENAMED[name]
    return getattr(strip, new if hasattr(strip, new) else name)


def heard_frames(strip) -> tuple[int, int]:
    """(first frame, first frame after) where the strip plays: a meta strip plays what it
    holds only within its own trimmed range."""
    first, end = _frame(strip, "frame_final_start"), _frame(strip, "frame_final_end")
    meta = strip.parent_meta()
    while meta is not None:
        first, end = max(first, _frame(meta, "frame_final_start")), min(end, _frame(meta, "frame_final_end"))
        meta = meta.parent_meta()
    return int(first), int(end)


def selected_sound_strips(scene: bpy.types.Scene) -> list:
    """The sound strips selected in the sequencer, in the order they play: those selected
    where it shows strips now (inside the meta strip being edited, if one is) and what a
    selected meta strip holds (a dialogue grouped with Ctrl+G), except a strip muted, on a
    muted channel or hidden by the meta's range, which the meta does not play."""
    editor = scene.sequence_editor
    if editor is None:
        return []
    found = []

    def gather(owner, whole: bool):
        for strip in _held(owner):
            if whole:  # inside a selected meta strip: what it plays (a muted channel plays nothing)
                first, end = heard_frames(strip)
                wanted = not (strip.mute or owner.channels[strip.channel].mute) and first < end
            else:
                wanted = strip.select
            if wanted and strip.type == "SOUND":
                found.append(strip)
            elif wanted and strip.type == "META":
                gather(strip, True)

    gather(editor.meta_stack[-1] if len(editor.meta_stack) else editor, False)
    return sorted(found, key=lambda s: (heard_frames(s)[0], s.name))


NO_SOUND = "this Blender is built without audio (Audaspace), so the take has no sound strip"


def place_audio(scene: bpy.types.Scene, audio_path: str, take: str, start_frame: int) -> bool:
    """(Re)place the take's sound strip at the start frame so scrubbing plays the speech;
    False where Blender cannot hold sound strips (the bpy module of 4.2 is built so)."""
    if not bpy.app.build_options.audaspace:
        return False
    strips = _strips(scene)
    old = all_strips(scene).get(audio_strip_name(take))
    channel = old.channel if old and old.parent_meta() is None else 1 + max((s.channel for s in strips), default=0)
    if old:
        holder(scene, old).remove(old)
    path = audio_path if audio_path.startswith("//") else os.path.abspath(audio_path)
    strips.new_sound(audio_strip_name(take), path, channel, start_frame)
    scene.use_audio_scrub = True
    return True


def sound_strip_source(scene: bpy.types.Scene, name: str) -> tuple[str, int, tuple[float, float]]:
    """(audio file, the first frame heard, the seconds of the file heard) of an existing
    sound strip: a strip trimmed to one line of a long recording animates that line, and
    one inside a meta strip what the meta plays of it."""
    if not name:
        raise LookupError("choose the sound strip to generate from")
    strip = all_strips(scene).get(name)
    if strip is None or strip.type != "SOUND" or strip.sound is None:
        raise LookupError(f"the scene has no sound strip named {name!r}")
    fps = scene_fps(scene)
    # At a frame Blender plays second (frame - frame_start + animation_offset_start) / fps
    # - sound_offset of the file: a hard split's right part keeps its place in the file in
    # animation_offset_start, and a positive Sound Offset starts the sound later.
    # frame_final_end is the first frame not heard.
    offset = getattr(strip, "sound_offset", 0.0)

    def second(frame):
        return (frame - _frame(strip, "frame_start") + _frame(strip, "animation_offset_start")) / fps - offset

    first, end = heard_frames(strip)
    if first >= end:
        raise LookupError(f"the sound strip {name!r} is never heard: it lies outside the range of its meta strip "
                          f"'{strip.parent_meta().name}'")
    if second(first) < 0:  # the sound starts inside the strip: so does the take
        first += int(np.ceil(-second(first) * fps - 1e-3))  # float32 offsets of whole frames land on them
    if first >= end:
        raise LookupError(f"the sound strip {name!r} ends before its sound starts (Sound Offset {offset:g} s)")
    return _sound_file(strip.sound), first, (second(first), second(end))


def _sound_file(sound: bpy.types.Sound) -> str:
    """A file holding the sound. One packed into the .blend (a render farm's usual case)
    is copied into Blender's own temporary folder, named by its content, so two sounds
    never share a copy and the copies go when Blender exits."""
    if sound.packed_file is None:
        return bpy.path.abspath(sound.filepath, library=sound.library)
    data = sound.packed_file.data
    copy = os.path.join(bpy.app.tempdir or tempfile.gettempdir(), "diffusiontalker-"
                        + hashlib.sha256(data).hexdigest()[:16] + (os.path.splitext(sound.filepath)[1] or ".wav"))
    try:
        if not os.path.isfile(copy) or os.path.getsize(copy) != len(data):
            partial = copy + ".part"  # renamed into place whole: a failed write is never reused
            with open(partial, "wb") as fh:
                fh.write(data)
            os.replace(partial, copy)
    except OSError as exc:
        raise LookupError(f"cannot unpack the sound '{sound.name}' to read it: {exc}") from None
    return copy


def fit_frame_range(scene: bpy.types.Scene, spans: list[tuple[int, int]]) -> None:
    """The scene's range over the (start frame, frames) of every take that plays, so a
    render or playblast holds them all and no more."""
    scene.frame_start = min(start for start, _ in spans)
    scene.frame_end = max(start + max(frames, 1) - 1 for start, frames in spans)


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base
