#!/usr/bin/env bash
# Set up .venv for DiffusionTalker. torch is installed first and pinned, so that pip
# takes the local CPU build instead of pulling a multi-GB CUDA build for a dependency.
#   bash scripts/setup.sh          # run the tool
#   bash scripts/setup.sh --dev    # also tests, training data (espeak-ng), real Blender (bpy) and bpy type stubs,
#                                  # and the other tested Blender versions (scripts/blender_versions.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"

if [ -n "$extras" ] && ! ldconfig -p 2>/dev/null | grep -q libespeak-ng; then
  # SynthTalk speaks through libespeak-ng (Debian/Ubuntu package espeak-ng).
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null
  else
    echo "note: install espeak-ng (e.g. 'sudo apt-get install espeak-ng') to build SynthTalk data" >&2
  fi
fi
[ -n "$extras" ] && bash scripts/blender_versions.sh
echo "DiffusionTalker is set up in .venv" >&2
