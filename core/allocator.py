"""glibc's allocator, told to keep the memory a CPU run frees.

PyTorch on a CPU allocates and frees tensors of tens of megabytes at every step. glibc
serves each from a fresh ``mmap`` and unmaps it on free, so the next step faults the
same pages in and zeroes them again: training spent most of its time in the kernel and
generation ran at half speed (docs/benchmarks.md). Serving them from the heap and never
trimming it costs some resident memory, held until the process ends.

The ``diffusiontalker`` command applies this at start; Blender is left alone, since it
would change the allocator of the whole application.
"""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt parameters, from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
GLIBC_VARIABLES = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Stop glibc from returning freed blocks to the kernel; True if glibc took it.

    Does nothing where the user set either of glibc's own variables (their choice wins;
    ``MALLOC_MMAP_MAX_=65536`` restores glibc's default) or where the C library is not
    glibc: macOS and Windows have allocators of their own, and musl's ``mallopt``
    refuses every option.
    """
    if not sys.platform.startswith("linux") or any(name in os.environ for name in GLIBC_VARIABLES):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
