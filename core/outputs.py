"""Where results go, checked before the work that makes them.

Generation, evaluation and training can run for seconds to hours; a typo in an output
path must not cost that time and end in a traceback. Each check names the path and
what is wrong with it, and creates nothing.
"""

from __future__ import annotations

import os
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
    return _checked(_file, path, what)


def writable_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    return _checked(_folder, path, what)


def _checked(check, path, what: str) -> Path:
    path = Path(path).absolute()
    try:
        check(path, what)
    except OSError as exc:  # e.g. a folder on the way that may not be searched
        raise DiffusionTalkerError(f"{what} {path}: {exc.strerror or exc}") from None
    return path


def _file(path: Path, what: str) -> None:
    if path.is_dir():
        raise DiffusionTalkerError(f"{what} {path} is a folder; give a file name")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise DiffusionTalkerError(f"{what} {path}: no permission to overwrite it")
    else:
        _creatable(path, what)


def _folder(path: Path, what: str) -> None:
    if path.exists() and not path.is_dir():
        raise DiffusionTalkerError(f"{what} {path} is a file, not a folder")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise DiffusionTalkerError(f"{what} {path}: no permission to write in it")
    else:
        _creatable(path, what)
