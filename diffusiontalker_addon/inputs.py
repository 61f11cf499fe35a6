"""What a generation is asked to do, gathered from the operator, the panel and the scene.

Everything here reads Blender state on the main thread and turns it into plain data:
a ``Plan`` (where a finished take goes) and a worker ``Request`` (what the model runs
on) for each take asked for, or one ``SetupError``/``AudioError`` before any work
starts. The operators (operators.py) only schedule the requests and apply the outcome.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import bpy
import numpy as np
from mathutils import Vector

from ..core.audio import SAMPLE_RATE, check_audio_file, load_audio, num_frames
from ..core.card import BUNDLED, paths_of, read_card
from ..core.errors import AudioError, DiffusionTalkerError, restated
from ..core.flame_frame import frame_of
from ..core.mesh import check_vertex_count
from ..core.phonetics import transcript_words
from ..core.timing import resample_fps
from . import prefs
from .capture import frame_kept, key_pose_frames, rest_coordinates, sampled_setting, take_share
from .props import generation_properties
from .worker import Request
from .writer import heard_frames, scene_fps, selected_sound_strips, sound_strip_source, take_key_names

SETTING_NAMES = tuple(generation_properties(set()))
LAST_FRAME = 1048574  # Blender's last scene frame
MAX_SCENE_FPS = 240.0
MAX_TAKE_FRAMES = 36_000  # ten minutes at 60 fps: a basis-mode write then peaks at several GB
MAX_TAKE_NAME = 50  # bytes: shape key names hold 63 bytes of UTF-8, and ".NNNNN" follows the take


class SetupError(DiffusionTalkerError):
    """The scene is not ready: no suitable active object, or a bad take name."""


@dataclass
class Plan:
    """Where the finished take goes; names, not references, because the user keeps working meanwhile."""

    scene: str
    object: str
    take: str
    start_frame: int
    mode: str
    basis_count: int
    seed: int
    blend_style: str  # "" for none; the report names it, as the take is not its style alone
    strip_path: str  # the audio file for the take's sound strip; a "//" path stays relative to the .blend
    add_strip: bool
    mute_other_takes: bool = True  # a plan made without the setting writes as a new take does by default
    fit_frame_range: bool = True  # likewise
    target: str = "FLAME"  # FLAME, MESH (a fitted head of any topology) or SHAPE_KEYS (the head's rig)
    rig_keys: str = ""  # with SHAPE_KEYS: the keys to drive and their scales ("jawOpen, mouthClose*0.8")
    transcript: bool = False  # whether one was given: the take's record says so
    lower_teeth: str = ""  # a separate mesh that follows the chin (FLAME and MESH targets)


def settings_of(op, context) -> dict:
    """The generation settings: the operator's where it sets them, else the scene's (all of
    the scene's when ``op`` is None, for operators that act on the panel's settings)."""
    scene_settings = context.scene.diffusiontalker
    given = {name for name in SETTING_NAMES if op and op.properties.is_property_set(name)}
    settings = {name: getattr(op if name in given else scene_settings, name) for name in SETTING_NAMES}
    if "audio_source" not in given:  # a script that names a file or a strip means that source
        if {"audio", "sound_strip"} <= given:
            raise SetupError("both audio and sound_strip are given: say which to use with "
                             "audio_source='FILE' or 'STRIP'")
        if "audio" in given:
            settings["audio_source"] = "FILE"
        elif "sound_strip" in given:
            settings["audio_source"] = "STRIP"
    return settings


def _text_of(text: bpy.types.Text) -> str:
    """A Text's words; an empty one is refused rather than read as "recognise", because
    choosing a Text says the words are known and an empty one is a mistake to point out."""
    words = text.as_string().strip()
    if not words:
        raise SetupError(f"the Text '{text.name}' chosen as the transcript is empty: write what is said in it, "
                         "or clear the Transcript Text field to recognise the speech from the audio")
    return words


def transcript_of(op, context) -> str:
    """What is said, or "" to recognise it from the audio: the operator's transcript or
    transcript_text (a Text's name) where a script gives one, else the panel's Text, else
    its one-line field. Checked here so that a transcript the aligner cannot read (digits,
    no words) is said before the model loads."""
    given = {name for name in ("transcript", "transcript_text") if op and op.properties.is_property_set(name)}
    if len(given) == 2:
        raise SetupError("both transcript and transcript_text are given: pass the words or a Text's name, not both")
    if "transcript_text" in given:
        text = bpy.data.texts.get(op.transcript_text)
        if text is None:
            known = ", ".join(sorted(t.name for t in bpy.data.texts)) or "none"
            raise SetupError(f"no Text named '{op.transcript_text}' for the transcript (this file's Texts: {known})")
        words = _text_of(text)
    elif "transcript" in given:
        words = op.transcript.strip()
    else:
        settings = context.scene.diffusiontalker
        words = _text_of(settings.transcript_text) if settings.transcript_text else settings.transcript.strip()
    if words:
        transcript_words(words)
    return words


def target_mesh(context, name: str | None = None, writing: bool = True) -> bpy.types.Object:
    """The head to act on; ``writing`` also refuses one whose shape keys could not be saved."""
    obj = bpy.data.objects.get(name) if name else context.active_object
    if obj is None or obj.type != "MESH":
        what = f"object '{name}'" if name else "the active object"
        raise SetupError(f"{what} must be a mesh with FLAME topology (select the head first)")
    if writing and (obj.library or obj.data.library):
        raise SetupError(f"'{obj.name}' is linked from {(obj.library or obj.data.library).filepath}; shape keys "
                         "written to it would not be saved (Object > Relations > Make Local first)")
    if obj.mode != "OBJECT":
        mode = obj.mode.replace("_", " ").title()
        raise SetupError(f"'{obj.name}' is in {mode} Mode; switch to Object Mode first")
    if writing and obj.data.shape_keys is not None and not obj.data.shape_keys.use_relative:
        raise SetupError(f"'{obj.name}' has absolute shape keys (Relative is off); a take is written as "
                         "relative shape keys and would never show")
    return obj


def lower_teeth(context, name: str, head: str) -> bpy.types.Object:
    """The separate lower-teeth mesh, checked as the head is: a take is written on it too
    (on a shape-key rig, its keys like the head's are keyed: ``targets.check_target``)."""
    teeth, head = bpy.data.objects.get(name), bpy.data.objects[head]
    if teeth is None or teeth.type != "MESH":
        raise SetupError(f"Lower Teeth: {'no object' if teeth is None else 'no mesh'} named '{name}'")
    if teeth.data == head.data:  # the head itself, or a linked duplicate: shape keys live on the mesh
        raise SetupError(f"Lower Teeth '{name}' is the head's own mesh; choose the separate teeth object, or "
                         "leave it empty (teeth joined into the head follow the jaw by themselves with Any Head)")
    if not teeth.data.vertices:
        raise SetupError(f"Lower Teeth '{name}' has no vertices in its mesh (made by a modifier?); apply the "
                         "modifier, or choose the mesh that holds the teeth")
    if abs(teeth.matrix_world.to_3x3().determinant()) < 1e-12:
        raise SetupError(f"Lower Teeth '{name}' is scaled to nothing; its offsets would have no size")
    if not _inside(teeth, head):  # the panel's field is the scene's: another character's teeth may be named
        raise SetupError(f"Lower Teeth '{name}' is not inside '{head.name}': are they another character's? Name "
                         "this head's teeth, or clear the field")
    return target_mesh(context, name)


def _inside(teeth, head) -> bool:
    """Whether the middle of the teeth lies within the head's bounding box, in the world."""
    box = np.array([head.matrix_world @ Vector(corner) for corner in head.bound_box])
    middle = np.mean([teeth.matrix_world @ Vector(corner) for corner in teeth.bound_box], axis=0)
    return bool(np.all(box.min(0) <= middle) and np.all(middle <= box.max(0)))


def audio_source(s: dict, context) -> tuple[str, int, tuple[float, float] | None]:
    """(audio file, its start frame, the seconds of it heard or None for all) from a file
    setting or a sound strip, checked to exist."""
    span = None
    if s["audio_source"] == "SELECTED":
        raise AudioError("Selected Strips makes a take of each selected strip; for this, choose a file or one "
                         "sound strip as the Audio Source")
    if s["audio_source"] == "STRIP":
        try:
            audio, start_frame, span = sound_strip_source(context.scene, s["sound_strip"])
        except LookupError as exc:
            raise AudioError(str(exc)) from None
    else:
        if not s["audio"]:
            raise AudioError("choose an audio file to generate from")
        audio, start_frame = os.path.abspath(bpy.path.abspath(s["audio"])), s["start_frame"]
    check_audio_file(audio)
    return audio, start_frame, span


def check_span(scene, audio: str, start_frame: int, span: tuple[float, float] | None) -> None:
    """Refuse a take the scene cannot hold before any work: frames outside Blender's range,
    or so many (a mistyped frame rate base, say) that writing them would exhaust memory."""
    import soundfile

    fps = scene_fps(scene)
    if fps > MAX_SCENE_FPS:
        raise SetupError(f"the scene runs at {fps:g} fps (Frame Rate {scene.render.fps} / Base "
                         f"{scene.render.fps_base:g}); takes are written at up to {MAX_SCENE_FPS:g} fps")
    try:
        seconds = soundfile.info(audio).duration
    except (RuntimeError, OSError):
        return  # unreadable audio: loading it says why
    if span is not None:  # the part heard, within the file
        seconds = max(0.0, min(span[1], seconds) - max(span[0], 0.0))
    frames = int(np.ceil(seconds * fps))
    if frames > MAX_TAKE_FRAMES:
        raise SetupError(f"{seconds:.0f} s of speech is {frames} frames at {fps:g} fps, over the limit of "
                         f"{MAX_TAKE_FRAMES}; split the recording")
    if start_frame < 0 or start_frame + frames - 1 > LAST_FRAME:
        raise SetupError(f"the take would span frames {start_frame} to {start_frame + frames - 1}, outside "
                         f"Blender's 0 to {LAST_FRAME}; choose another start frame")


def model_vertices(checkpoint: str) -> int:
    """The checkpoint's vertex count, from its card: no model load, no torch (the panel asks at every redraw)."""
    path = checkpoint or str(BUNDLED)
    card = paths_of(path)[1]
    return _card_vertices(path, card.stat().st_mtime_ns if card.is_file() else 0)


@functools.lru_cache(maxsize=8)
def _card_vertices(path: str, modified: int) -> int:
    return int(read_card(path)["config"]["num_vertices"])


def device_of(s: dict, context) -> str:
    return prefs.default_device(context) if s["device"] == "PREFS" else s["device"]


@dataclass
class Timeline:
    """How a take's model frames lie on the scene's frames, known before generating."""

    wave: np.ndarray  # the speech, 16 kHz, as the model hears it
    model_fps: float
    model_frames: int
    scene_fps: float
    scene_frames: int  # what the take will span once resampled to the scene

    def model_frames_at(self, offset: int) -> set[int]:
        """The model frames that the resampled take mixes at scene frame start + ``offset``
        (two where the frame rates differ), so that pinning them pins that scene frame."""
        position = min(offset * self.model_fps / self.scene_fps, self.model_frames - 1)
        low = int(np.floor(position))
        return {low, min(low + 1, self.model_frames - 1)} if position > low else {low}


def take_timeline(audio: str, scene, checkpoint: str, span: tuple[float, float] | None = None) -> Timeline:
    """Decode the speech and map it onto the scene (the model's fps is on its card: no load)."""
    wave = load_audio(audio, span=span)
    model_fps = float(read_card(checkpoint or BUNDLED)["config"]["fps"])
    model_frames = num_frames(len(wave), model_fps)
    fps = scene_fps(scene)
    return Timeline(wave, model_fps, model_frames, fps, len(resample_fps(np.zeros(model_frames), model_fps, fps)))


def _blend_weights(op, context, s: dict, start_frame: int, timeline: Timeline):
    """Blend Weight per model frame: the scene's keyed curve sampled at every frame of the
    take, unless the operator was given a number."""
    if op.properties.is_property_set("blend_weight"):
        return s["blend_weight"]
    frames = start_frame + np.arange(timeline.scene_frames)
    weights = sampled_setting(context.scene, "diffusiontalker.blend_weight", s["blend_weight"], frames)
    return resample_fps(weights, timeline.scene_fps, timeline.model_fps)


def _key_poses(context, obj, take: str, start_frame: int, timeline: Timeline) -> dict:
    """Model frame -> offsets that keep each marked frame looking as it does now.

    The take's keys are about to be replaced while the user's own keys (and other
    takes) stay and keep adding on top, so what must be kept is the current take's
    share of the pose, not the whole pose: pinning the whole pose would count the
    user's keys twice. With no take yet, that share is nothing and the new take rests
    at the marked frames, letting the user's keys show exactly.
    """
    poses, standing = {}, frame_of(rest_coordinates(obj))  # the model's poses are in FLAME's frame
    with frame_kept(context.scene):
        for frame in key_pose_frames(context.scene, start_frame, start_frame + timeline.scene_frames - 1):
            share = standing.to_flame(take_share(context, obj, take, frame))
            for model_frame in timeline.model_frames_at(frame - start_frame):
                poses[model_frame] = share
    return poses


def prepare_takes(op, context) -> list[tuple[Plan, Request]]:
    """A (Plan, Request) for each take asked for: the audio source's one, or with Selected
    Strips one for each selected sound strip, in the order they play. All are checked
    before any work starts, so one bad strip stops the rest before anything is made. The
    takes after the first are laid beside it (Mute Other Takes is the first's)."""
    s = settings_of(op, context)
    if s["audio_source"] != "SELECTED":
        return [prepare(op, context)]
    obj, _ = checked_head(context, s)
    strips = selected_sound_strips(context.scene)
    shown = getattr(context.workspace, "sequencer_scene", None)  # 5.0+: the sequencer may show another scene
    if not strips and shown not in (None, context.scene) and selected_sound_strips(shown):
        raise AudioError(f"the selected sound strips are in the scene '{shown.name}' that the sequencer shows, but "
                         f"the head's scene '{context.scene.name}' plays only its own: choose '{context.scene.name}' "
                         "in the sequencer's scene selector and lay the dialogue there")
    if not strips:
        raise AudioError("no sound strip is selected in the sequencer: select the strips to animate, or choose "
                         "File or Sound Strip as the Audio Source")
    if transcript_of(op, context):
        raise SetupError("a transcript says what one recording says: clear Transcript to make takes of several "
                         "strips (their words are then recognised), or make them one strip at a time")
    names = [_strip_take(obj, strip.name) for strip in strips]
    for name, strip in zip(names, strips):
        if not name or len(name.encode()) > MAX_TAKE_NAME:
            raise SetupError(f"sound strip '{strip.name}': its take is named after it, and a take name is 1 to "
                             f"{MAX_TAKE_NAME} bytes long: rename the strip")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise SetupError(f"two selected sound strips would make the same take '{twice[0]}': select one of them, "
                         "or rename one")
    spans = [heard_frames(strip) for strip in strips]
    for i in range(1, len(strips)):
        if spans[i][0] < spans[i - 1][1] and op is not None:
            there = "the later one is keyed there" if s["target"] == "SHAPE_KEYS" else "their takes add up there"
            op.report({"WARNING"}, f"sound strips '{strips[i - 1].name}' and '{strips[i].name}' overlap from frame "
                                   f"{spans[i][0]}: {there}")
    takes = []
    for i, (name, strip) in enumerate(zip(names, strips)):
        try:  # the head and the settings passed above: what fails now is the strip's
            takes.append(prepare(op, context, {"audio_source": "STRIP", "sound_strip": strip.name, "take": name,
                                               "mute_other_takes": s["mute_other_takes"] and i == 0}))
        except DiffusionTalkerError as exc:
            raise restated(exc, f"sound strip '{strip.name}': {exc}") from None
    return takes


def _strip_take(obj, strip: str) -> str:
    """The take a selected strip makes: one named after it, except that a take's own sound
    strip (``<take>.audio``, placed by a take made from a file) remakes that take. A second
    take named after it would say the same line beside the first, and muting the first
    (Mute Other Takes) would silence the strip."""
    take = strip.strip()
    owner = take.removesuffix(".audio")
    return owner if owner != take and take_key_names(obj, owner) else take


def checked_head(context, s: dict) -> tuple[bpy.types.Object, str]:
    """(the active head, the Lower Teeth's name or ""), refused before the audio is looked at
    where the settings cannot work on it."""
    obj = target_mesh(context)
    if s["target"] == "FLAME":  # other targets are checked by targets.check_target
        try:
            check_vertex_count(len(obj.data.vertices), model_vertices(prefs.checkpoint_path(context)),
                               f"Object '{obj.name}'")
        except DiffusionTalkerError as exc:
            raise SetupError(f"{exc}, or set Target to Any Head (then Fit Head) or Shape-Key Rig "
                             "for a head of its own") from None
    elif s["keep_key_poses"]:
        raise SetupError("Keep Key Poses works on FLAME meshes only; turn it off for this target")
    teeth = s["lower_teeth"].strip()
    if teeth:
        lower_teeth(context, teeth, obj.name)
    return obj, teeth


def prepare(op, context, overrides: dict | None = None) -> tuple[Plan, Request]:
    """The take the settings ask for, ``overrides`` replacing some of them (``prepare_takes``)."""
    s = settings_of(op, context) | (overrides or {})
    obj, teeth = checked_head(context, s)
    take = s["take"].strip()
    if not take or len(take.encode()) > MAX_TAKE_NAME:
        raise SetupError(f"the take name must be 1 to {MAX_TAKE_NAME} bytes long "
                         "(letters outside ASCII take two to four bytes each)")
    device = device_of(s, context)
    checkpoint, library = prefs.checkpoint_path(context), prefs.identity_library_path(context)
    label, wanted = f"Object '{obj.name}'", model_vertices(checkpoint)
    transcript = transcript_of(op, context)
    audio, start_frame, span = audio_source(s, context)
    check_span(context.scene, audio, start_frame, span)
    blend_style, blend, key_poses = s["blend_style"].strip(), 0.0, {}
    heard = (audio, span, None)  # the worker decodes the file, off the main thread
    if blend_style or s["keep_key_poses"]:
        timeline = take_timeline(audio, context.scene, checkpoint, span)
        heard = (timeline.wave, None, SAMPLE_RATE)  # decoded here already: the worker takes the wave as it is
        if blend_style:
            blend = _blend_weights(op, context, s, start_frame, timeline)
        if s["keep_key_poses"]:
            key_poses = _key_poses(context, obj, take, start_frame, timeline)
    plan = Plan(scene=context.scene.name, object=obj.name, take=take, start_frame=start_frame,
                mode=s["mode"], basis_count=s["basis_count"], seed=s["seed"], blend_style=blend_style,
                strip_path=s["audio"] if s["audio"].startswith("//") and bpy.data.filepath else audio,
                add_strip=s["audio_source"] == "FILE", mute_other_takes=s["mute_other_takes"], target=s["target"],
                fit_frame_range=s["fit_frame_range"], rig_keys=s["rig_keys"], transcript=bool(transcript),
                lower_teeth=teeth)
    request = Request(checkpoint=checkpoint, identity_library=library, device=device,
                      audio=heard[0], span=heard[1], sample_rate=heard[2],
                      style=s["style"].strip() or "auto",
                      seed=s["seed"], variation=s["variation"], steps=s["steps"], mesh_label=label,
                      mesh_vertices=len(obj.data.vertices) if s["target"] == "FLAME" else wanted,
                      blend_style=blend_style, blend=blend, key_poses=key_poses, transcript=transcript, take=take)
    return plan, request
