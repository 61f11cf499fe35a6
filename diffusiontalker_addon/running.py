"""A model job seen from Blender's main thread: progress in the panel, Cancel, and
the outcome handed back to the operator that started it.

Generate and both New Style operators run their model work (torch, the model load,
sampling, the style fit) as a ``worker.Job`` on a worker thread, so Blender never
freezes. In background mode (batch scripts, render farms) timers never fire and the
caller waits anyway, so the job runs in place instead.

Esc is left to Blender: a modal operator sees every key press in the window, and
taking Esc from whatever the user was doing (leaving a text field, a transform)
would cancel minutes of work by accident. The panel's Cancel button stops a job.
"""

from __future__ import annotations

import sys
import traceback

import bpy

from ..core.allocator import freed_memory_kept
from ..core.errors import Cancelled
from .worker import Job, active_job, set_active_job


def report_outcome(op, outcome) -> set[str] | None:
    """Say why a job made nothing ({"CANCELLED"}), or say its warnings and return None."""
    if outcome.crash:
        print(outcome.crash, file=sys.stderr)
        op.report({"ERROR"}, "DiffusionTalker failed unexpectedly; the traceback is in the system console")
        return {"CANCELLED"}
    if isinstance(outcome.error, Cancelled):
        op.report({"INFO"}, "Cancelled; nothing was changed")
        return {"CANCELLED"}
    if outcome.error:
        op.report({"ERROR"}, str(outcome.error))
        return {"CANCELLED"}
    for warning in outcome.warnings:
        op.report({"WARNING"}, warning)
    return None


def poll_job(job: Job, runtime):
    """Move the worker's news onto the panel's state; the outcome once the job has ended."""
    progress, outcome = job.drain()
    if progress is not None:
        done, total, status = progress
        runtime.progress = done / max(total, 1)
        if not job.cancel_event.is_set():
            runtime.status = status or runtime.status
    return outcome


def _redraw(context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


class JobOperator:
    """Mixin for an operator whose model work is a ``worker.Job``: ``start(context, wait)``
    checks its input and hands ``run_job`` the job, and ``finish(context, outcome)`` applies
    what it made, on the main thread.

    A script's call (``execute`` alone) waits: it needs the result when its call returns.
    Anything that went through ``invoke`` (a click, then perhaps a dialog's OK or a file
    browser's) does not: a click must not freeze Blender."""

    def start(self, context, wait: bool) -> set[str]:
        raise NotImplementedError

    def finish(self, context, outcome) -> set[str]:
        raise NotImplementedError

    def execute(self, context):
        return self.start(context, wait=not getattr(self, "_clicked", False))

    def invoke(self, context, event):
        self._clicked = True
        return self.execute(context)

    def run_job(self, context, job: Job, status: str, wait: bool) -> set[str]:
        """``wait``: run in place; otherwise on the worker thread (never in background mode)."""
        if wait or bpy.app.background or context.window is None:
            from tqdm import tqdm

            # Blender waits on this call, so the CLI's allocator setting (docs/benchmarks.md) touches nothing else.
            with tqdm(desc="DiffusionTalker", unit="step", file=sys.stderr, leave=False) as bar, freed_memory_kept():
                def progress(done, total, status=""):
                    bar.total = total
                    bar.update(done - bar.n)

                outcome = job.run(progress)
            return self.finish(context, outcome)
        set_active_job(job).start()
        runtime = context.window_manager.diffusiontalker
        runtime.running, runtime.progress, runtime.status = True, 0.0, status
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        context.workspace.status_text_set(f"DiffusionTalker: {status} (Cancel in the sidebar's DiffusionTalker tab)")
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type != "TIMER":  # any timer will do: draining an idle queue costs nothing
            return {"PASS_THROUGH"}
        outcome = poll_job(active_job(), context.window_manager.diffusiontalker)
        _redraw(context)
        if outcome is None:
            return {"PASS_THROUGH"}
        self._stop(context)
        try:
            return self.finish(context, outcome)
        except Exception:  # noqa: BLE001 - a modal operator that raises leaves Blender's UI stuck
            traceback.print_exc()
            self.report({"ERROR"}, "applying the result failed; the traceback is in the system console")
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
