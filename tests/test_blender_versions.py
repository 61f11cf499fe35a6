"""The Blender tests again in each other Blender the manifest covers (scripts/blender_versions.txt).

.venv runs them in Blender 4.5. bpy is one Blender per Python environment, and 5.1+
embeds Python 3.13, so every other version has a venv of its own, made by
scripts/blender_versions.sh (``setup.sh --dev`` runs it for the "ci" ones). Under CI a missing
venv of a "ci" version fails: it must never pass as a covered version; a "manual" one (5.1+,
Python 3.13, a 4 GB torch) is reported as skipped until ``blender_versions.sh --all`` makes it.
"""

import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = [line.split() for line in (ROOT / "scripts" / "blender_versions.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
BLENDER_TESTS = sorted(f"tests/{p.name}" for p in (ROOT / "tests").glob("test_blender_*.py")
                       if p.name != Path(__file__).name)
# What a version may skip, and why; any other skip there fails.
CANNOT = {"4.2": "built without audio (Audaspace)"}


def allowed(bpy: str, outcome: tuple[str, str]) -> bool:
    kind, message = outcome
    reason = CANNOT.get(bpy.rsplit(".", 1)[0])
    return kind == "passed" or (kind == "skipped" and reason is not None and reason in message)


def outcomes(junit: Path) -> dict:
    """{test id: (outcome, message)} from a pytest JUnit report."""
    found = {}
    for case in ET.parse(junit).iter("testcase"):
        test = f"{case.get('classname')}::{case.get('name')}"
        found[test] = next(((child.tag, child.get("message") or "") for child in case
                            if child.tag in ("failure", "error", "skipped")), ("passed", ""))
    return found


@pytest.mark.parametrize("venv, bpy, when", [(v[0], v[1], v[4]) for v in VERSIONS], ids=[v[1] for v in VERSIONS])
def test_blender_tests_pass_in(venv, bpy, when, tmp_path):
    python = ROOT / venv / "bin" / "python"
    if not python.is_file():
        message = f"{venv} (Blender {bpy}) is missing: run bash scripts/blender_versions.sh"
        if os.environ.get("CI") and when == "ci":
            pytest.fail(message)
        pytest.skip(message + (" --all" if when == "manual" else ""))
    installed = subprocess.run([str(python), "-c", "from importlib.metadata import version; print(version('bpy'))"],
                               capture_output=True, text=True).stdout.strip()
    assert installed == bpy, f"{venv} holds bpy {installed or 'nothing'}: run bash scripts/blender_versions.sh"
    junit = tmp_path / "junit.xml"
    result = subprocess.run(
        [str(python), "-m", "pytest", *BLENDER_TESTS, "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         f"--basetemp={tmp_path / 'run'}", f"--junitxml={junit}"],
        capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert junit.is_file(), result.stdout[-4000:] + result.stderr[-4000:]
    found = outcomes(junit)
    bad = {test: outcome for test, outcome in found.items() if not allowed(bpy, outcome)}
    assert not bad, "\n".join(f"{test}: {kind}: {message[:500]}" for test, (kind, message) in bad.items())
    assert result.returncode == 0, result.stdout[-8000:]
