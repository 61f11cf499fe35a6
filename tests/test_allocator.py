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
    from diffusiontalker.allocator import freed_memory_kept, keep_freed_memory

    def resident():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def held_after_use():
        before = resident()
        block = np.ones(64 << 20, dtype=np.uint8)  # a training batch's size, touched
        del block
        return (resident() - before) >> 20

    def mapped_while_held():  # MB of a 64 MB block that glibc serves by mmap (hblkhd), not from its heap
        import ctypes

        class Info(ctypes.Structure):
            _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                        "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

        mallinfo2 = ctypes.CDLL(None).mallinfo2
        mallinfo2.restype = Info
        before = mallinfo2().hblkhd
        block = np.ones(64 << 20, dtype=np.uint8)
        mapped = (mallinfo2().hblkhd - before) >> 20
        del block
        return mapped

    if sys.argv[1] == "scoped":  # kept inside the block; after it, glibc's default values again
        with freed_memory_kept() as took:
            inside, mapped_inside = held_after_use(), mapped_while_held()
        print(took, inside, held_after_use(), mapped_inside, mapped_while_held())
    else:
        took = keep_freed_memory() if sys.argv[1] == "keep" else None
        print(took, held_after_use())
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


def test_a_block_keeps_freed_memory_and_hands_it_back_after():
    clean = {name: value for name, value in os.environ.items() if name not in GLIBC_VARIABLES}
    took, inside, after, mapped_inside, mapped_after = subprocess.run(
        [sys.executable, "-c", PROBE, "scoped"], env=clean, capture_output=True, text=True, check=True).stdout.split()
    assert took == "True" and int(inside) > 48 and int(mapped_inside) == 0  # served from the heap, kept
    assert int(after) < -48  # the next use and free after the block gave the kept 64 MB back
    assert int(mapped_after) >= 64  # and large blocks are mapped afresh again, as glibc does by default


def test_the_users_own_glibc_variables_win():
    took, kept_mb = probe("keep", MALLOC_MMAP_MAX_="65536")
    assert took == "False" and kept_mb < 16
