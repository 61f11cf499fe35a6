"""The Blender layer: properties, panel, operators and the shape-key writer.

Sub-modules that touch ``bpy`` are imported in ``register`` so that the pure
numpy part (``basis``) and the torch-only ``worker`` stay importable without Blender.
"""

_MODULE_NAMES = ("props", "prefs", "operators", "styles", "panel", "takes", "targets")


def _modules():
    import importlib

    return [importlib.import_module(f".{name}", __package__) for name in _MODULE_NAMES]


def register():
    for module in _modules():
        module.register()


def unregister():
    for module in reversed(_modules()):
        module.unregister()
