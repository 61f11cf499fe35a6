"""The command's allocator setting: memory a run frees stays with the process, unless the
user set glibc's variables. Each probe is a fresh interpreter, so the test process keeps
glibc's defaults."""

import os
import subprocess
import sys
import textwrap

import pytest

from diffusiontalker.allocator import GLIBC_VARIABLES

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator is Linux's")

PROBE = textwrap.dedent("""
    import os, sys
    import numpy as np
    from diffusiontalker.allocator import keep_freed_memory

    def resident():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    took = keep_freed_memory() if sys.argv[1] == "keep" else None
    before = resident()
    block = np.ones(64 << 20, dtype=np.uint8)  # a training batch's size, touched
    del block
    print(took, (resident() - before) >> 20)
""")


def probe(mode: str, **env: str) -> tuple[str, int]:
    clean = {name: value for name, value in os.environ.items() if name not in GLIBC_VARIABLES}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], env={**clean, **env},
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0], int(out[1])


def test_freed_memory_is_kept_only_once_the_setting_is_on():
    assert probe("plain")[1] < 16  # glibc's default: the 64 MB block went back to the kernel
    took, kept_mb = probe("keep")
    assert took == "True" and kept_mb > 48


def test_the_users_own_glibc_variables_win():
    took, kept_mb = probe("keep", MALLOC_MMAP_MAX_="65536")
    assert took == "False" and kept_mb < 16
