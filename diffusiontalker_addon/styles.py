"""New talking styles made inside Blender, stored in the personal style library.

Both operators gather what Blender knows on the main thread (the name, the head's
motion, the library's place) and leave the model work (loading it, encoding the
voice, the fit) to a worker job with progress and Cancel, as Generate does. The
library file is written last, after everything has been checked and computed, so an
error or a cancel changes nothing: not the library, not the preferences, not the
scene's frame.

A library made without a place chosen in the preferences lives in Blender's own
configuration folder, shared by every Blender version and left alone when the
extension is removed: a fitted style can take minutes to make again.
"""

from __future__ import annotations

import os
import shutil

import bpy
import numpy as np
from bpy.props import BoolProperty, CollectionProperty, IntProperty, StringProperty

from ..core.card import paths_of
from ..core.errors import DiffusionTalkerError, check_cancel
from ..core.library import check_library_path, check_style_name
from ..core.mesh import check_vertex_count
from ..core.timing import resample_fps
from . import inputs, prefs
from .capture import evaluated_offsets, frame_kept, rest_coordinates
from .dependencies import torch_ready
from .running import JobOperator, report_outcome
from .worker import Job, Outcome, active_job, load_generator

LIBRARY_NAME = "styles"  # the default library's files: styles.json + styles.safetensors


def default_library() -> str:
    """Blender's configuration root (~/.config/blender on Linux), beside its version folders."""
    return os.path.join(os.path.dirname(bpy.utils.resource_path("USER")), "diffusiontalker", LIBRARY_NAME + ".json")


def _old_default_library() -> str | None:
    """Where versions before 0.2 kept it: inside the extension, so removing the extension
    deleted it. None when the add-on was not installed as an extension (a script loading
    the checkout, a legacy add-on folder): no such place exists, nor a library in it."""
    try:
        folder = bpy.utils.extension_path_user(prefs.ROOT_PACKAGE, path=LIBRARY_NAME)
    except ValueError:  # "the package does not name an extension"
        return None
    return os.path.join(folder, LIBRARY_NAME + ".json")


def migrate_library(context) -> str | None:
    """Copy a library from the old default place to the new one, once, and point the
    preferences at it; the new path when something was moved."""
    old, new = _old_default_library(), default_library()
    addon_prefs = prefs.preferences(context)
    if old is None or not os.path.isfile(old) or os.path.exists(new) or addon_prefs is None:
        return None
    if addon_prefs.identity_library and bpy.path.abspath(addon_prefs.identity_library) != old:
        return None  # the user chose another library; the old default is not theirs to lose
    os.makedirs(os.path.dirname(new), exist_ok=True)
    for source, target in zip(paths_of(old), paths_of(new)):
        shutil.copy2(source, target)
    addon_prefs.identity_library = new
    return new


def _library(context) -> str:
    """The preferences' library, or where the default one goes (not created here)."""
    chosen = prefs.identity_library_path(context)
    if chosen:
        check_library_path(chosen, "the preferences' style library")
    return chosen or default_library()


class _StyleJobOperator(JobOperator):
    """What both New Style operators share: the dialog's fields, the model to fit with,
    and storing the style once the job has made it."""

    style_name: StringProperty(name="Style Name", options={"SKIP_SAVE"},
                               description="Name of the new style, as Talking Style will offer it")
    replace: BoolProperty(name="Replace", default=False, options={"SKIP_SAVE"},
                          description="Replace a personal style of the same name (otherwise that name is refused)")

    @classmethod
    def poll(cls, context):
        return active_job() is None and torch_ready(cls)  # one job at a time holds the cached model

    def start(self, context, wait: bool) -> set[str]:
        try:
            name = check_style_name(self.style_name)
            library = _library(context)
            work = self.prepare(context, name, library)
        except DiffusionTalkerError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self._library = library
        # a chosen library that is not there may be one that was moved: say a new one was started
        self._started = bool(prefs.identity_library_path(context)) and not paths_of(library)[1].is_file()
        return self.run_job(context, Job(work), "Loading model…", wait)

    def model_work(self, context, name: str, library: str, make_style, source: dict):
        """The job: load the model, check the name against it, ``make_style(job, generator,
        progress)`` -> vector, then store it; everything slow happens off the main thread."""
        from ..core.library import add_style, check_new_name

        checkpoint, device = prefs.checkpoint_path(context), inputs.device_of(inputs.settings_of(None, context), context)
        replace = self.replace

        def work(job: Job, progress) -> Outcome:
            progress(0, 1, "Loading model…")
            generator = load_generator(checkpoint, device, library if os.path.isfile(library) else "")
            check_new_name(generator, name, library, replace, "tick Replace in the New Style dialog")  # before the work, not only when storing
            vector = make_style(job, generator, progress)
            check_cancel(job.cancel_event)
            os.makedirs(os.path.dirname(library), exist_ok=True)
            add_style(library, name, vector, generator, source, replace)
            return Outcome(result=(name, source), generator=generator, warnings=generator.said_warnings())

        return work

    def finish(self, context, outcome) -> set[str]:
        """The default library becomes the preference, so that the style search and Generate see it."""
        refused = report_outcome(self, outcome)
        if refused is not None:
            return refused
        name, source = outcome.result
        addon_prefs = prefs.preferences(context)
        if addon_prefs is not None and not addon_prefs.identity_library:
            addon_prefs.identity_library = self._library
        if self._started:
            self.report({"WARNING"}, f"no style library was at {self._library}, so a new one was started there; "
                                     "if yours was moved, point the preferences at it")
        self.report({"INFO"}, f"New style '{name}' ({source['from']}) in {self._library}")
        return {"FINISHED"}


class DIFFUSIONTALKER_OT_style_from_audio(_StyleJobOperator, bpy.types.Operator):
    """Make a talking style from recordings of a voice and add it to your personal style library"""

    bl_idname = "diffusiontalker.style_from_audio"
    bl_label = "New Style from Audio…"

    directory: StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"},
                              description="Folder of the chosen recordings")
    files: CollectionProperty(type=bpy.types.OperatorFileListElement, options={"HIDDEN", "SKIP_SAVE"},
                              description="The chosen recordings of the voice (one or more)")
    filter_glob: StringProperty(default="*.wav;*.flac;*.ogg;*.mp3;*.m4a;*.aac;*.mp4", options={"HIDDEN"},
                                description="Audio files the browser lists")

    def invoke(self, context, event):
        self._clicked = True
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def prepare(self, context, name: str, library: str):
        from ..core.audio import check_audio_file

        paths = [os.path.join(bpy.path.abspath(self.directory), f.name) for f in self.files if f.name]
        if not paths:
            raise DiffusionTalkerError("choose one or more recordings of the voice")
        for path in paths:
            check_audio_file(path)

        def make_style(job, generator, progress):
            from ..core.audio import load_audio
            from ..core.new_style import embed_from_audio

            waves = []
            for done, path in enumerate(paths):
                progress(done, len(paths), f"Reading {os.path.basename(path)}…")
                check_cancel(job.cancel_event)
                waves.append(load_audio(path))
            progress(len(paths), len(paths), "Encoding the voice…")
            return embed_from_audio(generator, waves)

        return self.model_work(context, name, library, make_style,
                               {"clips": [os.path.basename(p) for p in paths], "from": "audio"})


class DIFFUSIONTALKER_OT_style_from_animation(_StyleJobOperator, bpy.types.Operator):
    """Make a talking style that moves like the active mesh's animation does to the panel's audio, and add it to your personal style library"""

    bl_idname = "diffusiontalker.style_from_animation"
    bl_label = "New Style from This Animation"

    iterations: IntProperty(name="Iterations", default=100, min=1, max=2000, options={"SKIP_SAVE"},
                            description="Optimisation steps fitting the style to the animation: more follows it "
                                        "more closely and takes longer")

    def invoke(self, context, event):
        self._clicked = True
        return context.window_manager.invoke_props_dialog(self)

    def prepare(self, context, name: str, library: str):
        obj = inputs.target_mesh(context, writing=False)
        audio, start_frame, span = inputs.audio_source(inputs.settings_of(None, context), context)
        inputs.check_span(context.scene, audio, start_frame, span)
        checkpoint = prefs.checkpoint_path(context)
        check_vertex_count(len(obj.data.vertices), inputs.model_vertices(checkpoint), f"Object '{obj.name}'")
        timeline = inputs.take_timeline(audio, context.scene, checkpoint, span)
        motion = self._motion(context, obj, start_frame, timeline.scene_frames)  # bpy: here, not in the job
        motion = resample_fps(motion, timeline.scene_fps, timeline.model_fps)
        iterations = self.iterations

        def make_style(job, generator, progress):
            from ..core.new_style import embed_from_audio, fit_to_motion

            progress(0, iterations, "Encoding the voice…")
            start = embed_from_audio(generator, [timeline.wave])
            return fit_to_motion(generator, [timeline.wave], [motion], start, iterations, seed=0,
                                 progress=lambda done, total: progress(done, total, f"Fitting: step {done} of {total}"),
                                 cancel=job.cancel_event)

        return self.model_work(context, name, library, make_style,
                               {"clips": [os.path.basename(audio)], "from": f"animation of '{obj.name}'"})

    @staticmethod
    def _motion(context, obj, start_frame: int, frames: int):
        """(frames, V, 3) what the mesh shows at each scene frame of the speech."""
        rest = rest_coordinates(obj)
        with frame_kept(context.scene):
            return np.stack([evaluated_offsets(context, obj, start_frame + i, rest) for i in range(frames)])


CLASSES = (DIFFUSIONTALKER_OT_style_from_audio, DIFFUSIONTALKER_OT_style_from_animation)

_register, _unregister = bpy.utils.register_classes_factory(CLASSES)


def register():
    _register()
    try:
        migrate_library(bpy.context)
    except OSError as exc:  # the old library stays where it was; enabling must not fail over it
        print(f"DiffusionTalker: could not move the style library to {default_library()}: {exc}")


def unregister():
    _unregister()
