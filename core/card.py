"""Checkpoint and style-library cards: the JSON half of a file pair, read without torch.

Blender's main thread lists styles, checks a head's vertex count and finds a take's
frame rate from the card alone; importing torch there would freeze the interface for
seconds, so what needs only the card lives here and ``checkpoint`` holds the tensors.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .errors import CheckpointError

FORMAT = "diffusiontalker-checkpoint"
FORMAT_VERSION = 1
BUNDLED = Path(__file__).resolve().parent / "assets" / "demo.json"


def paths_of(path: str | os.PathLike) -> tuple[Path, Path]:
    """(tensors, card) for a path given as either file of the pair, or without suffix."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".json", ".safetensors") else p
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_card(path: str | os.PathLike, fmt: str = FORMAT, required=("sha256", "config")) -> dict:
    """The JSON card alone (cheap: for listing styles without loading tensors)."""
    _, card_path = paths_of(path)
    what = "checkpoint" if fmt == FORMAT else "style library"
    if not card_path.is_file():
        given = Path(path)
        if given.is_dir():
            raise CheckpointError(f"{given} is a folder; choose the {what}'s .json card in it")
        if given.is_file() and given.suffix not in (".json", ".safetensors"):  # e.g. audio where a checkpoint goes
            raise CheckpointError(f"{given} is not a {what}: expected a .json card with a .safetensors file beside it")
        raise CheckpointError(f"{what} card not found: {card_path}")
    try:
        doc = json.loads(card_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{card_path}: not a valid {what} card ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise CheckpointError(f"{card_path}: not a DiffusionTalker {what} card")
    if doc.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{card_path}: written by a newer version of DiffusionTalker; please update")
    for key in required:
        if key not in doc:
            raise CheckpointError(f"{card_path}: {what} card lacks '{key}'")
    return doc


# The on-disk name from before styles were called styles; kept so existing libraries load.
LIBRARY_FORMAT = "diffusiontalker-identities"


def library_card(path) -> dict:
    """A library's JSON card alone (its names and the checkpoint it was made for), for
    checks and listings that need no embeddings."""
    return read_card(path, LIBRARY_FORMAT, required=("sha256", "names"))
