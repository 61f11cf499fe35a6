"""glibc's allocator, told to keep the memory a CPU run frees.

PyTorch on a CPU allocates and frees tensors of tens of megabytes at every step. glibc
serves each from a fresh ``mmap`` and unmaps it on free, so the next step faults the
same pages in and zeroes them again: training spent most of its time in the kernel and
generation ran at half speed (docs/benchmarks.md). Serving them from the heap and never
trimming it costs some resident memory, held until the process ends.

The ``diffusiontalker`` command applies this at start. Blender gets it only for work
that blocks Blender meanwhile (``freed_memory_kept``), and glibc's default values back
after, since the setting is the whole application's. (Any such call leaves glibc's
adaptive mmap threshold off for good: afterwards blocks over 128 KiB are always mapped
afresh, as at start-up.)
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

# mallopt parameters, from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_KEEP = {_M_MMAP_MAX: 0, _M_TRIM_THRESHOLD: 2**31 - 1}
_DEFAULTS = {_M_MMAP_MAX: 65536, _M_TRIM_THRESHOLD: 128 * 1024}
GLIBC_VARIABLES = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")


def _mallopt():
    """glibc's ``mallopt``, or None where the user set glibc's variables (their choice
    wins) or the C library is not glibc."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in GLIBC_VARIABLES):
        return None
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt


def keep_freed_memory() -> bool:
    """Stop glibc from returning freed blocks to the kernel; True if glibc took it.

    Does nothing where the user set either of glibc's own variables (their choice wins;
    ``MALLOC_MMAP_MAX_=65536`` restores glibc's default) or where the C library is not
    glibc: macOS and Windows have allocators of their own, and musl's ``mallopt``
    refuses every option.
    """
    return _apply(_mallopt(), _KEEP)


def _apply(mallopt, values: dict) -> bool:
    """Set every option (a list, not a generator: one refused does not skip the rest)."""
    return mallopt is not None and all([bool(mallopt(option, value)) for option, value in values.items()])


@contextlib.contextmanager
def freed_memory_kept():
    """``keep_freed_memory`` for a block of work, then glibc's default values again (the
    next free hands the kept memory back). For a host application that waits on the
    block; not for nesting."""
    mallopt = _mallopt()
    kept = _apply(mallopt, _KEEP)
    try:
        yield kept
    finally:
        if kept:
            _apply(mallopt, _DEFAULTS)
