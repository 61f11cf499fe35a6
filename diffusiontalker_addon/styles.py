"""New talking styles made inside Blender, stored in the personal identity library.

Both operators run on the main thread: from audio is a second of encoding; fitting to
an animation is an optimisation the user asked to wait for (a minute or more on a
CPU), shown on the window's progress indicator. The library file is written last, after everything
has been checked and computed, so an error changes nothing: not the library, not
the preferences, not the scene's frame.
"""

from __future__ import annotations

import os

import bpy
import numpy as np
from bpy.props import BoolProperty, CollectionProperty, IntProperty, StringProperty

from ..core.allocator import freed_memory_kept
from ..core.errors import DiffusionTalkerError
from ..core.mesh import check_vertex_count
from ..core.library import check_library_path, check_new_name, check_style_name
from . import inputs, prefs
from .capture import evaluated_offsets, frame_kept, rest_coordinates
from .worker import active_job

LIBRARY_NAME = "styles"  # the default library: styles.json + styles.safetensors in the extension's user folder


def _generator(context, library: str):
    """The cached model (holding the library's current styles, if the library exists yet)."""
    from .worker import load_generator

    device = inputs.device_of(inputs.settings_of(None, context), context)
    return load_generator(prefs.checkpoint_path(context), device, library if os.path.isfile(library) else "")


def _library(context) -> str:
    """The preferences' library, or where the default one goes (not created here)."""
    chosen = prefs.identity_library_path(context)
    if chosen:
        check_library_path(chosen, "the preferences' identity library")
    return chosen or os.path.join(
        bpy.utils.extension_path_user(prefs.ROOT_PACKAGE, path=LIBRARY_NAME), LIBRARY_NAME + ".json")


def _store(op, context, library: str, name: str, vector, generator, source: dict) -> set[str]:
    """Add the style to the library; the default library becomes the preference so that
    the style search and Generate see it."""
    from ..core.library import add_style

    os.makedirs(os.path.dirname(library), exist_ok=True)
    add_style(library, name, vector, generator, source, op.replace)
    addon_prefs = prefs.preferences(context)
    if addon_prefs is not None and not addon_prefs.identity_library:
        addon_prefs.identity_library = library
    op.report({"INFO"}, f"New style '{name}' ({source['from']}) in {library}")
    return {"FINISHED"}


def _refuse(op, exc: DiffusionTalkerError) -> set[str]:
    op.report({"ERROR"}, str(exc))
    return {"CANCELLED"}


class DIFFUSIONTALKER_OT_style_from_audio(bpy.types.Operator):
    """Make a talking style from recordings of a voice and add it to your identity library"""

    bl_idname = "diffusiontalker.style_from_audio"
    bl_label = "New Style from Audio…"

    style_name: StringProperty(name="Style Name", options={"SKIP_SAVE"},
                               description="Name of the new style, as Talking Style will offer it")
    replace: BoolProperty(name="Replace", default=False, options={"SKIP_SAVE"},
                          description="Replace a personal style of the same name (otherwise that name is refused)")
    directory: StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"},
                              description="Folder of the chosen recordings")
    files: CollectionProperty(type=bpy.types.OperatorFileListElement, options={"HIDDEN", "SKIP_SAVE"},
                              description="The chosen recordings of the voice (one or more)")
    filter_glob: StringProperty(default="*.wav;*.flac;*.ogg;*.mp3;*.m4a;*.aac;*.mp4", options={"HIDDEN"},
                                description="Audio files the browser lists")

    @classmethod
    def poll(cls, context):
        return active_job() is None  # the cached model is in use by the generation

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        from ..core.audio import load_audio
        from ..core.new_style import embed_from_audio

        paths = [os.path.join(bpy.path.abspath(self.directory), f.name) for f in self.files if f.name]
        try:
            name = check_style_name(self.style_name)
            if not paths:
                raise DiffusionTalkerError("choose one or more recordings of the voice")
            waves = [load_audio(path) for path in paths]
            library = _library(context)
            generator = _generator(context, library)
            check_new_name(generator, name, library, self.replace)  # before the work, not only when storing
            vector = embed_from_audio(generator, waves)
            return _store(self, context, library, name, vector, generator,
                          {"clips": [os.path.basename(p) for p in paths], "from": "audio"})
        except DiffusionTalkerError as exc:
            return _refuse(self, exc)


class DIFFUSIONTALKER_OT_style_from_animation(bpy.types.Operator):
    """Make a talking style that moves like the active mesh's animation does to the panel's audio, and add it to your identity library"""

    bl_idname = "diffusiontalker.style_from_animation"
    bl_label = "New Style from This Animation"

    style_name: StringProperty(name="Style Name", options={"SKIP_SAVE"},
                               description="Name of the new style, as Talking Style will offer it")
    replace: BoolProperty(name="Replace", default=False, options={"SKIP_SAVE"},
                          description="Replace a personal style of the same name (otherwise that name is refused)")
    iterations: IntProperty(name="Iterations", default=100, min=1, max=2000, options={"SKIP_SAVE"},
                            description="Optimisation steps fitting the style to the animation: more follows it "
                                        "more closely and takes longer")

    @classmethod
    def poll(cls, context):
        return active_job() is None

    def invoke(self, context, event):
        return context.window_manager.invoke_props_dialog(self)

    def execute(self, context):
        from ..core.new_style import embed_from_audio
        from ..core.pipeline import resample_fps

        try:
            name = check_style_name(self.style_name)
            obj = inputs.target_mesh(context, writing=False)
            audio, start_frame, span = inputs.audio_source(inputs.settings_of(None, context), context)
            inputs.check_span(context.scene, audio, start_frame, span)
            library = _library(context)
            generator = _generator(context, library)
            check_new_name(generator, name, library, self.replace)  # before the work, not only when storing
            check_vertex_count(len(obj.data.vertices), generator.num_vertices, f"Object '{obj.name}'")
            timeline = inputs.take_timeline(audio, context.scene, prefs.checkpoint_path(context), span)
            motion = self._motion(context, obj, start_frame, timeline.scene_frames)
            motion = resample_fps(motion, timeline.scene_fps, timeline.model_fps)
            start = embed_from_audio(generator, [timeline.wave])
            vector = self._fit(context, generator, timeline.wave, motion, start)
            return _store(self, context, library, name, vector, generator,
                          {"clips": [os.path.basename(audio)], "from": f"animation of '{obj.name}'"})
        except DiffusionTalkerError as exc:
            return _refuse(self, exc)

    @staticmethod
    def _motion(context, obj, start_frame: int, frames: int):
        """(frames, V, 3) what the mesh shows at each scene frame of the speech."""
        rest = rest_coordinates(obj)
        with frame_kept(context.scene):
            return np.stack([evaluated_offsets(context, obj, start_frame + i, rest) for i in range(frames)])

    def _fit(self, context, generator, wave, motion, start):
        from ..core.new_style import fit_to_motion

        wm = context.window_manager
        with freed_memory_kept():  # Blender waits on the fit, so only the fit sees the setting
            if context.window is None:  # background mode: no progress indicator to drive
                return fit_to_motion(generator, [wave], [motion], start, self.iterations, seed=0)
            wm.progress_begin(0, self.iterations)
            try:
                return fit_to_motion(generator, [wave], [motion], start, self.iterations, seed=0,
                                     progress=lambda done, total: wm.progress_update(done))
            finally:
                wm.progress_end()


CLASSES = (DIFFUSIONTALKER_OT_style_from_audio, DIFFUSIONTALKER_OT_style_from_animation)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
