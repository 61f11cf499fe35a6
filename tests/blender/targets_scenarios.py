"""Blender-side half of tests/test_blender_targets.py; run in a fresh Python.

usage: python targets_scenarios.py EXTENSION_ZIP FLAME_PLY SPEECH_WAV WORK_DIR OUT_JSON
(BLENDER_USER_RESOURCES must already point at an empty folder.) Installs the built
extension, fits a remeshed head and drives an ARKit-keyed head with the bundled model
on a second of speech through ``bpy.ops`` as a batch script would, and records what
happened as JSON for the pytest side to judge.
"""

import hashlib
import os
import sys
import time
from pathlib import Path

import bpy
import numpy as np

ZIP, PLY, WAV, WORK, OUT = sys.argv[1:6]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from heads import arkit_keys, box, flame, lower_row, remeshed  # noqa: E402

from diffusiontalker.binding import CHIN  # noqa: E402 - the vertex a separate lower row follows
from harness import (active_curves as curves, coordinates, refusal, run_all,  # noqa: E402 - beside this script
                     short_clip, shown)

bpy.ops.extensions.package_install_files(filepath=ZIP, repo="user_default", enable_on_install=True)
STORED = "diffusiontalker_registration"
scenarios = []


def scenario(fn):
    scenarios.append(fn)
    return fn


CLIP = short_clip(WAV, WORK)


def head_object(name, vertices, faces, user_key=True):
    """A head with the user's own animated shape key 'Mine', which no take may touch."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(np.asarray(vertices).tolist(), [], [list(f) for f in faces])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    obj.shape_key_add(name="Basis", from_mix=False)
    if user_key:
        mine = obj.shape_key_add(name="Mine", from_mix=False)
        co = coordinates(mine)
        mine.data.foreach_set("co", (co + 0.002).ravel())
        for frame, value in ((1, 0.3), (15, 0.8)):
            mine.value = value
            mine.keyframe_insert("value", frame=frame)
    return obj


def digest(obj, names) -> str:
    """The named keys' coordinates and keyframes, hashed: equal means untouched."""
    h = hashlib.sha256()
    for name in names:
        h.update(coordinates(obj.data.shape_keys.key_blocks[name]).tobytes())
        curve = curves(obj).get(f'key_blocks["{name}"].value')
        if curve is not None:
            h.update(np.array([k.co[:] for k in curve.keyframe_points]).tobytes())
    return h.hexdigest()


@scenario
def remeshed_head():
    bpy.ops.wm.read_homefile(use_empty=True)
    mesh, _, template = flame(Path(PLY).parent)
    vertices, faces = remeshed(mesh.vertices, mesh.faces)
    standing = vertices[:, [0, 2, 1]] * [1.0, -1.0, 1.0]  # FLAME's y-up, +z-facing head stood up in Blender
    head = head_object("Remeshed", standing, faces)
    head.vertex_groups.new(name="nose_tip").add([template.landmarks["nose_tip"]], 1.0, "REPLACE")  # kept its id
    mine = digest(head, ["Mine"])
    out = {"vertices": len(vertices),
           "unfitted": refusal(bpy.ops.diffusiontalker.generate, audio=CLIP, take="T", device="cpu", target="MESH")}
    start = time.perf_counter()
    bpy.ops.diffusiontalker.fit_head(template=PLY)
    out["fit_seconds"] = time.perf_counter() - start
    preview = bpy.data.objects.get("Remeshed FLAME Fit")
    out["preview"] = preview is not None and [len(preview.data.vertices), preview.display_type]
    bpy.ops.diffusiontalker.generate(audio=CLIP, take="T", device="cpu", target="MESH", mode="PER_FRAME")
    keys = [b.name for b in head.data.shape_keys.key_blocks if b.name.startswith("T.")]
    motion = np.stack([shown(head, f) for f in range(1, len(keys) + 1)]) - shown(head, 1000)[None]
    out.update(take_keys=len(keys), moved_mm=float(1000 * np.abs(motion).max()),
               lower_third_moves_mm=float(1000 * np.abs(motion[:, standing[:, 2] < standing[:, 2].min() + 0.03]).max()),
               mine_kept=digest(head, ["Mine"]) == mine, stored=STORED in head.data)
    path = os.path.join(WORK, "fitted.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    again = bpy.data.objects["Remeshed"]
    out["stored_after_reload"] = STORED in again.data
    bpy.context.view_layer.objects.active = again
    bpy.ops.diffusiontalker.generate(audio=CLIP, take="T2", device="cpu", target="MESH", mode="BASIS", basis_count=4)
    out["second_take_keys"] = sum(b.name.startswith("T2.") for b in again.data.shape_keys.key_blocks)
    # Lower teeth apart: they move as the head's vertex that began as FLAME's chin (slid a little)
    corners, tris = lower_row(template, [1.3, 1.0, 1.0], width=0.05)
    teeth = bpy.data.objects.new("Teeth", bpy.data.meshes.new("Teeth"))
    teeth.data.from_pydata((corners[:, [0, 2, 1]] * [1.0, -1.0, 1.0]).tolist(), [], tris)
    bpy.context.scene.collection.objects.link(teeth)
    bpy.ops.diffusiontalker.generate(audio=CLIP, take="T3", device="cpu", target="MESH", lower_teeth="Teeth")
    frames = range(1, 1 + int(round(1.2 * bpy.context.scene.render.fps)))
    chin = np.stack([shown(again, f)[CHIN] for f in frames])
    moved = np.stack([shown(teeth, f).mean(0) for f in frames])
    out.update(teeth_chin_mm=[float(1000 * np.abs(a).max()) for a in (chin, moved)],
               teeth_chin_r=float(np.corrcoef(chin[:, 2], moved[:, 2])[0, 1]))
    return out


def arkit_rig():
    """A FLAME head in a new scene with ARKit-named shape keys, and the user's own 'Mine'."""
    bpy.ops.wm.read_homefile(use_empty=True)
    mesh, masks, _ = flame(Path(PLY).parent)
    head = head_object("Rig", mesh.vertices, mesh.faces)
    basis = coordinates(head.data.shape_keys.reference_key)
    for name, delta in arkit_keys(mesh.vertices, mesh.faces, masks).items():
        head.shape_key_add(name=name, from_mix=False).data.foreach_set("co", (basis + delta).ravel())
    return head


@scenario
def arkit_head():
    head = arkit_rig()
    pucker = head.data.shape_keys.key_blocks["mouthPucker"]
    pucker.value = 0.5
    pucker.keyframe_insert("value", frame=5)  # the user animates it already: it must stay theirs
    kept = digest(head, ["Mine", "mouthPucker"])
    names_before = [b.name for b in head.data.shape_keys.key_blocks]
    # Ready Player Me's way: the teeth are their own mesh with keys named like the head's
    teeth = bpy.data.objects.new("Teeth", bpy.data.meshes.new("Teeth"))
    teeth.data.from_pydata(box(np.zeros(3), [0.04, 0.008, 0.012])[0].tolist(), [], box(np.zeros(3), [1, 1, 1])[1])
    bpy.context.scene.collection.objects.link(teeth)
    teeth.shape_key_add(name="Basis", from_mix=False)
    no_keys = refusal(bpy.ops.diffusiontalker.generate, audio=CLIP, take="R", device="cpu", target="SHAPE_KEYS",
                      lower_teeth="Teeth")
    for name in ("Jaw_Open", "mouthClose", "tongueOut"):
        teeth.shape_key_add(name=name, from_mix=False)
    bpy.ops.diffusiontalker.generate(audio=CLIP, take="R", device="cpu", target="SHAPE_KEYS", lower_teeth="Teeth")
    teeth_keyed = keyed(teeth)
    out = {"teeth_no_keys": no_keys, "teeth_keyed": teeth_keyed,
           "names_unchanged": [b.name for b in head.data.shape_keys.key_blocks] == names_before,
           "kept": digest(head, ["Mine", "mouthPucker"]) == kept, "keyed": keyed(head),
           "report": bpy.context.scene.diffusiontalker.last_report}
    # Another take on the same rig replaces the first one's curves; here only jawOpen, at half strength.
    bpy.ops.diffusiontalker.generate(audio=CLIP, take="R", device="cpu", target="SHAPE_KEYS", rig_keys="jawOpen")
    full = keyed(head)["jawOpen"]
    bpy.ops.diffusiontalker.generate(audio=CLIP, take="R", device="cpu", target="SHAPE_KEYS", rig_keys="jawOpen*0.5")
    out.update(again=keyed(head), full_jaw=full, kept_again=digest(head, ["Mine", "mouthPucker"]) == kept,
               teeth_again=keyed(teeth),  # rig takes without the teeth: the first one's curves there went too
               unknown=refusal(bpy.ops.diffusiontalker.generate, audio=CLIP, take="R", device="cpu",
                               target="SHAPE_KEYS", rig_keys="jawOpen, cheekPuff"),
               busy=refusal(bpy.ops.diffusiontalker.generate, audio=CLIP, take="R", device="cpu",
                            target="SHAPE_KEYS", rig_keys="mouthPucker"))
    return out


@scenario
def rig_keys_as_blender_shows_them():
    """The same ARKit rig twice: as arkit_head builds it, and with every key relative to a
    resting "Neutral" key and jawOpen's stray sculpting elsewhere hidden by its vertex
    group. Blender shows the same face for the same weights, so a take keys the same."""
    weights = {}
    for variant in ("plain", "neutral_and_group"):
        bpy.ops.wm.read_homefile(use_empty=True)
        mesh, masks, _ = flame(Path(PLY).parent)
        head = head_object("Rig", mesh.vertices, mesh.faces, user_key=False)
        base = coordinates(head.data.shape_keys.reference_key)
        relative = None
        if variant != "plain":
            relative = head.shape_key_add(name="Neutral", from_mix=False)
            base = base + np.float32(0.003) * np.sign(base)
            relative.data.foreach_set("co", base.ravel())
        for name, delta in arkit_keys(mesh.vertices, mesh.faces, masks).items():
            block = head.shape_key_add(name=name, from_mix=False)
            co = base + delta
            if relative is not None:
                block.relative_key = relative
                if name == "jawOpen":
                    moved = np.abs(delta).max(axis=1) > 0
                    co[~moved] += 0.01  # sculpted by mistake, hidden by the group
                    hidden = int((~moved).sum())
                    head.vertex_groups.new(name="jaw").add(np.flatnonzero(moved).tolist(), 1.0, "REPLACE")
                    block.vertex_group = "jaw"
            block.data.foreach_set("co", co.ravel())
        bpy.ops.diffusiontalker.generate(audio=CLIP, take="R", device="cpu", target="SHAPE_KEYS", seed=3)
        weights[variant] = {p.split('"')[1]: [k.co[1] for k in fc.keyframe_points] for p, fc in curves(head).items()}
    plain, other = weights["plain"], weights["neutral_and_group"]
    return {"same_keys": sorted(plain) == sorted(other), "jaw_peak": max(plain["jawOpen"]), "hidden": hidden,
            "largest_difference": max(float(np.abs(np.subtract(plain[k], other[k])).max()) for k in plain)}


@scenario
def lower_teeth_follow_the_chin():
    """A FLAME head with its lower teeth as their own object, modelled in centimetres and
    turned a quarter about Z (its vertices turned back, so it sits in the mouth): they
    get the take as three keys and move in the world as FLAME's chin does."""
    from mathutils import Matrix

    bpy.ops.wm.read_homefile(use_empty=True)
    mesh, _, template = flame(Path(PLY).parent)
    head = head_object("Head", mesh.vertices, mesh.faces, user_key=False)
    corners, tris = lower_row(template)
    turn = Matrix.Rotation(np.pi / 2, 4, "Z") @ Matrix.Scale(0.01, 4)
    local = corners @ np.linalg.inv(np.array(turn.to_3x3())).T  # in the object's own units and turn
    teeth = bpy.data.objects.new("Teeth", bpy.data.meshes.new("Teeth"))
    teeth.data.from_pydata(local.tolist(), [], tris)
    bpy.context.scene.collection.objects.link(teeth)
    teeth.matrix_world = turn
    bpy.context.view_layer.objects.active = head
    out = {"missing": refusal(bpy.ops.diffusiontalker.generate, audio=CLIP, take="T", device="cpu",
                              lower_teeth="Nope"),
           "itself": refusal(bpy.ops.diffusiontalker.generate, audio=CLIP, take="T", device="cpu",
                             lower_teeth="Head"),
           "untouched": teeth.data.shape_keys is None and head.data.shape_keys.key_blocks.keys() == ["Basis"]}
    twin = head.copy()  # Alt+D: the head's own mesh under another name
    empty = bpy.data.objects.new("Empty Teeth", bpy.data.meshes.new("Empty Teeth"))  # e.g. made by a modifier
    far = bpy.data.objects.new("Far Teeth", teeth.data.copy())  # another character's
    far.matrix_world = Matrix.Translation((2.0, 0.0, 0.0)) @ turn
    for obj in (twin, empty, far):
        bpy.context.scene.collection.objects.link(obj)
    for name, obj in (("twin", twin), ("empty", empty), ("far", far)):
        out[name] = refusal(bpy.ops.diffusiontalker.generate, audio=CLIP, take="T", device="cpu",
                            lower_teeth=obj.name)
    out["still_untouched"] = head.data.shape_keys.key_blocks.keys() == ["Basis"]
    bpy.ops.diffusiontalker.generate(audio=CLIP, take="T", device="cpu", lower_teeth="Teeth")
    out["teeth_keys"] = [b.name for b in teeth.data.shape_keys.key_blocks]
    frames = range(1, 1 + int(round(1.2 * bpy.context.scene.render.fps)))
    to_world = [np.array(o.matrix_world.to_3x3()) for o in (head, teeth)]
    chin = np.stack([shown(head, f)[CHIN] @ to_world[0].T for f in frames])
    moved = np.stack([shown(teeth, f) @ to_world[1].T for f in frames])
    out.update(chin_mm=float(1000 * np.abs(chin).max()),
               apart_mm=float(1000 * np.abs(moved - chin[:, None]).max()),
               rigid_mm=float(1000 * np.ptp(moved, axis=1).max()))

    # The teeth's take goes with the head's: silenced by a new take, soloed, deleted, remade without them
    def teeth_state():
        blocks = [b for b in teeth.data.shape_keys.key_blocks if b.name.startswith("T.")]
        return "gone" if not blocks else "muted" if all(b.mute for b in blocks) else "playing"

    editor = bpy.context.scene.sequence_editor
    strip = lambda: editor and (editor.strips if hasattr(editor, "strips") else editor.sequences).get("T.audio")  # noqa: E731
    bpy.ops.diffusiontalker.generate(audio=CLIP, take="U", device="cpu")
    out["after_new_take"] = teeth_state()
    bpy.ops.diffusiontalker.take_solo(take="T", object="Head")
    out["after_solo"] = teeth_state()
    bpy.ops.diffusiontalker.take_mute(take="T", object="Teeth")
    out["teeth_muted_alone"] = [teeth_state(), bool(strip() and strip().mute)]
    bpy.ops.diffusiontalker.take_delete(take="T", object="Head")
    out["after_delete"] = teeth_state()
    bpy.ops.diffusiontalker.generate(audio=CLIP, take="T", device="cpu", lower_teeth="Teeth")
    bpy.ops.diffusiontalker.generate(audio=CLIP, take="T", device="cpu", lower_teeth="")
    out["after_remade_without"] = teeth_state()
    return out


def keyed(head) -> dict:
    """key name -> [keyframe count, lowest, highest value] of its curve."""
    values = {path: [k.co[1] for k in fc.keyframe_points] for path, fc in curves(head).items()}
    return {p.split('"')[1]: [len(v), min(v), max(v)] for p, v in values.items()}


@scenario
def arkit_dialogue():
    """Selected Strips on a shape-key rig: every line keyed on the rig's own curves where
    its strip plays, at rest around and between them (a rig holds one set of curves)."""
    if not bpy.app.build_options.audaspace:  # PyPI's bpy 4.2: no sound strips
        return {}
    head = arkit_rig()
    scene = bpy.context.scene
    editor = scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    for channel, (name, start) in enumerate((("LineA", 10), ("LineB", 200)), 1):
        strips.new_sound(name, CLIP, channel, start)
    for strip in strips:
        strip.select = True
    error = refusal(bpy.ops.diffusiontalker.generate, audio_source="SELECTED", device="cpu", target="SHAPE_KEYS",
                    rig_keys="jawOpen")
    jaw = curves(head)['key_blocks["jawOpen"].value']
    ends = {s.name: (s.frame_final_start, s.frame_final_end) for s in strips}
    from bl_ext.user_default.diffusiontalker.diffusiontalker_addon.inputs import take_timeline

    return {"error": error, "ends": ends, "report": scene.diffusiontalker.last_report,
            "frames": take_timeline(CLIP, scene, "").scene_frames,  # each take's, as the add-on works it out
            "at": {frame: jaw.evaluate(frame) for frame in range(0, 300)}}


@scenario
def refusals():
    bpy.ops.wm.read_homefile(use_empty=True)
    mesh, _, _ = flame(Path(PLY).parent)
    head = head_object("Plain", mesh.vertices, mesh.faces)
    mine = digest(head, ["Mine"])
    bpy.ops.object.empty_add()
    out = {"not_a_mesh": refusal(bpy.ops.diffusiontalker.fit_head, template=PLY)}
    bpy.context.view_layer.objects.active = head
    out["bad_landmark"] = refusal(bpy.ops.diffusiontalker.fit_head, template=PLY, landmarks="chin=3")
    out["twice"] = refusal(bpy.ops.diffusiontalker.fit_head, template=PLY, landmarks="nose_tip=5, nose_tip=6")
    group = head.vertex_groups.new(name="mouth_left")
    out["empty_group"] = refusal(bpy.ops.diffusiontalker.fit_head, template=PLY)
    head.vertex_groups.remove(group)
    out["no_template"] = refusal(bpy.ops.diffusiontalker.fit_head, template=os.path.join(WORK, "none.ply"))
    out["no_rig"] = refusal(bpy.ops.diffusiontalker.generate, audio=CLIP, take="X", device="cpu", target="SHAPE_KEYS")
    out["unchanged"] = (digest(head, ["Mine"]) == mine and STORED not in head.data
                        and [b.name for b in head.data.shape_keys.key_blocks] == ["Basis", "Mine"])
    return out


run_all(scenarios, {"audio": bpy.app.build_options.audaspace}, OUT)
