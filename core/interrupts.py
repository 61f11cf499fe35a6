"""Ctrl-C (and a scheduler's SIGTERM) handled for a while: by a long step that must end
before it stops, or ignored while a stopped worker lets go.

Only Python's main thread may set signal handlers; called elsewhere (a test's thread, an
embedding program's worker) these change nothing.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


@contextmanager
def handling(handler, *signums: int):
    """These signals (SIGINT when none is named) go to ``handler`` inside the block and to
    the handlers before it afterwards; yields those previous handlers by signal (empty off
    the main thread, where nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield {}
        return
    previous = {signum: signal.signal(signum, handler) for signum in signums or (signal.SIGINT,)}
    try:
        yield previous
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)
