"""Blender-side half of tests/test_blender_takes.py; run in a fresh Python.

usage: python takes_scenarios.py EXTENSION_ZIP FLAME_PLY SPEECH_WAV WORK_DIR OUT_JSON
(BLENDER_USER_RESOURCES must already point at an empty folder.) Installs the built
extension, makes takes with a tiny random model on a second of speech, drives the
take operators through ``bpy.ops`` as a batch script would, and records what the
mesh shows as JSON for the pytest side to judge. Scenarios run in order on one head
where they say so: each starts from the state the one before left.
"""

import hashlib
import os
import sys

import bpy
from mathutils import Matrix
import numpy as np
import torch

ZIP, PLY, WAV, WORK, OUT = sys.argv[1:6]
STYLES = ["anna", "ben", "cleo"]
SMILE_OFFSET = 0.002
scenarios = []


def scenario(fn):
    scenarios.append(fn)
    return fn


bpy.ops.extensions.package_install_files(filepath=ZIP, repo="user_default", enable_on_install=True)
from bl_ext.user_default.diffusiontalker.core.checkpoint import save_checkpoint  # noqa: E402 - exists once installed
from bl_ext.user_default.diffusiontalker.core.model import TalkerModel  # noqa: E402
from bl_ext.user_default.diffusiontalker.diffusiontalker_addon import takes  # noqa: E402
from bl_ext.user_default.diffusiontalker.diffusiontalker_addon.animation import action_fcurves  # noqa: E402
from harness import (active_curves, coordinates, flame_head, refusal, run_all,  # noqa: E402 - beside this script
                     short_clip, shown)


def tiny_checkpoint() -> str:
    """A FLAME-sized model small enough to sample in a blink, with output weights drawn at
    random so that every take moves the face (a fresh model's output layer is zero)."""
    torch.manual_seed(0)
    model = TalkerModel(dict(d_model=32, n_layers=1, n_heads=2, d_identity=8, dropout=0.0, identities=STYLES,
                             encoder={"kind": "mel", "n_mels": 20, "hidden": 32},
                             diffusion_steps=32, sampling_steps=4))
    with torch.no_grad():
        model.denoiser.motion_out.weight.normal_(0, 0.2)
        for block in model.denoiser.blocks:
            block.modulation.weight.normal_(0, 0.2)
    return str(save_checkpoint(os.path.join(WORK, "tiny"), model.eval(), {"trained_on": "nothing (test noise)"}))


bpy.context.preferences.addons["bl_ext.user_default.diffusiontalker"].preferences.checkpoint = tiny_checkpoint()
CLIP = short_clip(WAV, WORK)


def generate(take, **settings):
    bpy.ops.diffusiontalker.generate(audio=CLIP, take=take, start_frame=1, device="cpu", **settings)


def new_head():
    return flame_head(PLY, SMILE_OFFSET)


def keys_named(obj, take) -> list[str]:
    return [kb.name for kb in obj.data.shape_keys.key_blocks if kb.name.startswith(take + ".")]


def share(obj, names, frame) -> np.ndarray:
    """(V, 3) what these shape keys add at ``frame`` by their curves, muted or not: the
    expectation, computed without Blender's evaluation."""
    blocks = obj.data.shape_keys.key_blocks
    basis = coordinates(obj.data.shape_keys.reference_key)
    curves = active_curves(obj)
    total = np.zeros_like(basis)
    for name in names:
        curve = curves[f'key_blocks["{name}"].value']
        total += curve.evaluate(frame) * (coordinates(blocks[name]) - basis)
    return total


def error(obj, frames, *names) -> float:
    """Largest distance between what the mesh shows and the user's Smile plus these keys."""
    return max(float(np.abs(shown(obj, f) - share(obj, ["Smile", *names], f)).max()) for f in frames)


def size(obj, frames, names) -> float:
    return min(float(np.abs(share(obj, names, f)).max()) for f in frames)


def curve_bytes(fc) -> bytes:
    points = fc.keyframe_points
    data = b""
    for attribute in ("co", "handle_left", "handle_right"):
        values = np.empty(len(points) * 2, dtype=np.float32)
        points.foreach_get(attribute, values)
        data += values.tobytes()
    return data + str([(p.interpolation, p.handle_left_type, p.handle_right_type) for p in points]).encode()


def digest(obj, names) -> str:
    """Hash of these keys' coordinates, settings and curves: "left alone" made checkable."""
    blocks, curves = obj.data.shape_keys.key_blocks, active_curves(obj)
    h = hashlib.sha256()
    for name in names:
        kb = blocks[name]
        h.update(name.encode() + coordinates(kb).tobytes() + repr((kb.value, kb.mute, kb.slider_min)).encode())
        curve = curves.get(f'key_blocks["{name}"].value')
        h.update(curve_bytes(curve) if curve else b"-")
    return h.hexdigest()


def strips() -> dict:
    editor = bpy.context.scene.sequence_editor
    return {s.name: s.mute for s in ((editor.strips if hasattr(editor, "strips") else editor.sequences)  # 4.4 renamed
                                     if editor else [])}


def state(obj) -> str:
    """Everything a take operator could change, hashed: keys, curves, NLA, strips, records."""
    key = obj.data.shape_keys
    nla = [(t.name, [(s.name, s.action.name) for s in t.strips]) for t in key.animation_data.nla_tracks]
    text = repr((digest(obj, [kb.name for kb in key.key_blocks]), nla, sorted(a.name for a in bpy.data.actions),
                 strips(), key.get(takes.RECORDS).to_dict()))
    return hashlib.sha256(text.encode()).hexdigest()


def listed(obj) -> list[dict]:
    return [{"name": t.name, "mode": t.mode, "muted": t.muted, "keys": len(t.keys), **t.record}
            for t in takes.takes_of(obj)]


def sampled(obj, take) -> list[int]:
    """First, middle and last frame of the take, from its record."""
    record = obj.data.shape_keys[takes.RECORDS][take]
    first, last = record["start"], record["start"] + record["frames"] - 1
    return [first, (first + last) // 2, last]


@scenario
def three_takes():
    head = new_head()
    generate("A", style="anna", seed=1, mode="BASIS", basis_count=6)
    generate("B", style="ben", seed=2, mode="PER_FRAME")
    generate("C", style="cleo", seed=3, mode="BASIS", basis_count=6)
    frames = sampled(head, "C")
    blocks = head.data.shape_keys.key_blocks
    return {"listed": listed(head), "per_frame_keys": len(keys_named(head, "B")),
            "rows": [kb.name for kb, flag in zip(blocks, takes.first_keys(blocks, 1)) if flag],
            "latest_alone": error(head, frames, *keys_named(head, "C")),
            "others": min(size(head, frames, keys_named(head, t)) for t in "AB"), "strips": strips()}


@scenario
def switching():
    head = bpy.data.objects["Head"]
    frames = sampled(head, "C")
    smile = digest(head, ["Smile"])
    out = {}
    bpy.ops.diffusiontalker.take_solo(take="A")
    out["solo_a"] = error(head, frames, *keys_named(head, "A"))
    out["solo_a_muted"] = {t["name"]: t["muted"] for t in listed(head)}
    out["solo_a_strips"] = strips()
    bpy.ops.diffusiontalker.take_mute(take="A")
    out["none"] = error(head, frames)
    bpy.ops.diffusiontalker.take_mute(take="B", mute=False, object="Head")
    out["b"] = error(head, frames, *keys_named(head, "B"))
    bpy.ops.diffusiontalker.take_mute(take="C", mute=False)
    out["b_and_c"] = error(head, frames, *keys_named(head, "B"), *keys_named(head, "C"))
    out["smile_kept"] = digest(head, ["Smile"]) == smile

    before = state(head)
    ops = bpy.ops.diffusiontalker
    out["refusals"] = {name: refusal(getattr(ops, name), take="Nope")
                       for name in ("take_solo", "take_mute", "take_delete", "take_bake")}
    out["refusals"]["no_object"] = refusal(ops.take_mute, take="A", object="Missing")
    bpy.ops.object.empty_add()
    out["refusals"]["not_a_mesh"] = refusal(ops.take_delete, take="A")
    bpy.context.view_layer.objects.active = head
    out["unchanged"] = state(head) == before
    return out


@scenario
def delete():
    head = bpy.data.objects["Head"]  # B and C play, A is muted
    kept = {"Smile": digest(head, ["Smile"]), "A": digest(head, keys_named(head, "A")),
            "C": digest(head, keys_named(head, "C"))}
    b_keys = keys_named(head, "B")
    bpy.ops.mesh.primitive_cube_add()  # the head is named, not active
    bpy.ops.diffusiontalker.take_delete(take="B", object="Head")
    bpy.context.view_layer.objects.active = head
    b_paths = {f'key_blocks["{name}"].value' for name in b_keys}
    return {"b_keys": len(b_keys), "b_left": keys_named(head, "B"),
            "b_curves_left": sorted(b_paths & set(active_curves(head))),
            "kept": {"Smile": digest(head, ["Smile"]) == kept["Smile"],
                     "A": digest(head, keys_named(head, "A")) == kept["A"],
                     "C": digest(head, keys_named(head, "C")) == kept["C"]},
            "names": [kb.name.split(".")[0] for kb in head.data.shape_keys.key_blocks],
            "listed": [t["name"] for t in listed(head)],
            "records": sorted(head.data.shape_keys[takes.RECORDS].keys()), "strips": strips()}


@scenario
def bake():
    head = bpy.data.objects["Head"]  # A muted, C playing
    c_keys = keys_named(head, "C")
    first, middle, last = sampled(head, "C")
    frames = [first - 1, first, middle, last, last + 5]
    smile = digest(head, ["Smile"])
    before = [shown(head, f) for f in frames]
    bpy.ops.diffusiontalker.take_bake(take="C")
    after = [shown(head, f) for f in frames]
    key = head.data.shape_keys
    action = bpy.data.actions.get("C")
    out = {"changed": max(float(np.abs(a - b).max()) for a, b in zip(before, after)),
           "motion": max(float(np.abs(b).max()) for b in before),
           "tracks": [(t.name, [(s.name, s.action.name) for s in t.strips]) for t in key.animation_data.nla_tracks],
           "action_curves": sorted(fc.data_path for fc in action_fcurves(
               action, getattr(key.animation_data.nla_tracks[0].strips[0], "action_slot", None))) if action else None,
           "c_paths": sorted(f'key_blocks["{name}"].value' for name in c_keys),
           "left_in_shared": sorted(p for p in active_curves(head) if p.startswith('key_blocks["C.')),
           "smile_in_shared": 'key_blocks["Smile"].value' in active_curves(head),
           "smile_kept": digest(head, ["Smile"]) == smile,
           "listed": listed(head), "again": refusal(bpy.ops.diffusiontalker.take_bake, take="C")}
    bpy.ops.diffusiontalker.take_solo(take="A")  # muting reaches a baked take
    out["solo_a"] = error(head, frames, *keys_named(head, "A"))

    generate("C", style="ben", seed=4, mode="BASIS", basis_count=5)  # a baked take made again
    out["remade"] = {"tracks": [t.name for t in key.animation_data.nla_tracks], "action": "C" in bpy.data.actions,
                     "alone": error(head, frames, *keys_named(head, "C")), "listed": listed(head)}

    bpy.ops.diffusiontalker.take_bake(take="C")
    bpy.ops.diffusiontalker.take_delete(take="C")
    out["deleted"] = {"tracks": [t.name for t in key.animation_data.nla_tracks], "action": "C" in bpy.data.actions,
                      "keys": keys_named(head, "C"), "listed": [t["name"] for t in listed(head)],
                      "smile_kept": digest(head, ["Smile"]) == smile}
    return out


@scenario
def layering():
    head = new_head()
    generate("X", seed=1, mode="BASIS", basis_count=4)
    generate("Y", seed=2, mode="BASIS", basis_count=4, mute_other_takes=False)
    frames = sampled(head, "Y")
    both = error(head, frames, *keys_named(head, "X"), *keys_named(head, "Y"))
    bpy.context.scene.diffusiontalker.mute_other_takes = False  # the panel's setting, for every take
    generate("Z", seed=3, mode="PER_FRAME")
    layered = {t["name"]: t["muted"] for t in listed(head)}
    generate("W", seed=4, mode="BASIS", basis_count=4, mute_other_takes=True)
    return {"both": both, "x_size": size(head, frames, keys_named(head, "X")), "layered": layered,
            "last": {t["name"]: t["muted"] for t in listed(head)}}


@scenario
def lines_laid_side_by_side():
    """Two lines of one performance, layered: each rests outside its own frames, in both
    writing modes, and the scene's range holds both."""
    head = new_head()
    out = {}
    for mode in ("BASIS", "PER_FRAME"):
        for take, start in (("Line1", 1), ("Line2", 100)):
            bpy.ops.diffusiontalker.generate(audio=CLIP, take=take, start_frame=start, device="cpu", seed=start,
                                             mode=mode, basis_count=4, mute_other_takes=False)
        ends = {t: sampled(head, t)[2] for t in ("Line1", "Line2")}
        outside = {"Line1": [ends["Line1"] + 1, ends["Line1"] + 20, 99, 150 + ends["Line2"]],
                   "Line2": [-5, 1, ends["Line1"], 99, ends["Line2"] + 1, 150 + ends["Line2"]]}
        out[mode] = {"range": [bpy.context.scene.frame_start, bpy.context.scene.frame_end], "end": ends["Line2"],
                     "moves": min(float(np.abs(share(head, keys_named(head, t), sampled(head, t)[1])).max())
                                  for t in outside),
                     "outside": max(float(np.abs(share(head, keys_named(head, t), f)).max())
                                    for t, frames in outside.items() for f in frames)}
    return out


@scenario
def shot_range_kept():
    """A shot with a range of its own: a take there with Fit Frame Range off leaves the
    range alone; on (the default), the range becomes the take's."""
    head = new_head()
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 500
    bpy.ops.diffusiontalker.generate(audio=CLIP, take="Shot", start_frame=200, device="cpu", fit_frame_range=False)
    kept = [scene.frame_start, scene.frame_end]
    bpy.ops.diffusiontalker.generate(audio=CLIP, take="Shot", start_frame=200, device="cpu")
    return {"kept": kept, "fitted": [scene.frame_start, scene.frame_end], "end": sampled(head, "Shot")[2]}


@scenario
def standing_head():
    """The FLAME head as FLAME ships it, then stood up Z-up in centimetres with the
    transform applied to its mesh and keys, as an importer or a modeller leaves it: the
    take moves the second as the first, turned and sized with it."""
    turn = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # row vectors: FLAME's y becomes Blender's z
    moves = {}
    for name, size in (("as_flame", None), ("standing_cm", 100.0)):
        head = new_head()
        if size:
            head.data.transform(Matrix([[*(size * turn[:, i]), 0] for i in range(3)] + [[0, 0, 0, 1]]),
                                shape_keys=True)
        generate("T", seed=1, mode="PER_FRAME")
        moves[name] = np.stack([share(head, keys_named(head, "T"), f) for f in sampled(head, "T")])
    turned = 100.0 * moves["as_flame"] @ turn
    return {"moves_mm": float(1000 * np.abs(moves["as_flame"]).max()),
            "error_share": float(np.abs(moves["standing_cm"] - turned).max() / np.abs(turned).max()),
            "report": bpy.context.scene.diffusiontalker.last_report}


run_all(scenarios, {"audio": bpy.app.build_options.audaspace}, OUT)  # PyPI's bpy 4.2 lacks audio: no sound strips
