"""The phonetic front-end at work while ``diffusiontalker generate`` loads the model.

PocketSphinx keeps Python's lock while it decodes, so on a thread the front-end and
torch's import took turns: aligning a 30 s transcript (1.7 s) and importing torch (1.1 s)
overlapped by almost nothing. In a fresh process on Linux the front-end therefore works
in a forked child, which shares everything imported so far and really runs beside the
import (the whole process 5.4 -> 4.1 s there; docs/benchmarks.md). A thread is kept
where a fork would be unsafe or useless: on Windows (no fork), on macOS (its system
libraries are not safe to use in a forked child), and wherever torch is already
imported (its thread pools do not survive a fork, and there is no import left to
overlap: tests, or a program calling ``cli.main`` twice).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import threading
import traceback
import warnings
from concurrent.futures import Future, wait

from .errors import Cancelled, DiffusionTalkerError
from .interrupts import handling

SETTLE_S = 30.0  # the longest a stopped front-end is waited for (it lets go within a second)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def forks() -> bool:
    """Whether the front-end would work in a child process here (see the module's docstring)."""
    return sys.platform == "linux" and "torch" not in sys.modules


class FrontEnd:
    """``phonetics.timed`` of an audio file, started at once and collected with ``result``."""

    def __init__(self, audio: str, transcript: str | None, max_seconds: float, quiet: bool):
        self._job = (audio, transcript, max_seconds, quiet)
        self._stop = threading.Event()
        self._future = Future()
        self._child = None  # the child's pid until it is reaped (under _reaping)
        self._reaping = threading.Lock()
        if not (forks() and self._forked()):  # a daemon thread, which Python's exit does not wait for (``stop`` does)
            threading.Thread(target=self._answer, args=(self._hear,), name="phonetic front-end", daemon=True).start()

    def result(self) -> tuple[list[tuple[float, float, str]], list[str]]:
        """(``phonetics.Timed``, warnings: words the aligner had to guess or left out); raises
        what the front-end raised."""
        return self._future.result()

    def stop(self) -> None:
        """Stop it (a thread by its event, a child by SIGTERM) and wait for it to let go,
        with Ctrl-C ignored meanwhile. Either stops between two of Whisper's tokens or two
        aligned pieces, within a second; a process that exits while a thread is inside
        torch or PocketSphinx aborts (a C++ runtime error), which is what a second Ctrl-C
        did while Python joined the thread."""
        with handling(signal.SIG_IGN):
            self._stop.set()
            with self._reaping:  # a child not yet reaped keeps its pid, which no other process can take
                if self._child is not None:
                    os.kill(self._child, signal.SIGTERM)
            wait([self._future], timeout=SETTLE_S)

    def _hear(self):
        from .audio import load_audio
        from .phonetics import progress_bar, timed

        audio, transcript, max_seconds, quiet = self._job
        said = []
        with progress_bar(quiet) as progress:
            wave = load_audio(audio, max_seconds=max_seconds)
            return timed(wave, transcript, said.append, self._stop, progress), said

    def _answer(self, work) -> None:
        try:
            self._future.set_result(work())
        except BaseException as exc:  # handed to whoever waits for the result
            self._future.set_exception(exc)

    def _forked(self) -> bool:
        """Whether the child started (a system out of processes or memory says no)."""
        read, write = os.pipe()
        sys.stderr.flush()  # else what is buffered would be written twice
        parent = os.getpid()
        try:
            # Python 3.12+ warns of any other thread; the only ones here are the idle
            # workers of numpy's OpenBLAS, which stops them before a fork (pthread_atfork)
            # and starts them again when next needed.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return False
        if pid == 0:
            os.close(read)
            self._in_child(write, parent)
        os.close(write)
        self._child = pid
        threading.Thread(target=self._answer, args=(lambda: self._collect(read),), name="phonetic front-end",
                         daemon=True).start()
        return True

    def _in_child(self, write: int, parent: int) -> None:
        """Hear, send the answer as JSON, and leave without Python's exit (the parent's
        atexit work and buffers are the parent's). Ctrl-C is the parent's to decide on;
        its SIGTERM (``stop``) ends the work at the next piece, the progress bar closed,
        and so does the parent's end, however it ends (Linux's parent-death signal)."""
        def stopped(signum, frame):
            self._stop.set()
            raise Cancelled("stopped")

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, stopped)
        with contextlib.suppress(AttributeError, OSError):  # a C library without prctl: stop() still works
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it ended before the signal was asked for
            os._exit(0)
        try:
            timed, said = self._hear()
            answer = {"phones": timed.rows, "recognised_from": timed.recognised_from, "said": said}
        except DiffusionTalkerError as exc:
            answer = {"refused": str(exc), "cancelled": isinstance(exc, Cancelled)}
        except BaseException:
            answer = {"failed": traceback.format_exc()}
        try:
            with os.fdopen(write, "w", encoding="utf-8") as pipe:
                json.dump(answer, pipe)
            sys.stderr.flush()
        finally:
            os._exit(0)

    def _collect(self, read: int):
        """The child's answer, once it has ended."""
        with os.fdopen(read, encoding="utf-8") as pipe:
            text = pipe.read()
        with self._reaping:
            _, status = os.waitpid(self._child, 0)
            self._child = None
        if not text:
            raise DiffusionTalkerError(f"the phonetic front-end's process ended without an answer "
                                       f"(exit status {os.waitstatus_to_exitcode(status)})")
        answer = json.loads(text)
        if "phones" in answer:
            from .phonetics import Timed

            return Timed([tuple(row) for row in answer["phones"]], answer["recognised_from"]), answer["said"]
        if "refused" in answer:
            raise (Cancelled if answer["cancelled"] else DiffusionTalkerError)(answer["refused"])
        raise RuntimeError(f"the phonetic front-end failed in its process:\n{answer['failed']}")
