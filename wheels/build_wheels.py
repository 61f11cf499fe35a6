"""Build the extension's release zips: one per variant, platform and Python, with their wheels inside.

Blender extensions cannot pip-install at run time, so torch and the core's other
dependencies ship inside the zip as unmodified wheels. Blender 4.2-5.0 run Python 3.11
and Blender 5.1+ Python 3.13; a zip carries one Python's wheels and a Blender version
range to match, because torch is most of a zip and a user needs only one copy of it
(Blender's installer would pick the matching wheels out of a zip holding both, at
twice the download).

pip judges dependency markers against the machine it runs on, not the target, so a
single `pip download --platform` of everything asks a Linux host for torch's Linux-only
CUDA libraries on Windows and fails. Instead each wheel is fetched alone (`--no-deps`)
and its METADATA's requirements are evaluated here against the target platform and
Python, level by level, starting from pyproject's dependencies. Downloads land in a
cache outside the repository; the zips are built from a staged copy of only what runs
inside Blender, so the repository is never written to.

usage (from anywhere):
  python wheels/build_wheels.py                                  # cpu: every platform, Python 3.11 and 3.13
  python wheels/build_wheels.py --variant cuda --platforms linux-x64 --pythons 3.11
  python wheels/build_wheels.py --platforms linux-x64 --no-download   # only what the cache holds
"""

from __future__ import annotations

import argparse
import ast
import email
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]
PYPI = "https://pypi.org/simple"
# Blender's Python -> the Blender versions that run it: [min, max); None: up to the source
# manifest's own blender_version_max, the first Blender not tested (tests/test_blender_versions.py).
PYTHONS = {"3.11": ("4.2.0", "5.1.0"), "3.13": ("5.1.0", None)}
# Blender platform -> pip --platform tags (pip widens macOS and manylinux2014 to older ones;
# Blender needs glibc 2.28) and the values of the dependency markers a wheel's METADATA may test.
PLATFORMS = {
    "linux-x64": (["manylinux2014_x86_64", *(f"manylinux_2_{minor}_x86_64" for minor in range(17, 29))],
                  {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix"}),
    "windows-x64": (["win_amd64"],
                    {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64", "os_name": "nt"}),
    "macos-arm64": (["macosx_14_0_arm64"],
                    {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64", "os_name": "posix"}),
}
# (variant, platform) -> the only index torch is taken from. PyPI's Linux torch is the CUDA
# build and its Windows and macOS torch the CPU builds; Windows CUDA builds live on
# PyTorch's own index, with the CUDA libraries inside the torch wheel.
TORCH_INDEX = {
    ("cpu", "linux-x64"): "https://download.pytorch.org/whl/cpu",
    ("cpu", "windows-x64"): PYPI,
    ("cpu", "macos-arm64"): PYPI,
    ("cuda", "linux-x64"): PYPI,
    ("cuda", "windows-x64"): "https://download.pytorch.org/whl/cu128",
}
VARIANTS = sorted({variant for variant, _ in TORCH_INDEX})
# Never shipped: numpy because Blender ships its own and a second copy would shadow it for
# every add-on; setuptools because torch needs it only to compile C++ extensions (inference
# runs without it) and its wheel installs a .pth file; sounddevice (pocketsphinx's one
# requirement) because pocketsphinx imports it only to listen to a microphone, the add-on
# reads files, and on Linux it would need PortAudio, which Blender does not ship.
LEFT_OUT = {"numpy", "setuptools", "sounddevice"}
# A CPU torch wheel is ~100-250 MB; a CUDA build that slipped in is several times that.
CPU_TORCH_MAX_MB = 400
CUDA_REQUIREMENT = re.compile(r"^(nvidia-|cuda-)")


class BuildError(Exception):
    """One target cannot be built; the message says why in one line."""


@dataclass(frozen=True)
class Target:
    variant: str
    platform: str
    python: str

    @property
    def name(self) -> str:
        return f"{self.variant}-{self.platform}-python{self.python}"

    @property
    def markers(self) -> dict[str, str]:
        return {**PLATFORMS[self.platform][1], "python_version": self.python, "python_full_version": f"{self.python}.0",
                "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def runtime_files() -> list[Path]:
    """What ships, relative to the repository: the entry point, the manifest, the add-on, core's
    assets and the core modules the add-on imports (lazily too), so training-only code stays out."""
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts): p
               for p in [*ROOT.glob("diffusiontalker_addon/**/*.py"), *ROOT.glob("core/**/*.py")]}
    todo = [name for name in modules if name.startswith("diffusiontalker_addon")]
    reached: set[str] = set()
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        package = name.split(".")[:-1]  # a package's own __init__ and its modules import alike
        for node in ast.walk(ast.parse(modules[name].read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
                for target in [base, *(base + [alias.name] for alias in node.names)]:
                    # importing a.b.c runs a/__init__ and a/b/__init__ first
                    todo += [m for i in range(1, len(target) + 1)
                             for m in (".".join(target[:i]), ".".join(target[:i] + ["__init__"])) if m in modules]
    shipped = [Path("__init__.py"), Path("blender_manifest.toml"),
               *(p.relative_to(ROOT) for p in sorted((ROOT / "core" / "assets").iterdir()) if p.is_file())]
    return shipped + sorted(modules[name].relative_to(ROOT) for name in reached)


def requirements_of(wheel: Path, target: Target, extras: frozenset[str] = frozenset()) -> list[Requirement]:
    """The wheel's Requires-Dist lines that apply on the target (with the given extras asked for)."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(name))
    found = []
    for line in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({**target.markers, "extra": e}) for e in {"", *extras}):
            found.append(requirement)
    return found


def check_torch(wheel: Path, target: Target) -> None:
    """Refuse a torch that is not the variant's build: a CUDA torch in a CPU zip is gigabytes
    the user did not ask for, and a CPU torch in a CUDA zip silently runs on the CPU."""
    version = parse_wheel_filename(wheel.name)[1]
    cuda_needs = sorted(str(r.name) for r in requirements_of(wheel, target) if CUDA_REQUIREMENT.match(r.name))
    megabytes = wheel.stat().st_size / 2**20
    evidence = []
    if (version.local or "").startswith("cu"):
        evidence.append(f"version {version}")
    if cuda_needs:
        evidence.append(f"requires {', '.join(cuda_needs)}")
    if target.variant == "cpu":
        if megabytes > CPU_TORCH_MAX_MB:
            evidence.append(f"{megabytes:.0f} MB > {CPU_TORCH_MAX_MB} MB")
        if evidence:
            raise BuildError(f"{wheel.name} is a CUDA build ({'; '.join(evidence)}), not the CPU build the cpu "
                             f"variant ships; its index served the wrong torch, or the cache holds one")
    elif not evidence:
        raise BuildError(f"{wheel.name} is a CPU build (no +cu version, no CUDA libraries required): the cuda "
                         f"variant refuses it rather than ship a torch that cannot use the GPU")


def unreachable(index: str, project: str) -> str | None:
    """Why the index does not answer within seconds, or None if it does (pip would retry for minutes)."""
    try:
        urllib.request.urlopen(f"{index.rstrip('/')}/{project}/", timeout=10).close()
    except urllib.error.HTTPError:
        return None  # it answered; pip says what it lacks
    except OSError as exc:
        return str(getattr(exc, "reason", exc))
    return None


def pip_download(target: Target, requirements: list[Requirement], index: str, dest: Path) -> None:
    wanted = [f"{r.name}{r.specifier}" for r in requirements]
    if (why := unreachable(index, canonicalize_name(requirements[0].name))) is not None:
        raise BuildError(f"cannot reach {index} ({why}); it serves {', '.join(wanted)}. "
                         f"Put those wheels into {dest} to build from the cache")
    abi = "cp" + target.python.replace(".", "")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", str(dest),
               "--index-url", index, "--timeout", "15", "--retries", "1", "--disable-pip-version-check",
               "--python-version", target.python, "--implementation", "cp", "--abi", abi, "--abi", "abi3",
               "--abi", "none", *(f"--platform={tag}" for tag in PLATFORMS[target.platform][0]), *wanted]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.startswith("ERROR")] or ["pip failed"]
        raise BuildError(f"pip download from {index}: {lines[-1]}")


def cached_wheel(requirement: Requirement, folder: Path) -> Path | None:
    """The newest wheel in folder that satisfies the requirement."""
    found = []
    for wheel in folder.glob("*.whl"):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        if name == canonicalize_name(requirement.name) and requirement.specifier.contains(version):
            found.append((version, wheel))
    return max(found)[1] if found else None


def resolve(target: Target, cache: Path, download: bool) -> list[Path]:
    """Every wheel the target needs, from the cache (after downloading what is missing): torch and
    pyproject's dependencies, then what their METADATA requires on the target, level by level."""
    folder = cache / target.name
    folder.mkdir(parents=True, exist_ok=True)
    project = [Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    level = sorted(project, key=lambda r: r.name != "torch")
    chosen: dict[str, tuple[Path, frozenset[str]]] = {}
    while level:
        wanted = [r for r in level if canonicalize_name(r.name) not in LEFT_OUT]
        missing = [r for r in wanted if canonicalize_name(r.name) not in chosen and cached_wheel(r, folder) is None]
        if missing and not download:
            raise BuildError(f"not in the cache {folder}: {', '.join(str(r) for r in missing)}; "
                             f"run without --no-download")
        torch_index = TORCH_INDEX[target.variant, target.platform]
        for index, group in ((torch_index, [r for r in missing if r.name == "torch"]),
                             (PYPI, [r for r in missing if r.name != "torch"])):
            if group:
                pip_download(target, group, index, folder)
        level = []
        for requirement in wanted:
            key = canonicalize_name(requirement.name)
            extras = frozenset(requirement.extras)
            if key in chosen:
                wheel, had = chosen[key]
                if not requirement.specifier.contains(parse_wheel_filename(wheel.name)[1]):
                    raise BuildError(f"{wheel.name} does not satisfy {requirement}, which another wheel requires")
                if extras <= had:
                    continue
                extras |= had
            else:
                wheel = cached_wheel(requirement, folder)
                if wheel is None:
                    raise BuildError(f"pip downloaded no wheel for {requirement} into {folder}")
                if key == "torch":
                    check_torch(wheel, target)
            chosen[key] = (wheel, extras)
            level += requirements_of(wheel, target, extras)
    return sorted(wheel for wheel, _ in chosen.values())


def write_manifest(stage: Path, target: Target, wheels: list[Path]) -> None:
    """The staged manifest: its wheels, its one platform and the Blender versions that run its Python."""
    path = stage / "blender_manifest.toml"
    version_min, version_max = PYTHONS[target.python]
    text = path.read_text()
    tested = re.search(r'^blender_version_max = "(.*?)"', text, flags=re.M)
    version_max = version_max or (tested.group(1) if tested else None)
    listing = "wheels = [\n" + "".join(f'  "./wheels/{w.name}",\n' for w in wheels) + "]"
    text = re.sub(r"^wheels = \[.*?\]", lambda _: listing, text, count=1, flags=re.S | re.M)
    versions = f'blender_version_min = "{version_min}"\n' + (f'blender_version_max = "{version_max}"\n'
                                                             if version_max else "")
    text = re.sub(r'^blender_version_min = ".*?"\n(blender_version_max = ".*?"\n)?', lambda _: versions, text,
                  count=1, flags=re.M)
    text = text.replace("\nwheels = [", f'\nplatforms = ["{target.platform}"]\nwheels = [', 1)
    path.write_text(text)


def stage(target: Target, wheels: list[Path], into: Path) -> None:
    for relative in runtime_files():
        (into / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, into / relative)
    (into / "wheels").mkdir()
    for wheel in wheels:
        shutil.copy2(wheel, into / "wheels" / wheel.name)
    write_manifest(into, target, wheels)


def blender_ext_command() -> list[str]:
    """Blender's own builder: a `blender` on PATH, else the copy inside the bpy module."""
    if shutil.which("blender"):
        return ["blender", "--factory-startup", "--command", "extension"]
    spec = importlib.util.find_spec("bpy")
    if spec and spec.submodule_search_locations:
        found = sorted(Path(spec.submodule_search_locations[0]).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return [sys.executable, str(found[-1])]
    raise BuildError("need Blender: put `blender` on PATH or pip install bpy")


def build(target: Target, cache: Path, output: Path, download: bool) -> Path:
    wheels = resolve(target, cache, download)
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    zip_path = output / f"{manifest['id']}-{manifest['version']}-{target.name}.zip"
    with tempfile.TemporaryDirectory(prefix="diffusiontalker-stage-") as tmp:
        staged = Path(tmp) / manifest["id"]
        stage(target, wheels, staged)
        ext = blender_ext_command()
        for command in (["validate", str(staged)],
                        ["build", "--source-dir", str(staged), "--output-filepath", str(zip_path)]):
            result = subprocess.run([*ext, *command], capture_output=True, text=True)
            if result.returncode != 0:
                raise BuildError(f"blender_ext {command[0]}: {(result.stdout + result.stderr).strip()[-500:]}")
    return zip_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=VARIANTS, default="cpu")
    parser.add_argument("--platforms", nargs="+", choices=sorted(PLATFORMS),
                        help="default: every platform the variant is built for")
    parser.add_argument("--pythons", nargs="+", choices=sorted(PYTHONS), default=sorted(PYTHONS))
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "diffusiontalker-wheels")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist")
    parser.add_argument("--no-download", action="store_true", help="use only the wheels already in the cache")
    args = parser.parse_args()
    platforms = args.platforms or sorted(p for v, p in TORCH_INDEX if v == args.variant)
    unbuilt = [p for p in platforms if (args.variant, p) not in TORCH_INDEX]
    if unbuilt:
        parser.error(f"the {args.variant} variant is not built for {', '.join(unbuilt)}")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    built, failed = [], []
    for target in (Target(args.variant, p, py) for p in platforms for py in args.pythons):
        print(f"{target.name}: building", flush=True)
        try:
            zip_path = build(target, args.cache_dir.expanduser(), args.output_dir, not args.no_download)
        except BuildError as exc:
            failed.append(f"{target.name}: {exc}")
        else:
            built.append(f"{zip_path} ({zip_path.stat().st_size / 2**20:.0f} MiB)")
    print("\n".join(["built:", *built] if built else ["built: nothing"]))
    if failed:
        print("\n".join(["failed:", *failed]), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
