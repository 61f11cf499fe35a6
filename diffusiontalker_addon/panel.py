"""The "DiffusionTalker" tab in the 3D viewport's sidebar (N panel)."""

from __future__ import annotations

import textwrap

import bpy

from ..core.errors import DiffusionTalkerError
from . import prefs
from .dependencies import torch_build, torch_missing
from .inputs import model_vertices
from .writer import BASIS, selected_sound_strips


class _SidebarTab:
    """Where every panel of the extension lives: the DiffusionTalker tab of the 3D viewport's sidebar."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "DiffusionTalker"


class DIFFUSIONTALKER_PT_lip_sync(_SidebarTab, bpy.types.Panel):
    bl_label = "Lip Sync"
    bl_idname = "DIFFUSIONTALKER_PT_lip_sync"

    def draw(self, context):
        layout = self.layout
        missing = torch_missing()
        if missing is not None:  # nothing below can work; say why instead
            box = layout.box()
            box.alert = True
            for i, line in enumerate(textwrap.wrap(missing, 36)):
                box.label(text=line, icon="ERROR" if i == 0 else "BLANK1")
            return
        settings = context.scene.diffusiontalker
        runtime = context.window_manager.diffusiontalker
        layout.use_property_split = True
        layout.use_property_decorate = False

        col = layout.column()
        col.enabled = not runtime.running
        col.prop(settings, "audio_source", expand=True)
        if settings.audio_source == "FILE":
            col.prop(settings, "audio")
            row = col.row(align=True)
            row.prop(settings, "start_frame")
            row.operator("diffusiontalker.start_at_playhead", text="", icon="TIME")
        elif settings.audio_source == "SELECTED":
            count = len(selected_sound_strips(context.scene))
            col.label(text=f"{count} selected sound strip{'s' if count != 1 else ''}",
                      icon="SEQUENCE" if count else "INFO")
        else:
            editor = context.scene.sequence_editor
            if editor is not None:
                col.prop_search(settings, "sound_strip", editor,  # those inside meta strips too
                                "strips_all" if hasattr(editor, "strips_all") else "sequences_all")
            else:
                col.label(text="The scene has no sound strips", icon="INFO")
        col.prop(settings, "transcript_text")
        row = col.row()
        row.active = settings.transcript_text is None  # a chosen Text is what is read
        row.prop(settings, "transcript")
        col.prop(settings, "style")
        row = col.row(align=True)
        row.prop(settings, "seed")
        row.operator("diffusiontalker.randomize_seed", text="", icon="FILE_REFRESH")
        col.prop(settings, "variation")
        col.prop(settings, "steps")
        col.prop(settings, "device")
        device = prefs.default_device(context) if settings.device == "PREFS" else settings.device
        build = torch_build()
        if device == "cuda" and build is not None and not build[1]:
            col.label(text=build[0], icon="ERROR")  # said before the run falls back to the CPU
        col.prop(settings, "mode")
        if settings.mode == BASIS:
            col.prop(settings, "basis_count")
        row = col.row()
        row.active = settings.audio_source != "SELECTED"  # those takes are named after their strips
        row.prop(settings, "take")
        col.prop(settings, "target")
        if settings.target == "SHAPE_KEYS":
            col.prop(settings, "rig_keys")
        col.prop_search(settings, "lower_teeth", bpy.data, "objects", icon="OBJECT_DATA")
        if settings.target != "FLAME":
            col.operator("diffusiontalker.fit_head", icon="MOD_SHRINKWRAP")

        obj = context.active_object
        if obj is None or obj.type != "MESH":
            layout.label(text="Select a FLAME-topology mesh", icon="ERROR")
        elif settings.target == "FLAME":
            try:
                wanted = model_vertices(prefs.checkpoint_path(context))
            except DiffusionTalkerError:
                wanted = None  # Generate names the checkpoint's problem
            if wanted is not None and len(obj.data.vertices) != wanted:
                layout.label(text=f"{obj.name} has {len(obj.data.vertices)} vertices; the model animates "
                                  f"{wanted} (FLAME topology)", icon="ERROR")

        if runtime.running:
            layout.progress(factor=runtime.progress, type="BAR", text=runtime.status or "Generating…")
            layout.operator("diffusiontalker.cancel", icon="CANCEL")
        else:
            layout.operator("diffusiontalker.generate", icon="SPEAKER")
        if settings.last_report:
            box = layout.box()
            if settings.last_failed:
                box.label(text=f"Take {settings.last_take} failed:", icon="ERROR")
            else:
                box.label(text=f"Last take: {settings.last_take}", icon="CHECKMARK")
            for line in settings.last_report.split("; "):
                box.label(text=line)


class DIFFUSIONTALKER_PT_styles(_SidebarTab, bpy.types.Panel):
    """Making styles, mixing two, and holding poses: what shapes a take beyond its speech."""

    bl_label = "Styles"
    bl_idname = "DIFFUSIONTALKER_PT_styles"
    bl_parent_id = DIFFUSIONTALKER_PT_lip_sync.bl_idname

    def draw(self, context):
        layout = self.layout
        settings = context.scene.diffusiontalker
        layout.enabled = not context.window_manager.diffusiontalker.running
        layout.use_property_split = True

        col = layout.column(align=True)
        col.operator("diffusiontalker.style_from_audio", icon="FILE_SOUND")
        col.operator("diffusiontalker.style_from_animation", icon="ACTION")

        col = layout.column()
        col.use_property_decorate = False
        col.prop(settings, "blend_style")
        row = layout.row()  # with the keyframe diamond: the weight can change during the take
        row.active = bool(settings.blend_style.strip())
        row.prop(settings, "blend_weight")

        col = layout.column()
        col.use_property_decorate = False
        col.prop(settings, "keep_key_poses")
        col.operator("diffusiontalker.mark_key_pose", icon="MARKER_HLT")


CLASSES = (DIFFUSIONTALKER_PT_lip_sync, DIFFUSIONTALKER_PT_styles)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
