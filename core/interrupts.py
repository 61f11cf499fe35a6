"""Ctrl-C handled for a while: by a long step that must end before it stops, or ignored
while a stopped worker lets go.

Only Python's main thread may set signal handlers; called elsewhere (a test's thread, an
embedding program's worker) these change nothing.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


@contextmanager
def sigint(handler):
    """SIGINT goes to ``handler`` inside the block and to the handler before it afterwards;
    yields that previous handler (None off the main thread, where nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield previous
    finally:
        signal.signal(signal.SIGINT, previous)
