"""The extension in real Blender (the ``bpy`` module): build, validate, install, generate.

Blender runs in a fresh subprocess (tests/blender/scenarios.py) because
BLENDER_USER_RESOURCES is read once at ``import bpy`` and Blender's state must
not leak into other tests; it records observations as JSON and the assertions
live here. One subprocess runs every scenario since each import of bpy and
torch costs seconds on a 2-core machine.
"""

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
        assert not name.startswith(("tests/", "docs/", "bench/", ".git", ".venv/", ".shim/", "wheels/"))
        assert "__pycache__" not in name and not name.endswith((".pyc", ".whl"))


@pytest.fixture(scope="module")
def observed(package, tmp_path_factory) -> dict:
    if not FLAME.is_file():
        pytest.skip(f"FLAME template not found at {FLAME} (see ../shared/flame/README.md)")
    work = tmp_path_factory.mktemp("blender")
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(work / "user"))
    out = work / "observed.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "blender" / "scenarios.py"), str(package), str(FLAME), str(WAV),
         str(work), str(out)],
        capture_output=True, text=True, timeout=900, env=env, cwd=work)
    assert result.returncode == 0 and out.is_file(), result.stdout[-4000:] + result.stderr[-4000:]
    data = json.loads(out.read_text())
    data["stdout"] = result.stdout + result.stderr
    return data


def scenario(observed, name) -> dict:
    value = observed[name]
    assert "crash" not in value, value.get("crash")
    return value


def test_installs_and_enables(observed):
    installed = scenario(observed, "install")
    assert installed["enabled"] == ["bl_ext.user_default.diffusiontalker"]
    assert installed["operator"] and installed["panel"]


def test_bad_input_is_refused_with_a_clear_message_and_nothing_changes(observed):
    bad = scenario(observed, "bad_input")
    assert "has 8 vertices but the checkpoint was trained on 5023-vertex meshes" in bad["wrong_mesh"]
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
    strip = run["strips"]["TakeA.audio"]
    assert strip["type"] == "SOUND" and strip["frame_start"] == 10 and Path(strip["file"]) == WAV
    assert run["user_before"] == run["user_after"] and run["smile_at_1"] == pytest.approx(0.25)
    assert run["last_take"] == "TakeA"


def test_basis_mode_replaces_the_take_and_is_close_to_the_model(observed):
    run = scenario(observed, "basis_and_takes")
    frames = run["expected_frames"]
    take_keys = [n for n in run["names"] if n.startswith("TakeA.")]
    assert take_keys == [f"TakeA.pc{k:02d}" for k in range(12)]  # the 152 per-frame keys are gone
    for name, keyed in run["curve_frames"].items():
        assert keyed == [float(f) for f in range(10, 10 + frames)], name
    assert run["motion"] > 0.002  # the test checkpoint really moves the face: > 2 mm somewhere (metres)
    assert run["shown_error"] < 0.25 * run["motion"]
    assert "basis error" in run["report"] and "mm RMS" in run["report"]
    assert run["user_before"] == run["user_after"]
    assert run["take_a_kept"]  # a second take leaves the first alone
    assert [n for n in run["all_names"] if n.startswith("TakeB.")] == [f"TakeB.pc{k:02d}" for k in range(6)]
    assert sorted(run["strips"]) == ["TakeA.audio", "TakeB.audio"]
    assert run["strips"]["TakeA.audio"]["channel"] != run["strips"]["TakeB.audio"]["channel"]
    assert run["frame_range"][0] == 100


def test_cancel_leaves_the_mesh_exactly_as_it_was(observed):
    run = scenario(observed, "cancel")
    assert run["error"] == "Cancelled" and run["threaded_error"] == "Cancelled"
    assert run["status"] == ["CANCELLED"] and run["reports"] == [[["INFO"], "Generation cancelled; nothing was changed"]]
    assert run["unchanged"] and "TakeC.audio" not in run["strips"]


def test_worker_thread_reports_progress_then_the_take(observed):
    run = scenario(observed, "threaded")
    assert run["progress"][-1] == 1.0 and len(run["progress"]) >= 2 and run["polls"] > 1
    assert run["status"] == "Denoising step 8 of 8" and run["result"] == ["FINISHED"]
    assert run["keys"] == ["Basis", "Smile", "Live.pc00", "Live.pc01", "Live.pc02", "Live.pc03"]


def test_existing_sound_strip_drives_the_take_without_a_duplicate(observed):
    run = scenario(observed, "strip_source")
    assert list(run["strips"]) == ["Dialogue"]
    assert run["frame_range"][0] == 50


def test_personal_identity_library_adds_a_style(observed):
    run = scenario(observed, "identity_library")
    assert run["search"] == ["My Voice"]
    assert run["error"] is None and "style My Voice" in run["report"]
    assert run["unknown"] is not None and "Nobody" in run["unknown"]


def test_unavailable_device_falls_back_to_cpu_with_a_warning(observed):
    run = scenario(observed, "device_fallback")
    if run["cuda_available"]:
        pytest.skip("this machine has CUDA, so there is no fallback to see")
    assert run["error"] is None
    assert "cuda is not available on this machine; using the CPU" in observed["stdout"]


def test_one_generation_is_one_undo_step(observed):
    run = scenario(observed, "undo")
    assert "Undone.pc00" in run["generated"]
    assert run["restored"] and "Undone.audio" not in run["strips"]


def test_every_setting_has_a_tooltip(observed):
    run = scenario(observed, "tooltips")
    assert run["counted"] > 20 and run["missing"] == []


def test_save_and_reload_keeps_everything(observed):
    run = scenario(observed, "round_trip")
    assert run["differs"] == []
    assert [n for n in run["names"] if n.startswith("Saved.")] == [f"Saved.pc{k:02d}" for k in range(8)]
    assert run["seed"] == 11 and run["last_take"] == "Saved"
