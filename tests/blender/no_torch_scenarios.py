"""Blender-side half of tests/test_blender_no_torch.py; run in a fresh Python.

usage: python no_torch_scenarios.py EXTENSION_ZIP FLAME_PLY SPEECH_WAV WORK_DIR OUT_JSON
(BLENDER_USER_RESOURCES must already point at an empty folder.) The extension in a
Blender whose Python has no torch: a zip built without wheels, or one whose wheels are
for another Python. torch is hidden before anything imports it, by a path finder that
finds everything but torch, so ``import torch`` fails and ``find_spec`` answers None
exactly as where it is not installed.
"""

import sys
from importlib.machinery import PathFinder


class _WithoutTorch(PathFinder):
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname.partition(".")[0] == "torch":
            return None
        return super().find_spec(fullname, path, target)


sys.meta_path[sys.meta_path.index(PathFinder)] = _WithoutTorch

import hashlib  # noqa: E402 - torch must be hidden before any of these could import it
import json  # noqa: E402
import traceback  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from harness import refusal  # noqa: E402 - beside this script

ZIP, PLY, WAV, WORK, OUT = sys.argv[1:6]  # WORK: unused, as every scenario script is called alike


class Layout:
    """Stands in for a panel's UILayout, which exists only in a window: records the labels
    and the operator buttons drawn, and is its own row, column and box."""

    def __init__(self, drawn: list):
        self.drawn = drawn

    def label(self, text="", icon="NONE", **_):
        self.drawn.append(["label", text, icon])

    def operator(self, idname, **_):
        self.drawn.append(["operator", idname])
        return SimpleNamespace()

    def __getattr__(self, name):
        return lambda *args, **kwargs: Layout(self.drawn)


def drawn(panel) -> list:
    out = []
    panel.draw(SimpleNamespace(layout=Layout(out)), bpy.context)
    return out


def fingerprint(obj) -> str:
    co = np.empty(len(obj.data.vertices) * 3, dtype=np.float32)
    obj.data.vertices.foreach_get("co", co)
    return hashlib.sha256(co.tobytes()).hexdigest()


def observe() -> dict:
    bpy.ops.extensions.package_install_files(filepath=ZIP, repo="user_default", enable_on_install=True)
    out = {"enabled": [n for n in bpy.context.preferences.addons.keys() if n.endswith(".diffusiontalker")]}
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.ply_import(filepath=PLY)
    head = bpy.context.active_object
    before = fingerprint(head)
    panels = [cls for cls in bpy.types.Panel.__subclasses__() if cls.__name__.startswith("DIFFUSIONTALKER_PT_")]
    out["panels"] = {cls.__name__: drawn(cls) for cls in panels}
    ops = bpy.ops.diffusiontalker
    out["generate"] = refusal(ops.generate, audio=WAV, device="cpu")
    out["style_from_audio"] = refusal(ops.style_from_audio, style_name="Mine", directory=WAV.rpartition("/")[0],
                                      files=[{"name": WAV.rpartition("/")[2]}])
    bpy.context.scene.diffusiontalker.audio = WAV
    out["style_from_animation"] = refusal(ops.style_from_animation, style_name="Fitted")
    editor = bpy.context.scene.sequence_editor
    strips = (editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all) if editor else ()
    out["unchanged"] = {"mesh": fingerprint(head) == before, "shape_keys": head.data.shape_keys is not None,
                        "strips": len(strips), "actions": len(bpy.data.actions)}
    out["torch_imported"] = "torch" in sys.modules
    out["python"] = f"{sys.version_info.major}.{sys.version_info.minor}"
    return out


try:
    observed = observe()
except Exception:  # noqa: BLE001
    observed = {"crash": traceback.format_exc()}
with open(OUT, "w") as fh:
    json.dump(observed, fh, indent=1)
