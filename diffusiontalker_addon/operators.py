"""The Generate Lip Sync operator, its Cancel, the seed button and the key-pose marker.

The model runs as a worker job (running.py): interactively on a worker thread while
Blender stays usable, in background mode (``blender -b``) in place. Nothing touches
the mesh until the take is complete, so a cancel leaves it exactly as it was, and the
whole write happens in one operator call: one undo step.
"""

from __future__ import annotations

import random

import bpy
from bpy.props import StringProperty

from ..core.binding import CHIN
from ..core.errors import DiffusionTalkerError
from ..core.flame_frame import frame_of
from ..core.mesh import check_vertex_count
from ..core.timing import resample_fps
from .capture import KEY_POSE_PREFIX, key_pose_frames, rest_coordinates
from .dependencies import torch_ready
from .inputs import Plan, lower_teeth, prepare_takes, settings_of, target_mesh
from .props import generation_properties
from .running import JobOperator, report_outcome
from .takes import playing_spans, settle_new_take
from .targets import FLAME, SHAPE_KEYS, check_target, drive_rig, following, key_teeth, on_head, rig_teeth_keys
from .worker import active_job, generation_job
from .writer import NO_SOUND, PER_FRAME, fit_frame_range, place_audio, scene_fps, write_take


SELECTED_TAKES = "Selected Strips"  # what the panel's result names for a run over the selected strips


def _last_result(scene, take: str, report: str, failed: bool) -> None:
    """What the panel's result box shows: the latest attempt, so a failure never leaves an older success there."""
    settings = scene.diffusiontalker
    settings.last_take, settings.last_report, settings.last_failed = take, report, failed


def apply_outcome(op, context, plans: list[Plan], outcome) -> set[str]:
    """Report the outcome and, if it made takes, write each by its plan: the only place bpy data changes."""
    scene = bpy.data.scenes.get(plans[0].scene) or context.scene
    refused = report_outcome(op, outcome)
    name = plans[0].take if len(plans) == 1 else SELECTED_TAKES
    if refused is not None:
        _last_result(scene, name, str(outcome.error or "failed unexpectedly; see the system console"), True)
        return refused
    vertices, said = outcome.generator.num_vertices, set()
    if plans[0].target == SHAPE_KEYS:  # a rig's keys hold one set of curves: the takes are keyed together
        failed = [_reported(op, scene, plans[0], said,
                            lambda: _drove_rig(context, scene, plans, outcome.result, vertices))] * len(plans)
    else:
        failed = [_reported(op, scene, plan, said,
                            lambda plan=plan, take=take: _write(context, scene, plan, take, vertices))
                  for plan, take in zip(plans, outcome.result)]
    if len(plans) > 1:  # the panel sums up the run, not its last take, and keeps why one failed
        made = [plan.take for plan, why in zip(plans, failed) if why is None]
        why = next((f"; not written: {why}" for why in failed if why is not None), "")
        _last_result(scene, name, f"{len(made)} of {len(plans)} takes written, one for each selected strip: "
                     + (", ".join(made) or "none") + why, bool(why))
    return {"FINISHED"} if None in failed else {"CANCELLED"}


def _reported(op, scene, plan: Plan, said: set[str], write) -> str | None:
    """Do ``write`` (it returns its report and notes) and place the take's sound strip, saying
    what was made; or say why it could not be, and return that. A note already in ``said``
    is not said again: the takes of one run share the head, so its notes would repeat."""
    try:
        report, notes = write()
    except DiffusionTalkerError as exc:  # the user changed the scene while we were generating
        op.report({"ERROR"}, str(exc))
        _last_result(scene, plan.take, str(exc), True)
        return str(exc)
    if plan.add_strip and not place_audio(scene, plan.strip_path, plan.take, plan.start_frame):
        notes.append(NO_SOUND)
    for note in notes:
        if note not in said:
            said.add(note)
            op.report({"WARNING"}, note)
    _last_result(scene, plan.take, report, False)
    op.report({"INFO"}, report)
    return None


def _write(context, scene, plan: Plan, take, model_vertices: int) -> tuple[str, list[str]]:
    """Write one take as shape keys; (its report, notes)."""
    offsets = resample_fps(take.offsets, take.fps, scene_fps(scene))
    notes, teeth = [], None
    obj = target_mesh(context, plan.object)
    if plan.target == FLAME:
        check_vertex_count(len(obj.data.vertices), model_vertices, f"Object '{obj.name}'")
        frame = frame_of(rest_coordinates(obj))
        offsets = frame.to_head(offsets)
        chin = offsets[:, CHIN]
        if not frame.is_flames:
            notes.append(f"'{obj.name}' does not stand in FLAME's frame (Y up, metres) but {frame.describe()}: "
                         "the take was turned and sized to match")
    else:
        offsets, chin = on_head(obj, offsets)
    if plan.lower_teeth:
        teeth = lower_teeth(context, plan.lower_teeth, obj.name)
        teeth_offsets = following(obj, teeth, chin)
    summary = write_take(obj, offsets, plan.take, plan.start_frame, plan.mode, plan.basis_count, plan.seed)
    settle_new_take(scene, obj, plan, take, summary.frames)
    notes += summary.notes
    if teeth is not None:  # a rigid motion: three basis keys hold it exactly
        followed = write_take(teeth, teeth_offsets, plan.take, plan.start_frame, plan.mode,
                              min(plan.basis_count, 3), plan.seed)
        settle_new_take(scene, teeth, plan, take, followed.frames, follows=obj.name)
        notes += followed.notes
    if plan.fit_frame_range:
        fit_frame_range(scene, playing_spans(obj))
    blended = f" blended with {take.blend_style}" if take.blend_style else ""
    report = (f"{plan.take}: {summary.frames} frames, {summary.shape_keys} shape keys, style {take.style}{blended}, "
              f"seed {take.seed}, {take.steps} steps, {take.compute_seconds:.1f} s for {take.audio_seconds:.1f} s of speech")
    if plan.mode != PER_FRAME:
        report += f"; basis error {summary.rms_error * 1000:.3f} mm RMS, {summary.max_error * 1000:.3f} mm max"
    if teeth is not None:
        report += f"; '{teeth.name}' follows the chin"
    return report, notes


def _drove_rig(context, scene, plans: list[Plan], takes: list, model_vertices: int) -> tuple[str, list[str]]:
    """Takes on the head's own rig: its ARKit/viseme keys keyed, no take keys written; as ``_write``."""
    plan = plans[0]  # a run's takes share the head and the settings
    offsets = [resample_fps(take.offsets, take.fps, scene_fps(scene)) for take in takes]
    obj = target_mesh(context, plan.object)
    teeth = lower_teeth(context, plan.lower_teeth, obj.name) if plan.lower_teeth else None
    alike = rig_teeth_keys(teeth, obj) if teeth else {}  # checked before the head's keys are written
    segments, notes = drive_rig(obj, [(o, p.start_frame) for o, p in zip(offsets, plans)], model_vertices,
                                plan.rig_keys, plan.lower_teeth)
    if teeth is not None:
        notes += key_teeth(teeth, alike, segments)
    if plan.fit_frame_range:
        fit_frame_range(scene, [(p.start_frame, len(o)) for p, o in zip(plans, offsets)])
    frames = ", ".join(f"{p.take}: {len(o)} frames" for p, o in zip(plans, offsets))
    report = f"{frames} keyed on {len(segments[0][1])} shape keys of '{obj.name}'"
    if teeth is not None:
        report += f" and their like on '{teeth.name}'"
    return report, notes


class DIFFUSIONTALKER_OT_generate(JobOperator, bpy.types.Operator):
    """Generate lip-sync animation for the active FLAME-topology mesh from speech"""

    bl_idname = "diffusiontalker.generate"
    bl_label = "Generate Lip Sync"
    bl_options = {"UNDO"}
    __annotations__ = {
        **generation_properties({"SKIP_SAVE"}),
        # The panel's Transcript Text is a pointer, which an operator cannot hold: a script names the Text.
        "transcript_text": StringProperty(
            name="Transcript Text", options={"SKIP_SAVE"},
            description="Name of a Text holding what is said (instead of transcript); unset uses the panel's"),
    }

    @classmethod
    def poll(cls, context):
        return active_job() is None and torch_ready(cls)

    def start(self, context, wait: bool) -> set[str]:
        try:
            takes = prepare_takes(self, context)
            plan = takes[0][0]  # every take of a run is on the same head, by the same settings
            check_target(target_mesh(context, plan.object), plan.target, plan.rig_keys, plan.lower_teeth)
        except DiffusionTalkerError as exc:
            self.report({"ERROR"}, str(exc))
            settings = settings_of(self, context)
            take = SELECTED_TAKES if settings["audio_source"] == "SELECTED" else settings["take"]
            _last_result(context.scene, take, str(exc), True)
            return {"CANCELLED"}
        self._plans = [plan for plan, _ in takes]
        return self.run_job(context, generation_job([request for _, request in takes]), "Loading model…", wait)

    def finish(self, context, outcome) -> set[str]:
        return apply_outcome(self, context, self._plans, outcome)


class DIFFUSIONTALKER_OT_cancel(bpy.types.Operator):
    """Stop the running generation; the mesh stays exactly as it was"""

    bl_idname = "diffusiontalker.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return active_job() is not None

    def execute(self, context):
        active_job().cancel()
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


class DIFFUSIONTALKER_OT_start_at_playhead(bpy.types.Operator):
    """Start the take at the current frame, where the line belongs in the shot"""

    bl_idname = "diffusiontalker.start_at_playhead"
    bl_label = "Start at Playhead"
    bl_options = {"UNDO"}

    def execute(self, context):
        context.scene.diffusiontalker.start_frame = context.scene.frame_current
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
           DIFFUSIONTALKER_OT_start_at_playhead, DIFFUSIONTALKER_OT_mark_key_pose)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
