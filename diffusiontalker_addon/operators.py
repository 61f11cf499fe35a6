"""The Generate Lip Sync operator, its Cancel, the seed dice and the key-pose marker.

Interactively the model runs on a worker thread and a modal timer drains its
queue, so Blender stays usable and Esc/Cancel work; nothing touches the mesh
until the take is complete, so a cancel leaves it exactly as it was. In background
mode (``blender -b``) timers never fire, so ``execute`` runs the same job in place.
Either way the whole write happens in one operator call: one undo step.
"""

from __future__ import annotations

import random
import sys
import traceback

import bpy

from ..core.allocator import freed_memory_kept
from ..core.errors import Cancelled, DiffusionTalkerError
from ..core.mesh import check_vertex_count
from .capture import KEY_POSE_PREFIX, key_pose_frames
from .inputs import Plan, prepare, target_mesh
from .props import generation_properties
from .takes import settle_new_take
from .worker import GenerationJob, active_job, set_active_job
from .writer import PER_FRAME, fit_frame_range, place_audio, scene_fps, write_take

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
    settle_new_take(scene, obj, plan, take, summary.frames)
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
        return active_job() is None

    def execute(self, context):
        try:
            plan, request = prepare(self, context)
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
        if bpy.app.background:
            return self.execute(context)
        try:
            self._plan, request = prepare(self, context)
        except DiffusionTalkerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        set_active_job(GenerationJob(request)).start()
        runtime = context.window_manager.diffusiontalker
        runtime.running, runtime.progress, runtime.status = True, 0.0, "Loading model…"
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        context.workspace.status_text_set("DiffusionTalker: generating lip sync (Esc to cancel)")
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        runtime = context.window_manager.diffusiontalker
        if event.type == "ESC" and event.value == "PRESS":
            active_job().cancel()
            runtime.status = "Cancelling…"
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":  # any timer will do: draining an idle queue costs nothing
            return {"PASS_THROUGH"}
        outcome = poll_job(active_job(), runtime)
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
        active_job().cancel()
        active_job().wait(timeout=10)
        self._stop(context)

    def _stop(self, context):
        set_active_job(None)
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
