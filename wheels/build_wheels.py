"""Download the wheels the extension needs and build one extension zip per platform.

Blender extensions cannot pip-install at run time, so torch and the core's other
dependencies ship inside the zip as unmodified wheels for Blender's own Python
(3.11 in Blender 4.2-4.5). numpy is left out: Blender bundles its own, and a
second copy in the shared site-packages would shadow it for every add-on.

usage (from anywhere; needs network and ~1 GB of disk):
  python wheels/build_wheels.py                       # all platforms -> dist/*.zip
  python wheels/build_wheels.py --platforms linux-x64 --no-download
The manifest's ``wheels`` and ``platforms`` lists are rewritten to match what is in
wheels/; run ``git checkout blender_manifest.toml`` afterwards to go back to the
wheel-less development manifest.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / "wheels"
MANIFEST = ROOT / "blender_manifest.toml"
PYTHON = "3.11"
# What core/ imports at run time (pyproject's dependencies, less numpy; see above).
REQUIREMENTS = ["torch==2.13.0", "soundfile>=0.12", "av>=12", "soxr>=0.3", "safetensors>=0.4", "tqdm>=4.66"]
# Blender platform -> (pip platform tags, extra index). Linux and Windows take torch from the
# CPU index: PyPI's Linux torch pulls ~3 GB of CUDA libraries, too big for an extension.
PLATFORMS = {
    "linux-x64": (["manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64"],
                  "https://download.pytorch.org/whl/cpu"),
    "windows-x64": (["win_amd64"], "https://download.pytorch.org/whl/cpu"),
    "macos-arm64": (["macosx_11_0_arm64", "macosx_12_0_arm64", "macosx_14_0_arm64"], None),
}

TAG_MARKERS = {"linux-x64": ("linux", "x86_64"), "windows-x64": ("win_amd64",), "macos-arm64": ("macosx", "arm64")}


def download(platform: str) -> None:
    tags, index = PLATFORMS[platform]
    command = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--dest", str(WHEELS),
               "--python-version", PYTHON, "--implementation", "cp", "--abi", "cp311", "--abi", "abi3",
               "--abi", "none", *[f"--platform={tag}" for tag in tags], *REQUIREMENTS]
    if index:
        command += ["--extra-index-url", index]
    subprocess.run(command, check=True)


def platform_of(wheel: str) -> str | None:
    """The Blender platform a wheel is for; None for pure-Python wheels (every platform)."""
    tag = wheel[:-4].rsplit("-", 1)[-1]
    if tag == "any":
        return None
    for platform, markers in TAG_MARKERS.items():
        if all(marker in tag for marker in markers):
            return platform
    raise SystemExit(f"{wheel}: no Blender platform for tag {tag!r}")


def write_manifest(platforms: list[str]) -> list[str]:
    for wheel in WHEELS.glob("numpy-*.whl"):
        wheel.unlink()
    wheels = sorted(w.name for w in WHEELS.glob("*.whl") if platform_of(w.name) in (None, *platforms))
    if not wheels:
        raise SystemExit(f"no wheels in {WHEELS}; run without --no-download first")
    listing = "wheels = [\n" + "".join(f'  "./wheels/{w}",\n' for w in wheels) + "]"
    text = re.sub(r"^wheels = \[.*?\]", listing, MANIFEST.read_text(), count=1, flags=re.S | re.M)
    platform_line = "platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]"
    if re.search(r"^platforms = ", text, flags=re.M):
        text = re.sub(r"^platforms = .*$", platform_line, text, count=1, flags=re.M)
    else:
        text = text.replace("\nwheels = [", f"\n{platform_line}\nwheels = [", 1)
    MANIFEST.write_text(text)
    return wheels


def blender_ext_command() -> list[str]:
    """Blender's own builder: a `blender` on PATH, else the copy inside the bpy module."""
    if shutil.which("blender"):
        return ["blender", "--factory-startup", "--command", "extension"]
    spec = importlib.util.find_spec("bpy")
    if spec and spec.submodule_search_locations:
        found = sorted(Path(spec.submodule_search_locations[0]).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return [sys.executable, str(found[-1])]
    raise SystemExit("need Blender: put `blender` on PATH or pip install bpy")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platforms", nargs="+", choices=sorted(PLATFORMS), default=sorted(PLATFORMS))
    parser.add_argument("--no-download", action="store_true", help="use the wheels already in wheels/")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    if not args.no_download:
        for platform in args.platforms:
            download(platform)
    wheels = write_manifest(args.platforms)
    print(f"manifest lists {len(wheels)} wheels for {', '.join(args.platforms)}")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    ext = blender_ext_command()
    subprocess.run([*ext, "validate", str(ROOT)], check=True)
    subprocess.run([*ext, "build", "--split-platforms", "--source-dir", str(ROOT),
                    "--output-dir", str(args.output_dir)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
