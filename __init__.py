"""Blender extension entry point.

Blender imports the repository root as the extension package (it holds
``blender_manifest.toml``), so the Blender layer lives in ``diffusiontalker_addon``
and reaches the Blender-free library as the sibling package ``core``.
"""

# pytest imports this file too (to it the root is a test package), but as a bare
# module where a relative import cannot resolve and nothing needs registering.
if __package__:
    from .diffusiontalker_addon import register, unregister

    __all__ = ["register", "unregister"]
