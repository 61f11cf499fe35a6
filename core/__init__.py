"""DiffusionTalker core: speech-driven 3D facial animation by diffusion.

Everything here is plain Python + PyTorch and never imports ``bpy``; the Blender
extension (``diffusiontalker_addon``) is a thin layer over it, like glTF-Blender-IO's
split between ``io/`` and ``blender/``. Inside Blender this folder is imported
relatively as ``..core``; installed with pip it is the package ``diffusiontalker``.
Hence all imports inside ``core`` are relative.
"""

__version__ = "0.1.0"
