"""The errors a user can cause, each with a message meant to be shown as it is.

The CLI prints ``str(exc)`` on one line and exits non-zero; the Blender operator
reports it. Anything that is not a ``DiffusionTalkerError`` is a bug and keeps its
traceback.
"""


class DiffusionTalkerError(Exception):
    """Base class: bad input or a refused file, never a programming error."""


def restated(exc: DiffusionTalkerError, message: str) -> DiffusionTalkerError:
    """``exc`` saying ``message`` instead, its class and attributes kept: a caller adds what
    the problem is with (which take, which style), and some errors take more than a
    message (``phonetics.NotPlaced``), so they cannot be made anew from one."""
    exc.args = (message,)
    return exc


class AudioError(DiffusionTalkerError):
    """Audio that is missing, unreadable, empty, silent, non-finite or too long."""


class CheckpointError(DiffusionTalkerError):
    """A checkpoint that is missing, truncated, tampered with or does not fit."""


class Cancelled(DiffusionTalkerError):
    """The user stopped a generation; nothing was written."""


def check_cancel(cancel) -> None:
    """Stop long work between two of its steps once the user asked (``cancel``: a threading.Event or None)."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled; nothing was written")


class StyleError(DiffusionTalkerError):
    """A talking style that is not in the identity library."""
