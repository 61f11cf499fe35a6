"""The Generate Lip Sync operator, its Cancel, the seed dice and the key-pose marker.

Interactively the model runs on a worker thread and a modal timer drains its
queue, so Blender stays usable and Esc/Cancel work; nothing touches the mesh
until the take is complete, so a cancel leaves it exactly as it was. In background
mode (``blender -b``) timers never fire, so ``execute`` runs the same job in place.
Either way the whole write happens in one operator call: one undo step.
"""

from __future__ import annotations

import os
import random
import sys
import traceback
from dataclasses import dataclass

import bpy
import numpy as np

from ..core.allocator import freed_memory_kept
from ..core.audio import check_audio_file
from ..core.errors import AudioError, Cancelled, DiffusionTalkerError
from ..core.mesh import check_vertex_count
from . import prefs
from .capture import KEY_POSE_PREFIX, frame_kept, key_pose_frames, sampled_setting, take_share
from .props import generation_properties
from .worker import GenerationJob, Request, loaded_generator
from .writer import PER_FRAME, fit_frame_range, place_audio, scene_fps, sound_strip_source, write_take

SETTING_NAMES = tuple(generation_properties(set()))
LAST_FRAME = 1048574  # Blender's last scene frame
MAX_SCENE_FPS = 240.0
MAX_TAKE_FRAMES = 36_000  # ten minutes at 60 fps: a basis-mode write then peaks at several GB
MAX_TAKE_NAME = 50  # bytes: shape key names hold 63 bytes of UTF-8, and ".NNNNN" follows the take

_active_job: GenerationJob | None = None  # at most one generation at a time, reachable by Cancel


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


def audio_source(s: dict, context) -> tuple[str, int, tuple[float, float] | None]:
    """(audio file, its start frame, the seconds of it heard or None for all) from a file
    setting or a sound strip, checked to exist."""
    span = None
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
    from ..core.audio import load_audio, num_frames
    from ..core.checkpoint import BUNDLED, read_card
    from ..core.pipeline import resample_fps

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
    from ..core.pipeline import resample_fps

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
    poses = {}
    with frame_kept(context.scene):
        for frame in key_pose_frames(context.scene, start_frame, start_frame + timeline.scene_frames - 1):
            share = take_share(context, obj, take, frame)
            for model_frame in timeline.model_frames_at(frame - start_frame):
                poses[model_frame] = share
    return poses


def _prepare(op, context) -> tuple[Plan, Request]:
    s = settings_of(op, context)
    obj = target_mesh(context)
    take = s["take"].strip()
    if not take or len(take.encode()) > MAX_TAKE_NAME:
        raise SetupError(f"the take name must be 1 to {MAX_TAKE_NAME} bytes long "
                         "(letters outside ASCII take two to four bytes each)")
    device = device_of(s, context)
    checkpoint, library = prefs.checkpoint_path(context), prefs.identity_library_path(context)
    label = f"Object '{obj.name}'"
    cached = loaded_generator(checkpoint, device)
    if cached is not None:  # the wrong head first (before the audio), when the model's topology is known
        check_vertex_count(len(obj.data.vertices), cached.num_vertices, label)
    audio, start_frame, span = audio_source(s, context)
    check_span(context.scene, audio, start_frame, span)
    blend_style, blend, key_poses = s["blend_style"].strip(), 0.0, {}
    if blend_style or s["keep_key_poses"]:
        timeline = take_timeline(audio, context.scene, checkpoint, span)
        if blend_style:
            blend = _blend_weights(op, context, s, start_frame, timeline)
        if s["keep_key_poses"]:
            key_poses = _key_poses(context, obj, take, start_frame, timeline)
    plan = Plan(scene=context.scene.name, object=obj.name, take=take, start_frame=start_frame,
                mode=s["mode"], basis_count=s["basis_count"], seed=s["seed"], blend_style=blend_style,
                strip_path=s["audio"] if s["audio"].startswith("//") and bpy.data.filepath else audio,
                add_strip=s["audio_source"] == "FILE")
    request = Request(checkpoint=checkpoint, identity_library=library, device=device, audio=audio, span=span,
                      style=s["style"].strip() or "auto",
                      seed=s["seed"], steps=s["steps"], mesh_vertices=len(obj.data.vertices), mesh_label=label,
                      blend_style=blend_style, blend=blend, key_poses=key_poses)
    return plan, request


def apply_outcome(op, context, plan: Plan, outcome) -> set[str]:
    """Report the outcome and, if it is a take, write it: the only place bpy data changes."""
    if outcome.crash:
        print(outcome.crash, file=sys.stderr)
        op.report({"ERROR"}, "DiffusionTalker failed unexpectedly; the traceback is in the system console")
        return {"CANCELLED"}
    if isinstance(outcome.error, Cancelled):
        op.report({"INFO"}, "Generation cancelled; nothing was changed")
        return {"CANCELLED"}
    if outcome.error:
        op.report({"ERROR"}, str(outcome.error))
        return {"CANCELLED"}
    for warning in outcome.warnings:
        op.report({"WARNING"}, warning)
    try:
        scene = bpy.data.scenes.get(plan.scene) or context.scene
        obj = target_mesh(context, plan.object)
        check_vertex_count(len(obj.data.vertices), outcome.generator.num_vertices, f"Object '{obj.name}'")
    except DiffusionTalkerError as exc:  # the user changed the scene while we were generating
        op.report({"ERROR"}, str(exc))
        return {"CANCELLED"}
    from ..core.pipeline import resample_fps  # torch is loaded by now: the take came from it

    take = outcome.take
    offsets = resample_fps(take.offsets, take.fps, scene_fps(scene))
    summary = write_take(obj, offsets, plan.take, plan.start_frame, plan.mode, plan.basis_count, plan.seed)
    fit_frame_range(scene, plan.start_frame, summary.frames)
    if plan.add_strip:
        place_audio(scene, plan.strip_path, plan.take, plan.start_frame)
    blended = f" blended with {plan.blend_style}" if plan.blend_style else ""
    report = (f"{plan.take}: {summary.frames} frames, {summary.shape_keys} shape keys, style {take.style}{blended}, "
              f"seed {take.seed}, {take.steps} steps, {take.compute_seconds:.1f} s for {take.audio_seconds:.1f} s of speech")
    if plan.mode != PER_FRAME:
        report += f"; basis error {summary.rms_error * 1000:.3f} mm RMS, {summary.max_error * 1000:.3f} mm max"
    settings = scene.diffusiontalker
    settings.last_take, settings.last_report = plan.take, report
    op.report({"INFO"}, report)
    return {"FINISHED"}


def poll_job(job: GenerationJob, runtime):
    """Move the worker's news onto the panel's state; the outcome once the job has ended."""
    progress, outcome = job.drain()
    if progress is not None:
        done, total = progress
        runtime.progress = done / max(total, 1)
        if not job.cancel_event.is_set():
            runtime.status = f"Denoising step {done} of {total}"
    return outcome


def _redraw(context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


class DIFFUSIONTALKER_OT_generate(bpy.types.Operator):
    """Generate lip-sync animation for the active FLAME-topology mesh from speech"""

    bl_idname = "diffusiontalker.generate"
    bl_label = "Generate Lip Sync"
    bl_options = {"UNDO"}
    __annotations__ = generation_properties({"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return _active_job is None

    def execute(self, context):
        try:
            plan, request = _prepare(self, context)
        except DiffusionTalkerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        from tqdm import tqdm

        # Blender waits on this call (a batch script, a render farm), so the CLI's allocator
        # setting (docs/benchmarks.md) touches nothing else.
        with tqdm(desc="DiffusionTalker", unit="step", file=sys.stderr, leave=False) as bar, freed_memory_kept():
            def progress(done, total):
                bar.total = total
                bar.update(done - bar.n)

            outcome = GenerationJob(request).run(progress)
        return apply_outcome(self, context, plan, outcome)

    def invoke(self, context, event):
        global _active_job
        if bpy.app.background:
            return self.execute(context)
        try:
            self._plan, request = _prepare(self, context)
        except DiffusionTalkerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        _active_job = GenerationJob(request)
        _active_job.start()
        runtime = context.window_manager.diffusiontalker
        runtime.running, runtime.progress, runtime.status = True, 0.0, "Loading model…"
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        context.workspace.status_text_set("DiffusionTalker: generating lip sync (Esc to cancel)")
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        runtime = context.window_manager.diffusiontalker
        if event.type == "ESC" and event.value == "PRESS":
            _active_job.cancel()
            runtime.status = "Cancelling…"
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":  # any timer will do: draining an idle queue costs nothing
            return {"PASS_THROUGH"}
        outcome = poll_job(_active_job, runtime)
        _redraw(context)
        if outcome is None:
            return {"PASS_THROUGH"}
        self._stop(context)
        try:
            return apply_outcome(self, context, self._plan, outcome)
        except Exception:  # noqa: BLE001 - a modal operator that raises leaves Blender's UI stuck
            traceback.print_exc()
            self.report({"ERROR"}, "writing the animation failed; the traceback is in the system console")
            return {"CANCELLED"}

    def cancel(self, context):  # Blender calls this when the window closes mid-run
        _active_job.cancel()
        _active_job.wait(timeout=10)
        self._stop(context)

    def _stop(self, context):
        global _active_job
        _active_job = None
        context.window_manager.event_timer_remove(self._timer)
        runtime = context.window_manager.diffusiontalker
        runtime.running, runtime.status = False, ""
        context.workspace.status_text_set(None)
        _redraw(context)


class DIFFUSIONTALKER_OT_cancel(bpy.types.Operator):
    """Stop the running generation; the mesh stays exactly as it was"""

    bl_idname = "diffusiontalker.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return _active_job is not None

    def execute(self, context):
        _active_job.cancel()
        context.window_manager.diffusiontalker.status = "Cancelling…"
        return {"FINISHED"}


class DIFFUSIONTALKER_OT_randomize_seed(bpy.types.Operator):
    """Pick a new random seed for a different take of the same speech"""

    bl_idname = "diffusiontalker.randomize_seed"
    bl_label = "Randomize Seed"
    bl_options = {"UNDO"}

    def execute(self, context):
        context.scene.diffusiontalker.seed = random.SystemRandom().randrange(2**31 - 1)
        return {"FINISHED"}


class DIFFUSIONTALKER_OT_mark_key_pose(bpy.types.Operator):
    """Mark the current frame as a key pose: with Keep Key Poses on, the next take keeps the face as it looks here"""

    bl_idname = "diffusiontalker.mark_key_pose"
    bl_label = "Mark Key Pose"
    bl_options = {"UNDO"}

    def execute(self, context):
        scene = context.scene
        frame = scene.frame_current
        if key_pose_frames(scene, frame, frame):
            self.report({"WARNING"}, f"frame {frame} is already marked as a key pose")
            return {"CANCELLED"}
        scene.timeline_markers.new(KEY_POSE_PREFIX, frame=frame)
        return {"FINISHED"}


CLASSES = (DIFFUSIONTALKER_OT_generate, DIFFUSIONTALKER_OT_cancel, DIFFUSIONTALKER_OT_randomize_seed,
           DIFFUSIONTALKER_OT_mark_key_pose)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
