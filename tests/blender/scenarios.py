"""Blender-side half of tests/test_blender_extension.py; run in a fresh Python.

usage: python scenarios.py EXTENSION_ZIP FLAME_PLY SPEECH_WAV WORK_DIR OUT_JSON
(BLENDER_USER_RESOURCES must already point at an empty folder: it is read when
bpy is imported.) It installs the built extension the way a user does, drives it
through ``bpy.ops`` like a batch script, and records what it observes as JSON;
the pytest side makes the assertions, so a failure there names the fact.
"""

import hashlib
import json
import os
import sys
import traceback
import warnings
from types import SimpleNamespace

import bpy
import numpy as np
from harness import refusal  # beside this script

ZIP, PLY, WAV, WORK, OUT = sys.argv[1:6]
observed: dict = {}


def record(name):
    """Run one scenario; an exception becomes an observation instead of ending the run."""
    def wrap(fn):
        try:
            observed[name] = fn()
        except Exception:  # noqa: BLE001
            observed[name] = {"crash": traceback.format_exc()}
        return fn
    return wrap


def error_of(**kwargs) -> str | None:
    """The operator's error report (bpy.ops raises on ERROR reports), or None if it succeeded."""
    try:
        bpy.ops.diffusiontalker.generate(**kwargs)
    except RuntimeError as exc:
        return str(exc)
    return None


def load_head(name="Head"):
    bpy.ops.wm.ply_import(filepath=PLY)
    obj = bpy.context.active_object
    obj.name = name
    return obj


def mesh_fingerprint(obj) -> str:
    """Hash of every shape key's name, coordinates, value and curve: "nothing changed" made checkable."""
    digest = hashlib.sha256()
    co = np.empty(len(obj.data.vertices) * 3, dtype=np.float32)
    obj.data.vertices.foreach_get("co", co)
    digest.update(co.tobytes())
    keys = obj.data.shape_keys
    for kb in keys.key_blocks if keys else []:
        kb.data.foreach_get("co", co)
        digest.update(kb.name.encode() + co.tobytes() + np.float32(kb.value).tobytes())
    anim = keys.animation_data if keys else None
    if anim and anim.action:
        for fc in _fcurves(keys):
            pts = np.empty(len(fc.keyframe_points) * 2, dtype=np.float32)
            fc.keyframe_points.foreach_get("co", pts)
            digest.update(fc.data_path.encode() + pts.tobytes())
    return digest.hexdigest()


def _fcurves(key):
    anim = key.animation_data
    if anim is None or anim.action is None:
        return []
    if hasattr(anim, "action_slot"):  # 4.4+: the curves live in the slot's channelbag
        from bpy_extras.anim_utils import action_get_channelbag_for_slot

        bag = action_get_channelbag_for_slot(anim.action, anim.action_slot)
        return list(bag.fcurves) if bag else []
    return list(anim.action.fcurves)


def curves_by_key(obj) -> dict:
    out = {}
    for fc in _fcurves(obj.data.shape_keys):
        pts = np.empty(len(fc.keyframe_points) * 2, dtype=np.float32)
        fc.keyframe_points.foreach_get("co", pts)
        name = fc.data_path.split('"')[1]
        out[name] = pts.reshape(-1, 2).tolist()
    return out


def evaluated_offsets(obj, frame: int) -> np.ndarray:
    """What the user sees at ``frame`` minus the basis and minus their own animated Smile."""
    bpy.context.scene.frame_set(frame)
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    co = np.empty(len(obj.data.vertices) * 3, dtype=np.float32)
    evaluated.data.vertices.foreach_get("co", co)
    basis = np.empty_like(co)
    obj.data.shape_keys.reference_key.data.foreach_get("co", basis)
    smile = obj.data.shape_keys.key_blocks.get("Smile")
    user = SMILE_OFFSET * smile.value if smile else 0.0
    return (co - basis - user).reshape(-1, 3)


def sound_strips(scene) -> dict:
    editor = scene.sequence_editor
    if editor is None:
        return {}
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    return {s.name: {"frame_start": s.frame_start, "channel": s.channel, "type": s.type,
                     "file": os.path.normpath(bpy.path.abspath(s.sound.filepath)) if s.type == "SOUND" else None}
            for s in strips}


@record("install")
def _install():
    bpy.ops.extensions.package_install_files(filepath=ZIP, repo="user_default", enable_on_install=True)
    return {"enabled": [name for name in bpy.context.preferences.addons.keys() if name.endswith(".diffusiontalker")],
            "operator": hasattr(bpy.types, "DIFFUSIONTALKER_OT_generate"),
            "panel": hasattr(bpy.types, "DIFFUSIONTALKER_PT_lip_sync"),
            "version": list(bpy.app.version), "audio": bpy.app.build_options.audaspace}


ext = sys.modules.get("bl_ext.user_default.diffusiontalker")


@record("main_thread")
def _main_thread():
    """All that Blender's main thread does before a job starts (enabling, the style search,
    gathering a generation's inputs and checks) must not import torch: that alone takes
    seconds, and the interface would freeze on it."""
    before = "torch" in sys.modules
    bpy.ops.wm.read_homefile(use_empty=True)
    head = load_head()
    settings = bpy.context.scene.diffusiontalker
    settings.audio, settings.take = WAV, "Probe"
    search = ext.diffusiontalker_addon.props._style_search(None, bpy.context, "")
    plan, request = ext.diffusiontalker_addon.inputs.prepare(None, bpy.context)
    bpy.ops.mesh.primitive_cube_add()
    try:
        ext.diffusiontalker_addon.inputs.prepare(None, bpy.context)
        wrong = None
    except Exception as exc:  # noqa: BLE001 - the message is the observation
        wrong = str(exc)
    return {"torch_before": before, "torch_after": "torch" in sys.modules, "search": search,
            "build": ext.diffusiontalker_addon.dependencies.torch_build(),
            "request_audio": request.audio == WAV and plan.object == head.name, "wrong_head": wrong}


def resample_fps(*args):
    from bl_ext.user_default.diffusiontalker.core.timing import resample_fps as resample

    return resample(*args)


def moving_checkpoint() -> str:
    """A checkpoint that certainly moves the face, so that "Blender shows the model's motion"
    cannot pass vacuously: the bundled one, with any weights still at their zero
    initialisation (an untrained model outputs exactly the neutral face) filled with
    seeded noise. For the trained demo checkpoint nothing is zero and this is a copy."""
    import torch
    from bl_ext.user_default.diffusiontalker.core.checkpoint import load_checkpoint, save_checkpoint

    model, doc = load_checkpoint(None)
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.abs().max():
                parameter.normal_(0.0, 0.5)
    return str(save_checkpoint(os.path.join(WORK, "moving"), model, {"trained_on": "nothing (test noise)"}))


ext_prefs = bpy.context.preferences.addons["bl_ext.user_default.diffusiontalker"].preferences
MOVING = moving_checkpoint()
ext_prefs.checkpoint = MOVING


@record("bad_input")
def _bad_input():
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.active_object
    before = mesh_fingerprint(cube)
    wrong_mesh = error_of(audio=WAV)
    after_wrong = mesh_fingerprint(cube)
    head = load_head()
    before_head = mesh_fingerprint(head)
    missing_audio = error_of(audio=os.path.join(WORK, "nope.wav"))
    no_audio = error_of(audio="")
    bpy.ops.object.empty_add()
    not_mesh = error_of(audio=WAV)
    bpy.context.view_layer.objects.active = head
    ext_prefs.checkpoint = os.path.join(WORK, "missing.json")
    missing_checkpoint = error_of(audio=WAV)
    ext_prefs.checkpoint = MOVING
    return {"wrong_mesh": wrong_mesh, "cube_unchanged": before == after_wrong,
            "cube_has_keys": cube.data.shape_keys is not None,
            "missing_audio": missing_audio, "no_audio": no_audio, "not_mesh": not_mesh,
            "missing_checkpoint": missing_checkpoint, "head_unchanged": before_head == mesh_fingerprint(head)}


@record("last_result")
def _last_result():
    """The panel's result box shows the latest attempt: a failure never leaves an older success there."""
    bpy.ops.wm.read_homefile(use_empty=True)
    load_head()
    settings = bpy.context.scene.diffusiontalker
    made = error_of(audio=WAV, take="Good", mode="BASIS", basis_count=4, device="cpu")
    good = [settings.last_take, settings.last_failed, settings.last_report]
    refused = error_of(audio=os.path.join(WORK, "nope.wav"), take="Bad")
    return {"made": made, "good": good, "refused": refused,
            "after": [settings.last_take, settings.last_failed, settings.last_report]}


SMILE_OFFSET = 0.003


def head_with_user_animation():
    """A head carrying the user's own animated shape key, which generation must never touch."""
    bpy.ops.wm.read_homefile(use_empty=True)
    head = load_head()
    head.shape_key_add(name="Basis", from_mix=False)
    smile = head.shape_key_add(name="Smile", from_mix=False)
    co = np.empty(len(head.data.vertices) * 3, dtype=np.float32)
    smile.data.foreach_get("co", co)
    smile.data.foreach_set("co", co + SMILE_OFFSET)
    smile.value = 0.25
    smile.keyframe_insert("value", frame=1)
    smile.value = 0.75
    smile.keyframe_insert("value", frame=40)
    bpy.context.scene.frame_set(1)  # let the animation set Smile's value, as Blender shows it
    return head


def user_state(head):
    bpy.context.scene.frame_set(1)
    smile = head.data.shape_keys.key_blocks["Smile"]
    co = np.empty(len(head.data.vertices) * 3, dtype=np.float32)
    smile.data.foreach_get("co", co)
    basis = np.empty_like(co)
    head.data.shape_keys.reference_key.data.foreach_get("co", basis)
    return {"smile_co": hashlib.sha256(co.tobytes()).hexdigest(), "smile_value": smile.value,
            "smile_curve": curves_by_key(head).get("Smile"),
            "basis": hashlib.sha256(basis.tobytes()).hexdigest()}


def model_take(seed, style="auto", **settings):
    """The same take straight from the core library, to compare what Blender shows against."""
    gen = ext.diffusiontalker_addon.worker.load_generator(MOVING, "cpu")
    take = gen.generate(WAV, style=style, seed=seed, steps=None, **settings)
    return gen, take


@record("per_frame")
def _per_frame():
    head = head_with_user_animation()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0  # differs from the model: exercises resampling
    before = user_state(head)
    bpy.ops.diffusiontalker.generate(audio=WAV, seed=3, mode="PER_FRAME", take="TakeA", start_frame=10, device="cpu")
    after = user_state(head)
    gen, take = model_take(3)
    expected = resample_fps(take.offsets, take.fps, 24.0)
    names = [kb.name for kb in head.data.shape_keys.key_blocks]
    curves = curves_by_key(head)
    shown = {f: float(np.abs(evaluated_offsets(head, 10 + f) - expected[f]).max())
             for f in (0, len(expected) // 2, len(expected) - 1)}
    bpy.context.scene.frame_set(1)
    smile_at_1 = head.data.shape_keys.key_blocks["Smile"].value
    return {"names": names, "expected_frames": len(expected), "model_fps": take.fps,
            "curves": {n: curves[n] for n in (f"TakeA.{0:05d}", f"TakeA.{len(expected) - 1:05d}") if n in curves},
            "curve_count": sum(n.startswith("TakeA.") for n in curves),
            "frame_range": [scene.frame_start, scene.frame_end], "strips": sound_strips(scene),
            "user_before": before, "user_after": after, "shown_error": shown, "smile_at_1": smile_at_1,
            "last_take": scene.diffusiontalker.last_take, "last_report": scene.diffusiontalker.last_report,
            "model_steps": take.steps, "steps_defaults": [
                bpy.ops.diffusiontalker.generate.get_rna_type().properties["steps"].default,
                type(scene.diffusiontalker).bl_rna.properties["steps"].default]}


@record("basis_and_takes")
def _basis_and_takes():
    head = bpy.data.objects["Head"]  # continues from per_frame: TakeA exists as per-frame keys
    scene = bpy.context.scene
    before = user_state(head)
    bpy.ops.diffusiontalker.generate(audio=WAV, seed=3, mode="BASIS", basis_count=12, take="TakeA",
                                     start_frame=10, device="cpu")
    replaced = [kb.name for kb in head.data.shape_keys.key_blocks]
    take_a_curves = {n: c for n, c in curves_by_key(head).items() if n.startswith("TakeA.")}
    gen, take = model_take(3)
    expected = resample_fps(take.offsets, take.fps, 24.0)
    shown = max(float(np.abs(evaluated_offsets(head, 10 + f) - expected[f]).max())
                for f in (0, len(expected) // 3, len(expected) - 1))
    fingerprint_a = {n: c for n, c in curves_by_key(head).items() if n.startswith("TakeA.")}
    bpy.ops.diffusiontalker.generate(audio=WAV, seed=4, mode="BASIS", basis_count=6, take="TakeB",
                                     start_frame=100, device="cpu")
    after_b = {n: c for n, c in curves_by_key(head).items() if n.startswith("TakeA.")}
    return {"names": replaced, "curve_frames": {n: [p[0] for p in c] for n, c in take_a_curves.items()},
            "expected_frames": len(expected), "shown_error": shown, "motion": float(np.abs(expected).max()),
            "report": scene.diffusiontalker.last_report, "user_before": before, "user_after": user_state(head),
            "take_a_kept": fingerprint_a == after_b,
            "all_names": [kb.name for kb in head.data.shape_keys.key_blocks],
            "strips": sound_strips(scene), "frame_range": [scene.frame_start, scene.frame_end]}


class Reporter:
    """Stands in for the operator in apply_outcome, which only calls its report()."""

    def __init__(self):
        self.reports = []

    def report(self, kind, message):
        self.reports.append([sorted(kind), message])


def request_for(head, seed: int):
    return ext.diffusiontalker_addon.worker.Request(
        checkpoint=MOVING, identity_library="", device="cpu", audio=WAV, span=None, style="auto", seed=seed,
        variation=1.0, steps=8,
        mesh_vertices=len(head.data.vertices), mesh_label="Head")


@record("cancel")
def _cancel():
    head = bpy.data.objects["Head"]
    worker, operators, inputs = (ext.diffusiontalker_addon.worker, ext.diffusiontalker_addon.operators,
                                 ext.diffusiontalker_addon.inputs)
    before = mesh_fingerprint(head)
    request = request_for(head, seed=5)
    job = worker.generation_job([request])  # mid-run: Cancel pressed after the first denoising step
    statuses = []

    def progress(done, total, status):
        statuses.append(status)
        if done >= 1:
            job.cancel()

    outcome = job.run(progress)
    reporter = Reporter()
    plan = inputs.Plan(scene=bpy.context.scene.name, object="Head", take="TakeC", start_frame=1,
                       mode="BASIS", basis_count=4, seed=5, blend_style="", strip_path=WAV, add_strip=True)
    status = operators.apply_outcome(reporter, bpy.context, [plan], outcome)
    threaded = worker.generation_job([request])  # and on the worker thread, the interactive path
    threaded.start()
    threaded.cancel()
    threaded_outcome = threaded.wait(timeout=120)
    return {"error": type(outcome.error).__name__, "status": sorted(status), "reports": reporter.reports,
            "statuses": statuses,
            "unchanged": before == mesh_fingerprint(head),
            "threaded_error": type(threaded_outcome.error).__name__ if threaded_outcome else "timeout",
            "strips": sorted(sound_strips(bpy.context.scene))}


@record("threaded")
def _threaded():
    """The interactive path minus Blender's event loop (there is no window in background mode):
    a worker thread generates while the main thread polls, as the modal timer does."""
    import time

    head = head_with_user_animation()
    operators, worker, inputs, running = (ext.diffusiontalker_addon.operators, ext.diffusiontalker_addon.worker,
                                          ext.diffusiontalker_addon.inputs, ext.diffusiontalker_addon.running)
    runtime = bpy.context.window_manager.diffusiontalker
    job = worker.generation_job([request_for(head, seed=2)])
    job.start()
    seen, polls, outcome = [], 0, None
    while outcome is None and polls < 6000:
        outcome = running.poll_job(job, runtime)
        seen.append(round(runtime.progress, 3))
        polls += 1
        time.sleep(0.01)
    plan = inputs.Plan(scene=bpy.context.scene.name, object="Head", take="Live", start_frame=1,
                       mode="BASIS", basis_count=4, seed=2, blend_style="", strip_path=WAV, add_strip=True)
    status = operators.apply_outcome(Reporter(), bpy.context, [plan], outcome)
    return {"progress": sorted(set(seen)), "polls": polls, "status": runtime.status, "result": sorted(status),
            "keys": [kb.name for kb in head.data.shape_keys.key_blocks]}


@record("strip_source")
def _strip_source():
    bpy.ops.wm.read_homefile(use_empty=True)
    load_head()
    scene = bpy.context.scene
    editor = scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    strips.new_sound("Dialogue", WAV, 2, 50)
    bpy.ops.diffusiontalker.generate(audio_source="STRIP", sound_strip="Dialogue", mode="BASIS", basis_count=4,
                                     device="cpu")
    return {"frame_range": [scene.frame_start, scene.frame_end], "strips": sound_strips(scene)}


@record("identity_library")
def _identity_library():
    from bl_ext.user_default.diffusiontalker.core.library import save_library

    gen = ext.diffusiontalker_addon.worker.load_generator(MOVING, "cpu")
    embedding = gen.model.bank.embeddings[1].detach().cpu().numpy()[None] * 0.5
    library = os.path.join(WORK, "mine")
    save_library(library, ["My Voice"], embedding, gen.checkpoint_id(), {})
    ext_prefs.identity_library = library + ".json"
    search = ext.diffusiontalker_addon.props._style_search(None, bpy.context, "voice")
    error = error_of(audio=WAV, style="My Voice", mode="BASIS", basis_count=4, take="Mine", device="cpu")
    report = bpy.context.scene.diffusiontalker.last_report
    unknown = error_of(audio=WAV, style="Nobody", mode="BASIS", basis_count=4, take="Mine2", device="cpu")
    foreign = os.path.join(WORK, "foreign")  # made for another checkpoint (a fine-tune, an older demo)
    save_library(foreign, ["Old Voice"], embedding, "old.safetensors sha256:" + "0" * 64, {})
    ext_prefs.identity_library = foreign + ".json"
    trained_ok = error_of(audio=WAV, style=gen.model.bank.names[0], mode="BASIS", basis_count=4, take="Trained",
                          device="cpu")
    old_voice = error_of(audio=WAV, style="Old Voice", mode="BASIS", basis_count=4, take="Old", device="cpu")
    ext_prefs.identity_library = ""
    return {"search": search, "error": error, "report": report, "unknown": unknown, "trained_ok": trained_ok,
            "old_voice": old_voice}


def library_names(path) -> list:
    from bl_ext.user_default.diffusiontalker.core.library import load_library

    return load_library(path)[0]


def library_fingerprint(path) -> str:
    """Hash of both library files ("" while there is none): "the library did not change"."""
    from bl_ext.user_default.diffusiontalker.core.checkpoint import paths_of

    return "".join(hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "" for p in paths_of(path))


op_error = refusal  # a New Style operator's error, as Generate's below


def shown(obj, frame) -> np.ndarray:
    """Vertex positions Blender shows at ``frame``."""
    bpy.context.scene.frame_set(frame)
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    co = np.empty(len(obj.data.vertices) * 3, dtype=np.float32)
    evaluated.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


CLIP = {"directory": os.path.dirname(WAV), "files": [{"name": os.path.basename(WAV)}]}


@record("library_migration")
def _library_migration():
    """A library in the old default place (inside the extension, deleted with it) moves out once."""
    from bl_ext.user_default.diffusiontalker.core.checkpoint import paths_of

    styles = ext.diffusiontalker_addon.styles
    old = os.path.join(bpy.utils.extension_path_user("bl_ext.user_default.diffusiontalker", path="styles"),
                       "styles.json")
    ext_prefs.identity_library = old
    made = op_error(bpy.ops.diffusiontalker.style_from_audio, style_name="Old Voice", **CLIP)
    old_files = library_fingerprint(old)
    moved = styles.migrate_library(bpy.context)
    observed = {"made": made, "moved": moved, "default": styles.default_library(),
                "preference": ext_prefs.identity_library, "same_files": library_fingerprint(moved) == old_files,
                "names": library_names(moved), "again": styles.migrate_library(bpy.context)}
    ext_prefs.identity_library = "/elsewhere/mine.json"  # a library the user chose elsewhere is theirs: untouched
    for path in paths_of(moved):
        os.remove(path)
    observed["chosen_elsewhere"] = styles.migrate_library(bpy.context)
    observed["preference_kept"] = ext_prefs.identity_library == "/elsewhere/mine.json"
    ext_prefs.identity_library = ""
    # loaded as a plain add-on (a script importing the checkout): there is no old place to move from
    package, styles.prefs.ROOT_PACKAGE = styles.prefs.ROOT_PACKAGE, "diffusiontalker_checkout"
    try:
        observed["not_an_extension"] = [styles._old_default_library(), styles.migrate_library(bpy.context)]
    finally:
        styles.prefs.ROOT_PACKAGE = package
    return observed


@record("style_from_audio")
def _style_from_audio():
    head = head_with_user_animation()
    ext_prefs.identity_library = ""  # no library yet: the operator makes the default one
    trained = ext.diffusiontalker_addon.worker.load_generator(MOVING, "cpu").model.bank.names[0]
    new = bpy.ops.diffusiontalker.style_from_audio
    first = op_error(new, style_name="From Audio", **CLIP)
    library = ext_prefs.identity_library
    default = os.path.join(os.path.dirname(bpy.utils.resource_path("USER")), "diffusiontalker", "styles.json")
    extension_folder = bpy.utils.extension_path_user("bl_ext.user_default.diffusiontalker")
    search = ext.diffusiontalker_addon.props._style_search(None, bpy.context, "from")
    used = error_of(audio=WAV, style="From Audio", mode="BASIS", basis_count=4, take="Styled", device="cpu")
    report = bpy.context.scene.diffusiontalker.last_report
    second = op_error(new, style_name="Second Voice", **CLIP)  # the model is cached: it must see the new row
    used_second = error_of(audio=WAV, style="Second Voice", mode="BASIS", basis_count=4, take="Styled", device="cpu")
    report_second = bpy.context.scene.diffusiontalker.last_report
    before, mesh_before = library_fingerprint(library), mesh_fingerprint(head)
    bad = {"no_name": op_error(new, style_name="  ", **CLIP),
           "auto": op_error(new, style_name="Auto", **CLIP),
           "trained": op_error(new, style_name=trained, **CLIP),
           "no_files": op_error(new, style_name="Nothing", directory=os.path.dirname(WAV), files=[]),
           "missing": op_error(new, style_name="Missing", directory=WORK, files=[{"name": "nope.wav"}]),
           "taken": op_error(new, style_name="From Audio", **CLIP)}
    ext_prefs.identity_library = WORK  # a folder: the library's files would land beside it
    bad["folder"] = op_error(new, style_name="Beside", **CLIP)
    ext_prefs.identity_library = library
    unchanged = library_fingerprint(library) == before and mesh_fingerprint(head) == mesh_before
    import soundfile

    speech, rate = soundfile.read(WAV)
    soundfile.write(os.path.join(WORK, "backwards.wav"), speech[::-1], rate)  # another voice print
    replaced = op_error(new, style_name="From Audio", replace=True, directory=WORK, files=[{"name": "backwards.wav"}])
    changed = library_fingerprint(library) != before
    names = library_names(library)
    ext_prefs.identity_library = moved = os.path.join(WORK, "moved", "mine.json")  # chosen, then moved away
    started = op_error(new, style_name="Fresh", **CLIP)
    started = [started, library_names(moved)]
    ext_prefs.identity_library = ""
    return {"started": started, "first": first, "second": second, "library": library, "default": default, "names": names,
            "outside_extension": not os.path.abspath(library).startswith(os.path.abspath(extension_folder)),
            "search": search, "used": used, "report": report, "used_second": used_second,
            "report_second": report_second, "bad": bad, "trained": trained, "unchanged": unchanged,
            "replaced": replaced, "changed": changed, "names_after": library_names(library)}


@record("style_from_animation")
def _style_from_animation():
    head = head_with_user_animation()
    scene = bpy.context.scene
    scene.render.fps = 24  # differs from the model: the motion is resampled to it
    gen = ext.diffusiontalker_addon.worker.load_generator(MOVING, "cpu")
    style = gen.model.bank.names[1]
    bpy.ops.diffusiontalker.generate(audio=WAV, style=style, seed=1, mode="BASIS", basis_count=16, take="Source",
                                     start_frame=5, device="cpu")
    ext_prefs.identity_library = os.path.join(WORK, "fitted.json")  # a library to be made
    scene.diffusiontalker.audio, scene.diffusiontalker.start_frame = WAV, 5
    scene.frame_set(7)
    fit = bpy.ops.diffusiontalker.style_from_animation
    result = sorted(fit(style_name="Fitted", iterations=2))
    library = ext_prefs.identity_library
    doc = json.load(open(library))
    frame_after = scene.frame_current
    before, head_before = library_fingerprint(library), mesh_fingerprint(head)
    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.active_object
    cube_before = mesh_fingerprint(cube)
    wrong_mesh = op_error(fit, style_name="Cube Style", iterations=2)
    cube_unchanged = mesh_fingerprint(cube) == cube_before
    bpy.context.view_layer.objects.active = head
    scene.diffusiontalker.audio = ""
    no_audio = op_error(fit, style_name="Silent", iterations=2)
    scene.diffusiontalker.audio = WAV
    no_name = op_error(fit, style_name="", iterations=2)
    unchanged = library_fingerprint(library) == before and mesh_fingerprint(head) == head_before
    names = library_names(library)
    ext_prefs.identity_library = ""
    return {"result": result, "names": names, "source": doc["sources"].get("Fitted"), "frame_after": frame_after,
            "wrong_mesh": wrong_mesh, "cube_unchanged": cube_unchanged, "no_audio": no_audio, "no_name": no_name,
            "unchanged": unchanged, "frame_end": scene.frame_current}


@record("blend")
def _blend():
    head = head_with_user_animation()
    scene = bpy.context.scene
    scene.render.fps = 30
    gen = ext.diffusiontalker_addon.worker.load_generator(MOVING, "cpu")
    first, second = gen.model.bank.names[:2]
    settings = scene.diffusiontalker
    settings.blend_style = second
    frames = len(gen.generate(WAV, style=first, seed=6, steps=1).offsets)  # the take's length, cheaply
    settings.blend_weight = 0.0
    settings.keyframe_insert("blend_weight", frame=1)
    settings.blend_weight = 1.0
    settings.keyframe_insert("blend_weight", frame=frames)
    weights = []
    for f in range(1, frames + 1):  # what the user sees scrubbing the weight, frame by frame
        scene.frame_set(f)
        weights.append(settings.blend_weight)
    error = error_of(audio=WAV, style=first, seed=6, mode="PER_FRAME", take="Mix", start_frame=1, device="cpu")
    report = settings.last_report
    expected = gen.generate(WAV, style=first, seed=6, blend_style=second, blend=np.array(weights)).offsets
    unblended = gen.generate(WAV, style=first, seed=6).offsets
    checks = (0, frames // 2, frames - 1)
    shown_error = {f: float(np.abs(evaluated_offsets(head, 1 + f) - expected[f]).max()) for f in checks}
    head_before = mesh_fingerprint(head)
    unknown = error_of(audio=WAV, style=first, blend_style="Nobody", take="Mix", device="cpu")
    settings.blend_style = ""
    return {"error": error, "weights": [weights[0], weights[-1]], "shown_error": shown_error,
            "blend_effect": float(np.abs(expected[-1] - unblended[-1]).max()), "unknown": unknown,
            "unchanged": mesh_fingerprint(head) == head_before, "report": report, "first": first, "second": second,
            "animatable": settings.bl_rna.properties["blend_weight"].is_animatable}


@record("key_pose")
def _key_pose():
    head = head_with_user_animation()
    scene = bpy.context.scene
    scene.render.fps = 24  # a marked frame then lies between two model frames
    # variation 1: the seeds' full spread, so seed 2 moves the face at the mark unless it is kept
    bpy.ops.diffusiontalker.generate(audio=WAV, seed=1, mode="PER_FRAME", take="Posed", start_frame=1, device="cpu",
                                     variation=1.0)
    pose = head.shape_key_add(name="Jaw Open", from_mix=False)  # the user's sculpt, keyed around frame 30
    co = np.empty(len(head.data.vertices) * 3, dtype=np.float32)
    pose.data.foreach_get("co", co)
    co = co.reshape(-1, 3)
    co[:, 2] -= 0.01 * np.clip(0.02 - co[:, 1], 0, None) / 0.02  # the lower face drops by up to 1 cm
    pose.data.foreach_set("co", co.ravel())
    for frame, value in ((20, 0.0), (30, 1.0), (40, 0.0)):
        pose.value = value
        pose.keyframe_insert("value", frame=frame)
    scene.frame_set(30)
    marked = sorted(bpy.ops.diffusiontalker.mark_key_pose())
    again = sorted(bpy.ops.diffusiontalker.mark_key_pose())  # the same frame twice: one marker
    markers = [(m.name, m.frame) for m in scene.timeline_markers]
    wanted, elsewhere = shown(head, 30), shown(head, 50)
    scene.frame_set(12)
    error = error_of(audio=WAV, seed=2, mode="PER_FRAME", take="Posed", start_frame=1, device="cpu",
                     keep_key_poses=True, variation=1.0)
    frame_after = scene.frame_current
    kept = float(np.abs(shown(head, 30) - wanted).max())
    moved = float(np.abs(shown(head, 50) - elsewhere).max())
    blocks = head.data.shape_keys.key_blocks
    muted = [kb.name for kb in blocks if kb.mute]
    bpy.ops.diffusiontalker.generate(audio=WAV, seed=2, mode="PER_FRAME", take="Posed", start_frame=1, device="cpu",
                                     keep_key_poses=False, variation=1.0)  # the same take, but the marked frame may change
    not_kept = float(np.abs(shown(head, 30) - wanted).max())
    return {"error": error, "marked": marked, "again": again, "markers": markers, "kept": kept, "moved": moved,
            "not_kept": not_kept,
            "frame_after": frame_after, "pose_curve": curves_by_key(head).get("Jaw Open"),
            "muted": muted, "smile": user_state(head)["smile_curve"]}


@record("device_fallback")
def _device_fallback():
    import torch

    return {"cuda_available": torch.cuda.is_available(),
            "error": error_of(audio=WAV, device="cuda", mode="BASIS", basis_count=4, take="OnCuda")}


@record("undo")
def _undo():
    """One generation is one undo step: a single Ctrl+Z returns to the state before it."""
    head = head_with_user_animation()
    bpy.ops.ed.undo_push(message="before generation")
    before = mesh_fingerprint(head)
    # 'EXEC_DEFAULT', True: call with an undo push, as the button does (scripts skip it by default)
    bpy.ops.diffusiontalker.generate("EXEC_DEFAULT", True, audio=WAV, mode="BASIS", basis_count=4,
                                     take="Undone", device="cpu")
    generated = [kb.name for kb in bpy.data.objects["Head"].data.shape_keys.key_blocks]
    bpy.ops.ed.undo()
    head = bpy.data.objects["Head"]
    return {"generated": generated, "restored": mesh_fingerprint(head) == before,
            "strips": sorted(sound_strips(bpy.context.scene))}


@record("tooltips")
def _tooltips():
    settings = bpy.types.Scene.bl_rna.properties["diffusiontalker"].fixed_type
    operators = [getattr(bpy.ops.diffusiontalker, name).get_rna_type()
                 for name in ("generate", "style_from_audio", "style_from_animation", "mark_key_pose")]
    ours = [(settings, bpy.types.PropertyGroup), *((op, None) for op in operators),
            (ext_prefs.bl_rna, bpy.types.AddonPreferences)]
    missing = [f"operator {op.identifier}" for op in operators if not op.description]
    counted = 0
    for struct, base in ours:
        inherited = set(base.bl_rna.properties.keys()) if base else {"rna_type"}
        for prop in struct.properties:
            if prop.identifier not in inherited:
                counted += 1
                if not prop.description:
                    missing.append(f"{struct.identifier}.{prop.identifier}")
    return {"missing": missing, "counted": counted}


@record("round_trip")
def _round_trip():
    bpy.ops.wm.read_homefile(use_empty=True)
    head = load_head()
    scene = bpy.context.scene
    scene.diffusiontalker.seed = 11  # panel settings save with the .blend
    ext_prefs.checkpoint = ""  # and the bundled checkpoint works out of the box
    bpy.ops.diffusiontalker.generate(audio=WAV, mode="BASIS", basis_count=8, take="Saved", device="cpu")
    before = {"names": [kb.name for kb in head.data.shape_keys.key_blocks], "curves": curves_by_key(head),
              "range": [scene.frame_start, scene.frame_end], "strips": sound_strips(scene),
              "fingerprint": mesh_fingerprint(head)}
    path = os.path.join(WORK, "roundtrip.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=path)
    head, scene = bpy.data.objects["Head"], bpy.context.scene
    after = {"names": [kb.name for kb in head.data.shape_keys.key_blocks], "curves": curves_by_key(head),
             "range": [scene.frame_start, scene.frame_end], "strips": sound_strips(scene),
             "fingerprint": mesh_fingerprint(head)}
    return {"differs": sorted(k for k in before if before[k] != after[k]), "names": after["names"], "seed": scene.diffusiontalker.seed,
            "last_take": scene.diffusiontalker.last_take}


@record("refused_setups")
def _refused_setups():
    """Setups that cannot give a good take: each refused with its reason, the head untouched."""
    import soundfile

    bpy.ops.wm.read_homefile(use_empty=True)
    head = load_head()
    scene = bpy.context.scene
    before = mesh_fingerprint(head)
    blip = os.path.join(WORK, "blip.wav")
    soundfile.write(blip, np.full(160, 0.1, np.float32), 16000)  # 10 ms
    out = {"short_audio": error_of(audio=blip),
           "wide_take_name": error_of(audio=WAV, take="\u3042" * 20),  # 20 characters, 60 bytes
           "before_frame_0": error_of(audio=WAV, start_frame=-100),
           "past_last_frame": error_of(audio=WAV, start_frame=1048500),
           "no_strip_named": error_of(audio_source="STRIP", sound_strip=""),
           "folder_audio": error_of(audio=WORK),
           "folder_checkpoint": None, "fast_scene": None}
    bpy.ops.object.mode_set(mode="SCULPT")
    out["sculpt_mode"] = error_of(audio=WAV)
    bpy.ops.object.mode_set(mode="OBJECT")
    ext_prefs.checkpoint = WORK
    out["folder_checkpoint"] = error_of(audio=WAV)
    ext_prefs.checkpoint = MOVING
    scene.render.fps, scene.render.fps_base = 30, 0.01  # a mistyped 1.001: 3000 fps
    out["fast_scene"] = error_of(audio=WAV)
    scene.render.fps_base = 1.0
    out["unchanged"] = mesh_fingerprint(head) == before and head.data.shape_keys is None
    head.shape_key_add(name="Basis", from_mix=False)
    head.data.shape_keys.use_relative = False
    before = mesh_fingerprint(head)
    out["absolute_keys"] = error_of(audio=WAV)
    out["absolute_unchanged"] = mesh_fingerprint(head) == before
    out["strips"] = sound_strips(scene)
    return out


@record("linked_head")
def _linked_head():
    """A head linked from another .blend: shape keys written to it would vanish on save."""
    bpy.ops.wm.read_homefile(use_empty=True)
    load_head()
    library = os.path.join(WORK, "character.blend")
    bpy.ops.wm.save_as_mainfile(filepath=library)
    bpy.ops.wm.read_homefile(use_empty=True)
    with bpy.data.libraries.load(library, link=True) as (source, target):
        target.objects = ["Head"]
    head = target.objects[0]
    bpy.context.scene.collection.objects.link(head)
    bpy.context.view_layer.objects.active = head
    return {"error": error_of(audio=WAV, device="cpu"), "keys": head.data.shape_keys is not None}


@record("stale_curves")
def _stale_curves():
    """A take's shape key deleted by hand leaves its F-curve behind; generating again must
    still replace the take, and the user's own keys stay."""
    head = head_with_user_animation()
    bpy.ops.diffusiontalker.generate(audio=WAV, mode="BASIS", basis_count=4, take="Redo", seed=1, device="cpu")
    head.active_shape_key_index = head.data.shape_keys.key_blocks.find("Redo.pc01")
    bpy.ops.object.shape_key_remove()
    orphans = [p for p in curves_by_key(head) if p == "Redo.pc01"]
    user_before = user_state(head)
    error = error_of(audio=WAV, mode="BASIS", basis_count=4, take="Redo", seed=2, device="cpu")
    return {"orphans": orphans, "error": error, "names": [kb.name for kb in head.data.shape_keys.key_blocks],
            "curves": sorted(curves_by_key(head)), "user_kept": user_state(head) == user_before}


@record("variation")
def _variation():
    """The Variation setting reaches the sampler and the take's record."""
    head = head_with_user_animation()
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = 30, 1.0  # the model's: frames match
    bpy.ops.diffusiontalker.generate(audio=WAV, seed=2, variation=0.0, mode="PER_FRAME", take="Still", device="cpu")
    frames = (0, 60, 150)
    shown = [evaluated_offsets(head, 1 + f) for f in frames]
    settled, full = model_take(2, variation=0.0)[1], model_take(2, variation=1.0)[1]

    def error(take):
        return max(float(np.abs(s - take.offsets[f]).max()) for s, f in zip(shown, frames))

    record = head.data.shape_keys[ext.diffusiontalker_addon.takes.RECORDS]["Still"].to_dict()
    return {"error": error(settled), "error_at_full": error(full), "record": record.get("variation"),
            "defaults": [bpy.ops.diffusiontalker.generate.get_rna_type().properties["variation"].default,
                         type(bpy.context.scene.diffusiontalker).bl_rna.properties["variation"].default]}


@record("shared_action")
def _shared_action():
    """Two heads animated by one action (assigned in the Dope Sheet, or duplicated without
    copying actions; since 4.4 through one slot): a take on one must not key the other."""
    head = head_with_user_animation()
    twin = load_head("Twin")
    twin.shape_key_add(name="Basis", from_mix=False)
    twin.shape_key_add(name="Smile", from_mix=False)
    shared, anim = head.data.shape_keys.animation_data, twin.data.shape_keys.animation_data_create()
    anim.action = shared.action
    if hasattr(anim, "action_slot"):
        anim.action_slot = shared.action_slot
    head_before = curves_by_key(head)
    twin_error = error_of(audio=WAV, mode="BASIS", basis_count=4, take="Take", device="cpu")
    twin_curves, head_after_twin = curves_by_key(twin), curves_by_key(head)
    bpy.context.view_layer.objects.active = head
    head_error = error_of(audio=WAV, mode="BASIS", basis_count=4, take="Take", seed=1, device="cpu")
    return {"errors": [twin_error, head_error], "head_untouched": head_after_twin == head_before,
            "twin_curves": sorted(twin_curves), "twin_smile": twin_curves.get("Smile"),
            "twin_kept": curves_by_key(twin) == twin_curves, "head_curves": sorted(curves_by_key(head)),
            "separate": anim.action != shared.action}


@record("strip_choices")
def _strip_choices():
    """What a batch script names wins over the panel saved in the .blend; a sound packed
    into the .blend drives a take; a "//" path stays relative to the .blend."""
    import shutil

    bpy.ops.wm.read_homefile(use_empty=True)
    load_head()
    scene = bpy.context.scene
    editor = scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    packed_source = os.path.join(WORK, "packed.wav")
    shutil.copy(WAV, packed_source)
    strip = strips.new_sound("Packed", packed_source, 2, 40)
    strip.sound.pack()
    os.remove(packed_source)
    scene.diffusiontalker.audio_source, scene.diffusiontalker.sound_strip = "STRIP", "Packed"
    packed = error_of(mode="BASIS", basis_count=4, take="FromPack", device="cpu")
    packed_range = [scene.frame_start, scene.frame_end]
    shutil.copy(WAV, os.path.join(WORK, "relative.wav"))
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(WORK, "strips.blend"))
    file_given = error_of(audio="//relative.wav", start_frame=5, mode="BASIS", basis_count=4, take="FromFile",
                          device="cpu")
    added = strips.get("FromFile.audio")
    both = error_of(audio=WAV, sound_strip="Packed", take="Both", device="cpu")
    return {"packed": packed, "packed_range": packed_range, "file_given": file_given,
            "file_range": [scene.frame_start, scene.frame_end],
            "file_strip": added.sound.filepath if added else None, "both": both}


def head_among_strips():
    """(a FLAME head in a new scene, the scene, its fps, its sequencer's strips)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    head = load_head()
    scene = bpy.context.scene
    editor = scene.sequence_editor_create()
    return head, scene, scene.render.fps / scene.render.fps_base, (editor.strips if hasattr(editor, "strips")
                                                                   else editor.sequences)


@record("trimmed_strips")
def _trimmed_strips():
    """A strip plays second (frame - Start) / fps - Sound Offset of its file: the take must
    animate exactly what is heard, from where it is heard. Checked against the model run
    on that stretch of the file, worked out here from Blender's rule."""
    head, scene, fps, strips = head_among_strips()
    line = strips.new_sound("Line", WAV, 2, 200)  # one line of a longer recording: 50 frames trimmed off
    line.frame_offset_start = 50
    line.sound_offset = 0.25  # and the sound starts a quarter second later
    late = strips.new_sound("Late", WAV, 3, 1000)
    late.sound_offset = 0.5  # untrimmed, but silent for its first half second
    whole = strips.new_sound("Whole", WAV, 4, 2001)
    whole.split(frame=2060, split_method="HARD")  # Shift+K: its right part is Whole.001
    gen = ext.diffusiontalker_addon.worker.load_generator(MOVING, "cpu")
    out = {}
    for strip, first, heard in ((line, 250, (50 / fps - 0.25, (line.frame_final_end - 200) / fps - 0.25)),
                                (late, 1012, (0.0, (late.frame_final_end - 1000) / fps - 0.5)),  # cut at its end
                                (strips["Whole.001"], 2060, (59 / fps, 99.0))):  # from where it was split
        with warnings.catch_warnings(record=True) as caught:  # Blender 5.3 warns of names 6.0 drops
            warnings.simplefilter("always")
            error = error_of(audio_source="STRIP", sound_strip=strip.name, mode="PER_FRAME", take=strip.name,
                             seed=3, style=gen.identity_names[0], device="cpu")
        out.setdefault("deprecated", []).extend(f"{w.filename}: {w.message}" for w in caught
                                                if issubclass(w.category, DeprecationWarning))
        take = gen.generate(WAV, span=heard, seed=3, style=gen.identity_names[0])
        expected = resample_fps(take.offsets, take.fps, fps)
        shown = {f: float(np.abs(evaluated_offsets(head, first + f) - expected[f]).max()) for f in (0, 30)}
        out[strip.name] = {"error": error, "range": [scene.frame_start, scene.frame_end], "shown_error": shown,
                           "motion": float(np.abs(expected).max())}
    never = strips.new_sound("Never", WAV, 5, 3000)
    never.sound_offset = 10.0  # later than the strip lasts: nothing of it is ever heard
    out["never"] = error_of(audio_source="STRIP", sound_strip="Never", take="Never", device="cpu")
    return out


@record("start_at_playhead")
def _start_at_playhead():
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.frame_current = 57
    bpy.ops.diffusiontalker.start_at_playhead()
    return {"start_frame": scene.diffusiontalker.start_frame}


@record("selected_strips")
def _selected_strips():
    """Selected Strips: a take of each selected sound strip, named after it and playing
    where the strip plays, all of them showing; what it cannot do is refused first."""
    head, scene, fps, strips = head_among_strips()
    for name, channel, start in (("LineB", 2, 400), ("LineA", 3, 20), ("Other", 4, 800)):
        strips.new_sound(name, WAV, channel, start)
    for strip in strips:
        strip.select = strip.name != "Other"
    before = mesh_fingerprint(head)
    refused = {"transcript": error_of(audio_source="SELECTED", transcript="hello there", device="cpu"),
               "long": None}
    strips["LineB"].name = "L" * 60  # the take is named after the strip: too long a name for one
    refused["long"] = error_of(audio_source="SELECTED", device="cpu")
    strips["L" * 60].name = "LineB"
    unchanged = mesh_fingerprint(head) == before
    gen = ext.diffusiontalker_addon.worker.load_generator(MOVING, "cpu")
    error = error_of(audio_source="SELECTED", mode="PER_FRAME", seed=3, style=gen.identity_names[0], device="cpu")
    heard = ext.diffusiontalker_addon.writer.sound_strip_source(scene, "LineA")[2]  # as each strip is heard
    take = gen.generate(WAV, span=heard, seed=3, style=gen.identity_names[0])
    expected = resample_fps(take.offsets, take.fps, fps)
    shown = {name: max(float(np.abs(evaluated_offsets(head, start + f) - expected[f]).max())
                       for f in (0, 30, len(expected) - 1))
             for name, start in (("LineA", 20), ("LineB", 400))}
    out = {"refused": refused, "unchanged": unchanged, "error": error, "shown_error": shown,
           "motion": float(np.abs(expected).max()), "frames": len(expected),
           "takes": sorted({kb.name.rsplit(".", 1)[0] for kb in head.data.shape_keys.key_blocks[1:]}),
           "range": [scene.frame_start, scene.frame_end], "report": scene.diffusiontalker.last_report,
           "strips": sorted(sound_strips(scene))}
    # a take made from a file placed its own strip, Intro.audio: selecting it remakes Intro
    error_of(audio=WAV, take="Intro", start_frame=1000, mode="BASIS", basis_count=4, device="cpu")
    for strip in strips:
        strip.select = strip.name == "Intro.audio"
    out["remade"] = error_of(audio_source="SELECTED", mode="BASIS", basis_count=4, seed=9, device="cpu")
    out["takes_after"] = sorted({kb.name.rsplit(".", 1)[0] for kb in head.data.shape_keys.key_blocks[1:]})
    out["intro_seed"] = head.data.shape_keys[ext.diffusiontalker_addon.takes.RECORDS]["Intro"]["seed"]
    # two takes' own strips remade in one run: the first mutes the other takes, the second plays again
    error_of(audio=WAV, take="Outro", start_frame=1500, mode="BASIS", basis_count=4, device="cpu")
    for strip in strips:
        strip.select = strip.name in ("Intro.audio", "Outro.audio")
    out["remade_both"] = error_of(audio_source="SELECTED", mode="BASIS", basis_count=4, seed=5, device="cpu")
    out["both_heard"] = [not strips[f"{take}.audio"].mute for take in ("Intro", "Outro")]
    out["both_shown"] = [not t.muted for t in ext.diffusiontalker_addon.takes.takes_of(head)
                         if t.name in ("Intro", "Outro")]

    class Reports:  # the operator's report(), kept
        said = []

        def report(self, kind, message):
            self.said.append((next(iter(kind)), message))

    op, said = Reports(), set()
    for take in ("LineA", "LineB"):  # a run's takes share the head, so they share its notes
        plan = SimpleNamespace(take=take, add_strip=False)
        ext.diffusiontalker_addon.operators._reported(op, scene, plan, said,
                                                      lambda take=take: (f"{take} made", ["the head's note"]))
    out["run_reports"] = op.said
    return out


@record("selected_meta")
def _selected_meta():
    """A selected meta strip (a dialogue grouped with Ctrl+G) makes a take of each line it
    plays: not of a muted line or one its range hides, and a line its range cuts is cut."""
    head, scene, fps, strips = head_among_strips()
    lines = {name: strips.new_sound(name, WAV, channel, start)
             for name, channel, start in (("MetaA", 1, 20), ("MetaB", 2, 400), ("MetaMuted", 3, 200),
                                          ("MetaHidden", 4, 900))}
    lines["MetaMuted"].mute = True
    meta = strips.new_meta("Dialogue", 6, 20)
    for strip in lines.values():
        strip.move_to_meta(meta)
    lines["OnMutedChannel"] = strips.new_sound("OnMutedChannel", WAV, 5, 250)
    lines["OnMutedChannel"].move_to_meta(meta)
    meta.channels[5].mute = True
    meta.frame_final_duration = 480  # plays frames 20-499: MetaB is cut at 500, MetaHidden never plays
    for strip in ext.diffusiontalker_addon.writer.all_strips(scene):
        strip.select = strip == meta
    out = {"selected": [s.name for s in ext.diffusiontalker_addon.writer.selected_sound_strips(scene)],
           "error": error_of(audio_source="SELECTED", mode="PER_FRAME", seed=3, device="cpu")}
    keys = [kb.name for kb in head.data.shape_keys.key_blocks[1:]]
    out["takes"] = sorted({name.rsplit(".", 1)[0] for name in keys})
    out["frames"] = {take: sum(name.startswith(take + ".") for name in keys) for take in out["takes"]}
    out["whole"] = lines["MetaB"].frame_final_end - 400
    out["hidden"] = error_of(audio_source="STRIP", sound_strip="MetaHidden", take="Hidden", device="cpu")
    scene.sequence_editor.active_strip = meta
    if hasattr(bpy.context.workspace, "sequencer_scene"):  # 5.0+: the sequencer shows the workspace's scene
        bpy.context.workspace.sequencer_scene = scene
    with bpy.context.temp_override(scene=scene):
        bpy.ops.sequencer.meta_toggle()  # Tab: editing inside the meta, what is selected there counts
        for name, strip in lines.items():
            strip.select = name == "MetaB"
        out["inside"] = [s.name for s in ext.diffusiontalker_addon.writer.selected_sound_strips(scene)]
        bpy.ops.sequencer.meta_toggle()
    # 5.0+: the sequencer shows the workspace's scene, which may not be the head's
    other = bpy.data.scenes.new("Edit")
    editor = other.sequence_editor_create()
    (editor.strips if hasattr(editor, "strips") else editor.sequences).new_sound("Elsewhere", WAV, 1, 1).select = True
    for strip in ext.diffusiontalker_addon.writer.all_strips(scene):
        strip.select = False
    workspace = bpy.context.workspace
    if hasattr(workspace, "sequencer_scene"):
        workspace.sequencer_scene = other
    out["other_scene"] = {"shown": hasattr(workspace, "sequencer_scene"),
                          "error": error_of(audio_source="SELECTED", device="cpu")}
    if hasattr(workspace, "sequencer_scene"):
        workspace.sequencer_scene = scene
    # a take's own sound strip moved into the meta is still the take's: muted and deleted with it
    error_of(audio=WAV, take="Intro", start_frame=600, mode="BASIS", basis_count=4, device="cpu")
    all_strips = ext.diffusiontalker_addon.writer.all_strips(scene)
    all_strips["Intro.audio"].move_to_meta(meta)
    bpy.ops.diffusiontalker.take_mute(take="Intro", object="Head")
    out["own_strip_muted"] = all_strips["Intro.audio"].mute
    bpy.ops.diffusiontalker.take_delete(take="Intro", object="Head")
    out["own_strip_after_delete"] = "Intro.audio" in all_strips
    return out


@record("replaced_checkpoint")
def _replaced_checkpoint():
    """The checkpoint file changing under a loaded model: a tampered file is refused, not
    ignored in favour of the copy in memory."""
    import shutil
    from bl_ext.user_default.diffusiontalker.core.checkpoint import paths_of

    bpy.ops.wm.read_homefile(use_empty=True)
    load_head()
    copy = os.path.join(WORK, "copied")
    for path, target in zip(paths_of(MOVING), paths_of(copy)):
        shutil.copy(path, target)
    ext_prefs.checkpoint = copy + ".json"
    first = error_of(audio=WAV, mode="BASIS", basis_count=4, take="Copy", device="cpu")
    tensors = paths_of(copy)[0]
    data = bytearray(tensors.read_bytes())
    data[-1] ^= 0xFF
    tensors.write_bytes(bytes(data))
    tampered = error_of(audio=WAV, mode="BASIS", basis_count=4, take="Copy", device="cpu")
    ext_prefs.checkpoint = MOVING
    return {"first": first, "tampered": tampered}


with open(OUT, "w") as fh:
    json.dump(observed, fh, indent=1, default=float)
