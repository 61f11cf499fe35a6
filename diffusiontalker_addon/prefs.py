"""Add-on preferences: where the model comes from and where it runs by default."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

# The extension's root package (``bl_ext.<repo>.diffusiontalker``): Blender keys
# add-on preferences by it, and it differs per install repository.
ROOT_PACKAGE = __package__.rpartition(".")[0]

DEVICES = [
    ("auto", "Auto", "CUDA if present, else Apple MPS, else CPU"),
    ("cpu", "CPU", "Always the processor: slowest, always available"),
    ("cuda", "CUDA", "An NVIDIA GPU; falls back to CPU with a warning when there is none"),
    ("mps", "Apple MPS", "Apple-silicon GPU; falls back to CPU with a warning when unavailable"),
]


class DiffusionTalkerPreferences(bpy.types.AddonPreferences):
    bl_idname = ROOT_PACKAGE

    checkpoint: StringProperty(
        name="Checkpoint",
        subtype="FILE_PATH",
        description="Model checkpoint to generate with (its .json card or .safetensors weights); empty uses the one bundled with the extension",
    )
    device: EnumProperty(
        name="Default Device",
        items=DEVICES,
        default="auto",
        description="Where inference runs unless a generation picks a device itself",
    )
    identity_library: StringProperty(
        name="Personal Style Library",
        subtype="FILE_PATH",
        description="Your own talking styles (a style library made by 'diffusiontalker new-style' or the "
                    "New Style buttons), offered by name next to the checkpoint's",
    )

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "checkpoint")
        layout.prop(self, "device")
        from .dependencies import torch_build

        build = torch_build()
        if build is not None:
            layout.label(text=build[0], icon="INFO")
        layout.prop(self, "identity_library")


def preferences(context=None):
    """The add-on's preferences; None when it is not registered as an extension (tests of parts)."""
    addon = (context or bpy.context).preferences.addons.get(ROOT_PACKAGE)
    return addon.preferences if addon else None


def _path(name: str, context=None) -> str:
    prefs = preferences(context)
    value = getattr(prefs, name) if prefs else ""
    return bpy.path.abspath(value) if value else ""


def checkpoint_path(context=None) -> str:
    return _path("checkpoint", context)


def identity_library_path(context=None) -> str:
    return _path("identity_library", context)


def default_device(context=None) -> str:
    prefs = preferences(context)
    return prefs.device if prefs else "auto"


def register():
    bpy.utils.register_class(DiffusionTalkerPreferences)


def unregister():
    bpy.utils.unregister_class(DiffusionTalkerPreferences)
