"""The extension in real Blender (the ``bpy`` module): build, validate, install, generate.

Blender runs in a fresh subprocess (tests/blender/scenarios.py) because
BLENDER_USER_RESOURCES is read once at ``import bpy`` and Blender's state must
not leak into other tests; it records observations as JSON and the assertions
live here. One subprocess runs every scenario since each import of bpy and
torch costs seconds on a 2-core machine.
"""

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLAME = ROOT.parent / "shared" / "flame" / "FLAME_sample.ply"
WAV = ROOT / "core" / "assets" / "example.wav"


def _blender_ext() -> Path | None:
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    return found[-1] if found else None


BLENDER_EXT = _blender_ext()
# .venv's torch is the CPU build; PyPI's torch for Python 3.13 (Blender 5.1+) is built for CUDA
CPU_ONLY_TORCH = "+cpu" in importlib.metadata.version("torch")
pytestmark = pytest.mark.skipif(BLENDER_EXT is None, reason="the bpy module (Blender 4.2+) is not installed")


def blender_ext(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BLENDER_EXT), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = blender_ext("build", "--source-dir", str(ROOT), "--output-dir", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    (zip_path,) = out.glob("*.zip")
    return zip_path


def test_manifest_and_package_validate(package):
    for target in (ROOT, package):
        result = blender_ext("validate", str(target))
        assert result.returncode == 0, result.stdout + result.stderr


def test_package_holds_library_and_addon_but_no_development_files(package):
    names = zipfile.ZipFile(package).namelist()
    for needed in ("blender_manifest.toml", "__init__.py", "diffusiontalker_addon/operators.py",
                   "core/pipeline.py", "core/assets/demo.safetensors", "core/assets/demo.json"):
        assert needed in names
    for name in names:
        assert not name.startswith(("tests/", "docs/", "bench/", "research/", ".git", ".venv/", ".shim/", "wheels/"))
        assert "__pycache__" not in name and not name.endswith((".pyc", ".whl"))


def observe(script: str, package: Path, tmp_path_factory, timeout: int = 900) -> dict:
    """Run tests/blender/<script> (usage: ZIP PLY WAV WORK OUT) on the built extension in a
    fresh Python with its own empty Blender user folder, and return what it observed, with
    its console output under "stdout"."""
    if not FLAME.is_file():
        pytest.skip(f"FLAME template not found at {FLAME} (see ../shared/flame/README.md)")
    work = tmp_path_factory.mktemp(Path(script).stem)
    out = work / "observed.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "blender" / script), str(package), str(FLAME), str(WAV),
         str(work), str(out)],
        capture_output=True, text=True, timeout=timeout, cwd=work,
        env=dict(os.environ, BLENDER_USER_RESOURCES=str(work / "user")))
    assert result.returncode == 0 and out.is_file(), result.stdout[-4000:] + result.stderr[-4000:]
    data = json.loads(out.read_text())
    data["stdout"] = result.stdout + result.stderr
    return data


@pytest.fixture(scope="module")
def observed(package, tmp_path_factory) -> dict:
    return observe("scenarios.py", package, tmp_path_factory)


def scenario(observed, name) -> dict:
    value = observed[name]
    assert "crash" not in value, value.get("crash")
    return value


def has_audio(observed) -> bool:
    """Whether this Blender can hold sound strips: PyPI's bpy 4.2 is built without audio
    (Audaspace); Blender itself and every later bpy have it."""
    blender = scenario(observed, "install")
    assert blender["audio"] or blender["version"][:2] == [4, 2]
    return blender["audio"]


def needs_audio(observed) -> None:
    if not has_audio(observed):
        pytest.skip("this Blender is built without audio (Audaspace), so it cannot hold sound strips")


def test_installs_and_enables(observed):
    installed = scenario(observed, "install")
    assert installed["enabled"] == ["bl_ext.user_default.diffusiontalker"]
    assert installed["operator"] and installed["panel"]


def test_bad_input_is_refused_with_a_clear_message_and_nothing_changes(observed):
    bad = scenario(observed, "bad_input")
    assert "has 8 vertices but the checkpoint was trained on 5023-vertex meshes" in bad["wrong_mesh"]
    assert "or set Target to Any Head (then Fit Head) or Shape-Key Rig" in bad["wrong_mesh"]
    assert bad["cube_unchanged"] and not bad["cube_has_keys"]
    assert "audio file not found" in bad["missing_audio"] and "nope.wav" in bad["missing_audio"]
    assert "choose an audio file" in bad["no_audio"]
    assert "must be a mesh" in bad["not_mesh"]
    assert "checkpoint" in bad["missing_checkpoint"] and "missing.json" in bad["missing_checkpoint"]
    assert bad["head_unchanged"]


def test_per_frame_keys_show_the_model_output_at_the_scene_fps(observed):
    run = scenario(observed, "per_frame")
    frames = run["expected_frames"]
    assert run["model_fps"] == 30.0 and frames == round(190 * 24 / 30)  # 6.35 s clip, scene at 24 fps
    take_keys = [n for n in run["names"] if n.startswith("TakeA.")]
    assert take_keys == [f"TakeA.{i:05d}" for i in range(frames)]
    assert run["names"][:2] == ["Basis", "Smile"]  # the user's keys stay first and untouched
    assert run["curve_count"] == frames
    assert run["curves"][f"TakeA.{0:05d}"] == [[9.0, 0.0], [10.0, 1.0], [11.0, 0.0]]
    last = 10 + frames - 1
    assert run["curves"][f"TakeA.{frames - 1:05d}"] == [[last - 1, 0.0], [last, 1.0], [last + 1, 0.0]]
    assert run["frame_range"] == [10, last]
    assert max(run["shown_error"].values()) < 1e-6  # metres: what Blender shows is the model's frame
    if has_audio(observed):
        strip = run["strips"]["TakeA.audio"]
        assert strip["type"] == "SOUND" and strip["frame_start"] == 10 and Path(strip["file"]) == WAV
    else:  # the take is still written, and the user is told why it has no sound
        assert run["strips"] == {} and "built without audio" in observed["stdout"]
    assert run["user_before"] == run["user_after"] and run["smile_at_1"] == pytest.approx(0.25)
    assert run["last_take"] == "TakeA"
    # the panel and a script sample as the command line does: the checkpoint's own steps
    assert run["steps_defaults"] == [0, 0] and f"{run['model_steps']} steps" in run["last_report"]


def test_variation_reaches_the_sampler_and_the_take_record(observed):
    from diffusiontalker.argtypes import DEFAULT_VARIATION

    run = scenario(observed, "variation")
    assert run["error"] < 1e-6  # what Blender shows is the model's take at variation 0
    assert run["error_at_full"] > 1e-4  # and that take is not the one at full variation
    assert run["record"] == 0.0
    assert run["defaults"] == [pytest.approx(DEFAULT_VARIATION)] * 2  # the panel samples as the command line does


def test_basis_mode_replaces_the_take_and_is_close_to_the_model(observed):
    run = scenario(observed, "basis_and_takes")
    frames = run["expected_frames"]
    take_keys = [n for n in run["names"] if n.startswith("TakeA.")]
    assert take_keys == [f"TakeA.pc{k:02d}" for k in range(12)]  # the 152 per-frame keys are gone
    for name, keyed in run["curve_frames"].items():  # and a key at rest just before and after the take
        assert keyed == [float(f) for f in range(9, 10 + frames + 1)], name
    assert run["motion"] > 0.002  # the test checkpoint really moves the face: > 2 mm somewhere (metres)
    assert run["shown_error"] < 0.25 * run["motion"]
    assert "basis error" in run["report"] and "mm RMS" in run["report"]
    assert run["user_before"] == run["user_after"]
    assert run["take_a_kept"]  # a second take leaves the first alone
    assert [n for n in run["all_names"] if n.startswith("TakeB.")] == [f"TakeB.pc{k:02d}" for k in range(6)]
    if has_audio(observed):
        assert sorted(run["strips"]) == ["TakeA.audio", "TakeB.audio"]
        assert run["strips"]["TakeA.audio"]["channel"] != run["strips"]["TakeB.audio"]["channel"]
    assert run["frame_range"][0] == 100


def test_cancel_leaves_the_mesh_exactly_as_it_was(observed):
    run = scenario(observed, "cancel")
    assert run["error"] == "Cancelled" and run["threaded_error"] == "Cancelled"
    assert run["status"] == ["CANCELLED"] and run["reports"] == [[["INFO"], "Cancelled; nothing was changed"]]
    assert run["unchanged"] and "TakeC.audio" not in run["strips"]
    # the model loads inside the job (off Blender's main thread), and the panel is told so first,
    # then that the phones are being recognised (the bundled model reads them), then each step
    assert run["statuses"][:3] == ["Loading model…", "Recognising the words…", "Denoising step 1 of 8"]


def test_worker_thread_reports_progress_then_the_take(observed):
    run = scenario(observed, "threaded")
    assert run["progress"][-1] == 1.0 and len(run["progress"]) >= 2 and run["polls"] > 1
    assert run["status"] == "Denoising step 8 of 8" and run["result"] == ["FINISHED"]
    assert run["keys"] == ["Basis", "Smile", "Live.pc00", "Live.pc01", "Live.pc02", "Live.pc03"]


def test_existing_sound_strip_drives_the_take_without_a_duplicate(observed):
    needs_audio(observed)
    run = scenario(observed, "strip_source")
    assert list(run["strips"]) == ["Dialogue"]
    assert run["frame_range"][0] == 50


def test_personal_identity_library_adds_a_style(observed):
    run = scenario(observed, "identity_library")
    assert run["search"] == ["My Voice"]
    assert run["error"] is None and "style My Voice" in run["report"]
    assert run["unknown"] is not None and "Nobody" in run["unknown"]
    # a library made for another checkpoint: the trained styles still generate, its own styles say why not
    assert run["trained_ok"] is None
    assert run["old_voice"] is not None and "personal styles unavailable" in run["old_voice"]
    assert "was made for old.safetensors" in run["old_voice"]


def test_new_style_from_audio_is_stored_found_and_generated_with(observed):
    run = scenario(observed, "style_from_audio")
    assert run["first"] is None and run["second"] is None
    # no library was set: one in Blender's configuration root, which removing the extension leaves alone
    assert run["library"] == run["default"] and run["outside_extension"]
    assert run["names"] == ["From Audio", "Second Voice"]
    assert run["search"] == ["From Audio"]
    assert run["used"] is None and "style From Audio" in run["report"]
    assert run["used_second"] is None and "style Second Voice" in run["report_second"]  # a changed library is re-read


def test_a_library_in_the_old_default_place_moves_out_of_the_extension_once(observed):
    run = scenario(observed, "library_migration")
    assert run["made"] is None and run["moved"] == run["default"] == run["preference"]
    assert run["same_files"] and run["names"] == ["Old Voice"]
    assert run["again"] is None  # once: the new place exists now
    assert run["chosen_elsewhere"] is None and run["preference_kept"]
    assert run["not_an_extension"] == [None, None]  # registering outside the extension system still works


def test_the_result_box_shows_the_latest_attempt(observed):
    run = scenario(observed, "last_result")
    assert run["made"] is None and run["good"][:2] == ["Good", False] and run["good"][2].startswith("Good: ")
    assert "audio file not found" in run["refused"]
    assert run["after"][:2] == ["Bad", True] and "audio file not found" in run["after"][2]


def test_the_main_thread_never_imports_torch(observed):
    run = scenario(observed, "main_thread")
    assert not run["torch_before"] and not run["torch_after"]
    # the Device menu's note, read from torch's metadata: a CPU-only build cannot use CUDA, and says so
    if CPU_ONLY_TORCH:
        assert run["build"] == ["torch 2.13.0+cpu: CPU only (the CUDA zip brings GPU support on Linux and Windows)",
                                False]
    else:
        assert run["build"] == ["torch 2.13.0: CPU and NVIDIA GPUs (CUDA)", True]
    assert run["search"][0] == "auto" and len(run["search"]) > 1 and run["request_audio"]
    # the wrong head is named from the checkpoint's card, before any model is loaded
    assert "has 8 vertices but the checkpoint was trained on 5023-vertex meshes" in run["wrong_head"]


def test_new_style_from_audio_refuses_bad_input_and_changes_nothing(observed):
    run = scenario(observed, "style_from_audio")
    bad = run["bad"]
    assert "give the new style a name" in bad["no_name"]
    assert "'auto'" in bad["auto"]
    assert f"'{run['trained']}' is already a style of the checkpoint" in bad["trained"]
    assert "choose one or more recordings" in bad["no_files"]
    assert "audio file not found" in bad["missing"] and "nope.wav" in bad["missing"]
    assert run["unchanged"]
    # a chosen library that is not there (moved?) is started anew, and the user is told
    assert run["started"] == [None, ["Fresh"]]
    assert "no style library was at " in observed["stdout"] and "if yours was moved" in observed["stdout"]


def test_new_style_from_animation_fits_the_mesh_motion(observed):
    run = scenario(observed, "style_from_animation")
    assert run["result"] == ["FINISHED"] and run["names"] == ["Fitted"]
    assert run["source"] == {"clips": ["example.wav"], "from": "animation of 'Head'"}
    assert run["frame_after"] == 7  # scrubbing through the take to read it leaves the user's frame
    assert "has 8 vertices but the checkpoint was trained on 5023-vertex meshes" in run["wrong_mesh"]
    assert run["cube_unchanged"]
    assert "choose an audio file" in run["no_audio"] and "give the new style a name" in run["no_name"]
    assert run["unchanged"] and run["frame_end"] == 7


def test_keyed_blend_weight_drifts_between_styles_as_the_model_does(observed):
    run = scenario(observed, "blend")
    assert run["animatable"] and run["weights"] == [0.0, 1.0]
    assert f"style {run['first']} blended with {run['second']}," in run["report"]
    assert run["error"] is None
    assert run["blend_effect"] > 1e-4  # metres: the second style really changes the last frame
    assert max(run["shown_error"].values()) < 1e-5
    assert run["unknown"] is not None and "blend style: unknown talking style 'Nobody'" in run["unknown"] and run["unchanged"]


def test_key_poses_keep_the_marked_frame_and_regenerate_the_rest(observed):
    run = scenario(observed, "key_pose")
    assert run["marked"] == ["FINISHED"] and run["again"] == ["CANCELLED"]
    assert run["markers"] == [["Key Pose", 30]]
    assert run["error"] is None
    assert run["moved"] > 5e-4  # a new seed: the take really changed away from the mark
    assert run["kept"] < 1e-4  # metres: at the mark the face is as the user left it
    assert run["not_kept"] > 5e-4  # which is Keep Key Poses' doing: without it the mark changes too
    assert run["frame_after"] == 12
    assert run["pose_curve"] == [[20.0, 0.0], [30.0, 1.0], [40.0, 0.0]] and run["muted"] == []
    assert run["smile"] == [[1.0, 0.25], [40.0, 0.75]]


def test_unavailable_device_falls_back_to_cpu_with_a_warning(observed):
    run = scenario(observed, "device_fallback")
    if run["cuda_available"]:
        pytest.skip("this machine has CUDA, so there is no fallback to see")
    assert run["error"] is None
    # said once (it was printed twice), blaming the CPU-only torch rather than the machine
    assert observed["stdout"].count("CUDA is not available: torch ") == 1
    if CPU_ONLY_TORCH:
        assert "is a CPU-only build (install the extension's CUDA zip" in observed["stdout"]
    else:
        assert "(built for CUDA " in observed["stdout"] and "finds no NVIDIA GPU or driver" in observed["stdout"]


def test_one_generation_is_one_undo_step(observed):
    run = scenario(observed, "undo")
    assert "Undone.pc00" in run["generated"]
    assert run["restored"] and "Undone.audio" not in run["strips"]


def test_every_setting_has_a_tooltip(observed):
    run = scenario(observed, "tooltips")
    assert run["counted"] > 30 and run["missing"] == []


def test_save_and_reload_keeps_everything(observed):
    run = scenario(observed, "round_trip")
    assert run["differs"] == []
    assert [n for n in run["names"] if n.startswith("Saved.")] == [f"Saved.pc{k:02d}" for k in range(8)]
    assert run["seed"] == 11 and run["last_take"] == "Saved"


def test_setups_that_cannot_give_a_good_take_are_refused_and_change_nothing(observed):
    run = scenario(observed, "refused_setups")
    assert "audio is 10 ms long; at least 100 ms" in run["short_audio"]
    assert "1 to 50 bytes" in run["wide_take_name"]
    assert "frames -100 to" in run["before_frame_0"] and "outside Blender's 0 to 1048574" in run["before_frame_0"]
    assert "frames 1048500 to" in run["past_last_frame"]
    assert "choose the sound strip" in run["no_strip_named"]
    assert "is a folder, not an audio file" in run["folder_audio"]
    assert "is a folder; choose the checkpoint's .json card" in run["folder_checkpoint"]
    assert "runs at 3000 fps" in run["fast_scene"] and "up to 240 fps" in run["fast_scene"]
    assert "is in Sculpt Mode; switch to Object Mode" in run["sculpt_mode"]
    assert "absolute shape keys (Relative is off)" in run["absolute_keys"] and run["absolute_unchanged"]
    assert run["unchanged"] and run["strips"] == {}


def test_a_linked_head_is_refused_before_its_take_could_be_lost_on_save(observed):
    run = scenario(observed, "linked_head")
    assert "is linked from" in run["error"] and "character.blend" in run["error"] and "Make Local" in run["error"]
    assert not run["keys"]


def test_a_take_whose_key_was_deleted_by_hand_is_still_replaced(observed):
    run = scenario(observed, "stale_curves")
    assert run["orphans"] == ["Redo.pc01"]  # Blender kept the deleted key's curve
    assert run["error"] is None
    assert [n for n in run["names"] if n.startswith("Redo.")] == [f"Redo.pc{k:02d}" for k in range(4)]
    assert run["curves"] == ["Redo.pc00", "Redo.pc01", "Redo.pc02", "Redo.pc03", "Smile"]
    assert run["user_kept"]


def test_a_take_on_one_of_two_heads_sharing_an_action_moves_that_head_only(observed):
    run = scenario(observed, "shared_action")
    assert run["errors"] == [None, None]
    assert run["head_untouched"] and run["twin_kept"] and run["separate"]
    take = [f"Take.pc{k:02d}" for k in range(4)]
    assert run["twin_curves"] == ["Smile", *take] and run["head_curves"] == ["Smile", *take]
    assert run["twin_smile"] == [[1.0, 0.25], [40.0, 0.75]]  # its copy keeps the user's keys
    assert "it now has its own copy" in observed["stdout"]


def test_named_audio_wins_packed_sound_works_and_relative_paths_stay_relative(observed):
    needs_audio(observed)
    run = scenario(observed, "strip_choices")
    assert run["packed"] is None and run["packed_range"][0] == 40
    assert run["file_given"] is None and run["file_range"][0] == 5  # not the saved Sound Strip source
    assert run["file_strip"] == "//relative.wav"
    assert "both audio and sound_strip are given" in run["both"]


def test_a_trimmed_or_offset_strip_animates_what_it_plays_from_where_it_plays(observed):
    needs_audio(observed)
    run = scenario(observed, "trimmed_strips")
    assert "'Never' ends before its sound starts (Sound Offset 10 s)" in run["never"]
    for name, first in (("Line", 250), ("Late", 1012), ("Whole.001", 2060)):
        take = run[name]
        assert take["error"] is None and take["range"][0] == first
        assert take["motion"] > 0.002 and max(take["shown_error"].values()) < 1e-6, name
    assert run["deprecated"] == []  # in 5.3 the strip's frames are read by their new names


def test_the_take_can_start_at_the_playhead(observed):
    assert scenario(observed, "start_at_playhead")["start_frame"] == 57


def test_selected_strips_make_a_take_of_each_where_it_plays(observed):
    needs_audio(observed)
    run = scenario(observed, "selected_strips")
    assert "a transcript says what one recording says" in run["refused"]["transcript"]
    assert f"sound strip '{'L' * 60}': its take is named after it" in run["refused"]["long"]
    assert run["unchanged"]
    assert run["error"] is None
    assert run["takes"] == ["LineA", "LineB"]  # named after the strips; the unselected one has none
    assert run["motion"] > 0.002 and max(run["shown_error"].values()) < 1e-6  # both play, neither muted
    assert run["range"] == [20, 400 + run["frames"] - 1]
    assert run["report"].startswith("2 of 2 takes written") and run["strips"] == ["LineA", "LineB", "Other"]
    assert run["remade"] is None and run["takes_after"] == ["Intro", "LineA", "LineB"] and run["intro_seed"] == 9
    assert run["remade_both"] is None and run["both_heard"] == [True, True] and run["both_shown"] == [True, True]
    assert run["run_reports"] == [["WARNING", "the head's note"], ["INFO", "LineA made"], ["INFO", "LineB made"]]


def test_a_selected_meta_strip_makes_a_take_of_each_line_it_plays(observed):
    needs_audio(observed)
    run = scenario(observed, "selected_meta")
    assert run["selected"] == ["MetaA", "MetaB"] and run["error"] is None
    assert run["takes"] == ["MetaA", "MetaB"]
    assert abs(run["frames"]["MetaB"] - 100) <= 1 < run["whole"] - 100  # cut where the meta stops playing
    assert run["frames"]["MetaA"] > 100
    assert "'MetaHidden' is never heard: it lies outside the range of its meta strip 'Dialogue'" in run["hidden"]
    assert run["inside"] == ["MetaB"]
    if run["other_scene"]["shown"]:  # Blender 5.0+
        assert "the selected sound strips are in the scene 'Edit' that the sequencer shows" in run["other_scene"]["error"]
    else:
        assert "no sound strip is selected in the sequencer" in run["other_scene"]["error"]
    assert run["own_strip_muted"] is True and run["own_strip_after_delete"] is False


def test_a_checkpoint_changed_after_loading_is_checked_again(observed):
    run = scenario(observed, "replaced_checkpoint")
    assert run["first"] is None
    assert run["tampered"] is not None and "checksum does not match" in run["tampered"]


def test_a_style_name_in_use_is_refused_unless_replacing(observed):
    run = scenario(observed, "style_from_audio")
    assert "'From Audio' is already a style in" in run["bad"]["taken"] and "tick Replace" in run["bad"]["taken"]
    assert "--" not in run["bad"]["taken"]  # Blender's messages name Blender's switches, not the command line's
    assert "is a folder" in run["bad"]["folder"]
    assert run["unchanged"]
    assert run["replaced"] is None and run["changed"] and run["names_after"] == ["From Audio", "Second Voice"]
