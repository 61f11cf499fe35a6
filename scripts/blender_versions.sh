#!/usr/bin/env bash
# Make the venvs of scripts/blender_versions.txt: real Blender of each version (bpy),
# the project's dependencies and pytest, for tests/test_blender_versions.py.
# Blender 5.1+ embeds Python 3.13, so its bpy needs a Python 3.13: PYTHON313, else
# python3.13 on PATH, else one installed by pyenv. torch for Python 3.11 is the CPU
# wheel pip finds on this machine's disk, as for .venv; for 3.13 pip takes PyPI's
# CUDA build (about 4 GB), which runs on the CPU all the same.
#   bash scripts/blender_versions.sh         # the versions CI tests (setup.sh --dev runs this)
#   bash scripts/blender_versions.sh --all   # and the 'manual' ones (5.1+: Python 3.13, a 4 GB torch)
set -euo pipefail
all=false
[ "${1:-}" = --all ] && all=true
cd "$(dirname "$0")/.."

find_python() {
  local version=$1 candidate
  [ "$version" = 3.13 ] && [ -n "${PYTHON313:-}" ] && { echo "$PYTHON313"; return; }
  for candidate in "python$version" "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/"$version"*/bin/"python$version"; do
    if "$candidate" -c pass 2>/dev/null; then echo "$candidate"; return; fi
  done
  echo "no Python $version found for the Blender that needs it (set PYTHON313 or install it)" >&2
  return 1
}

pip_install() {
  "$1/bin/python" -m pip install -q --disable-pip-version-check "${@:2}" </dev/null
}

while read -r venv bpy python extra when; do
  [ "$when" = ci ] || $all || continue
  [ -x "$venv/bin/python" ] || "$(find_python "$python")" -m venv "$venv"
  pip_install "$venv" torch==2.13.0  # first and pinned, as in setup.sh
  extras=()
  [ "$extra" = - ] || extras=("$extra")
  pip_install "$venv" -e . pytest "bpy==$bpy" "${extras[@]}"
  echo "Blender $bpy is set up in $venv" >&2
done < <(grep -v '^#' scripts/blender_versions.txt)
