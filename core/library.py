"""The style library: the user's own talking styles, kept beside a checkpoint.

A style made by ``new-style`` (or New Style in Blender) is a point in one checkpoint's
identity space (the paper's "talking identity"), stored as a file pair (safetensors +
JSON) that records which checkpoint it belongs to. Everything that reads, checks or
extends such a file is here, so that making styles, generating with them and the
Blender panel share one set of rules.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import numpy as np

from .card import LIBRARY_FORMAT, paths_of
from .errors import CheckpointError, DiffusionTalkerError

# torch (through .checkpoint) is imported only by what reads or writes embeddings: Blender's
# main thread checks names and paths with this module, and importing torch there freezes it.

def check_library_fits(path, library_doc: dict, checkpoint_sha256: str) -> None:
    """A style is a point in one model's identity space; in any other model's (a
    fine-tune, a newer demo) it is an arbitrary one, so a library made for another
    checkpoint is refused rather than used."""
    made_for = str(library_doc.get("checkpoint", "an unknown checkpoint"))
    if made_for.rpartition("sha256:")[2] != checkpoint_sha256:
        raise DiffusionTalkerError(f"{paths_of(path)[1]} was made for {made_for}, not for this checkpoint "
                                   f"(sha256:{checkpoint_sha256}); make the styles again for this checkpoint, into "
                                   "a new library")


def save_library(path, names: list[str], embeddings: np.ndarray, checkpoint_id: str, sources: dict) -> None:
    import torch

    from .checkpoint import save_pair

    save_pair(path, {"embeddings": torch.from_numpy(np.asarray(embeddings, np.float32))},
              {"names": names, "checkpoint": checkpoint_id, "sources": sources}, LIBRARY_FORMAT)


def check_style_name(name: str) -> str:
    """``name`` stripped, if a style can be picked by it: numbers pick styles by index and
    'auto' asks for the style to be found from the voice."""
    name = unicodedata.normalize("NFC", name.strip())  # "Zoë" typed two ways is one name
    if not name:
        raise DiffusionTalkerError("give the new style a name")
    if name.isdigit() or name.lower() == "auto":
        raise DiffusionTalkerError(f"'{name}' cannot name a style: numbers pick styles by index and 'auto' means "
                                   "'find the style from the voice'; choose another name")
    return name


def check_library_path(library, what: str) -> None:
    """A library is a file pair named by the user; given a folder, its files would land
    beside it, under the folder's name."""
    if Path(library).is_dir() or str(library).endswith(("/", os.sep)):
        raise DiffusionTalkerError(f"{what} {library} is a folder; name the library file in it, "
                                   f"e.g. {Path(library) / 'mine'} (mine.json + mine.safetensors)")


def check_new_name(gen, name: str, library, replace: bool = False, how_to_replace: str = "") -> str:
    """``name`` stripped, once sure that a personal style by it never shadows a trained
    one, replaces one of the library only when asked to (a fitted style can cost minutes
    to remake), and joins only a library of this checkpoint's identity space
    (``check_library_fits``). ``how_to_replace`` names the caller's own switch for it."""
    return _checked_name(gen, name, library, _present(gen, library), replace, how_to_replace)


def _present(gen, library) -> tuple[list[str], np.ndarray, dict]:
    """(names, rows, card) of the library as it is, read whole (sha256 checked, so a broken
    file is told before any work), or empty where there is none yet."""
    if paths_of(library)[1].is_file():
        return load_library(library)
    return [], np.zeros((0, gen.model.config["d_identity"]), np.float32), {}


def _checked_name(gen, name: str, library, present: tuple, replace: bool, how_to_replace: str = "") -> str:
    """``check_new_name`` against the library as ``_present`` read it."""
    name = check_style_name(name)
    if name in gen.model.bank.names:
        raise DiffusionTalkerError(f"'{name}' is already a style of the checkpoint; choose another name")
    names, _, card = present
    if card:  # a library there already
        check_library_fits(library, card, gen.card["sha256"])
        if name in names and not replace:
            raise DiffusionTalkerError(f"'{name}' is already a style in {paths_of(library)[1]}; choose another "
                                       f"name, or replace it{f' ({how_to_replace})' if how_to_replace else ''}")
    return name


def add_style(library, name: str, vector, gen, source: dict, replace: bool = False) -> None:
    """Create ``library`` or add ``name`` to it, or replace it (see ``check_new_name``)."""
    present = _present(gen, library)
    name = _checked_name(gen, name, library, present, replace)
    names, rows, doc = present
    sources = doc.get("sources", {})
    row = np.asarray(vector.detach().cpu().numpy() if hasattr(vector, "detach") else vector, np.float32)
    if name in names:
        rows[names.index(name)] = row
    else:
        names.append(name)
        rows = np.concatenate([rows, row[None]])
    sources[name] = source
    save_library(library, names, rows, gen.checkpoint_id(), sources)


def load_library(path) -> tuple[list[str], np.ndarray, dict]:
    from .checkpoint import load_tensors

    doc, tensors = load_tensors(path, LIBRARY_FORMAT, required=("sha256", "names"))
    embeddings = tensors.get("embeddings")
    if embeddings is None or embeddings.dim() != 2 or len(embeddings) != len(doc["names"]):
        raise CheckpointError(f"{path}: style library tensors do not match its names")
    twice = sorted({n for n in doc["names"] if doc["names"].count(n) > 1})
    if twice:
        raise CheckpointError(f"{path}: the style library names {', '.join(twice)} more than once")
    return list(doc["names"]), embeddings.numpy(), doc
