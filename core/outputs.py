"""Where results go, checked before the work that makes them.

Generation, evaluation and training can run for seconds to hours; a typo in an output
path must not cost that time and end in a traceback. Each check names the path and
what is wrong with it, and creates nothing.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

from .errors import DiffusionTalkerError


def _creatable(path: Path, what: str) -> None:
    """``path`` can be made: its nearest existing ancestor is a folder we may write in."""
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise DiffusionTalkerError(f"{what} {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise DiffusionTalkerError(f"{what} {path}: no permission to write in {ancestor}")


def writable_file(path: str | os.PathLike, what: str = "output") -> Path:
    return _writable(path, what, folder=False)


def writable_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    return _writable(path, what, folder=True)


def _writable(path, what: str, folder: bool) -> Path:
    """``path`` is (or can be made as) a folder, or a file, that we may write."""
    path = Path(path).absolute()
    try:
        if not path.exists():
            _creatable(path, what)
        elif path.is_dir() != folder:
            raise DiffusionTalkerError(f"{what} {path} is a file, not a folder" if folder else
                                       f"{what} {path} is a folder; give a file name")
        elif not os.access(path, os.W_OK | (os.X_OK if folder else 0)):
            raise DiffusionTalkerError(f"{what} {path}: no permission to " + ("write in it" if folder else
                                                                              "overwrite it"))
    except OSError as exc:  # e.g. a folder on the way that may not be searched
        raise DiffusionTalkerError(f"{what} {path}: {exc.strerror or exc}") from None
    return path


@contextmanager
def replacing(path: str | os.PathLike, what: str = "output"):
    """A temporary file beside ``path`` to write, put in its place only when the block
    ends without an error. A full disk, Ctrl-C or a failed write then leaves what was
    there (an earlier take, a checkpoint) whole and no half-written file behind; a rename
    within one folder cannot fail halfway."""
    path = Path(path).absolute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise DiffusionTalkerError(f"{what} {path}: {exc.strerror or exc}") from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make a shared result unreadable to others
        os.replace(tmp, path)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise DiffusionTalkerError(f"{what} {path} could not be written ({exc.strerror or exc}); "
                                       "what was there is unchanged") from None
        raise


def portable(path) -> str:
    """``path`` as a card records it: relative to the working folder when inside it, else
    its last part. A card travels with its checkpoint to other machines, where this
    machine's absolute paths mean nothing and say who made it where."""
    path = Path(path).absolute()
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.name
