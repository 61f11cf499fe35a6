"""Checkpoints: tensors in safetensors, everything else in a JSON card beside them.

A checkpoint is the pair ``NAME.safetensors`` + ``NAME.json``. Neither format can
carry code, so a file from a stranger cannot run anything (no pickle, no
``torch.load``). The card records the sha256 of the tensor file: a file changed after
saving, or cut short in a download, is refused with a message naming it instead of
producing a silently wrong face.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .card import BUNDLED, FORMAT, FORMAT_VERSION, paths_of, read_card, sha256_of
from .errors import CheckpointError
from .model import TalkerModel
from .outputs import replacing

# What gives the tensors their meaning: a checkpoint's model config (another motion scale
# moved the face ten times as far), a style library's names (swapped, one style was used
# under another's name) and the checkpoint it was made for.
COVERED = ("config", "names", "checkpoint")


def save_pair(path: str | os.PathLike, tensors: dict[str, torch.Tensor], fields: dict,
              fmt: str = FORMAT) -> Path:
    """Write NAME.safetensors + NAME.json atomically (temp files, then rename); the card
    gets ``fields`` plus the format and the tensor file's sha256. Returns the card's path."""
    from safetensors.torch import save_file

    tensors_path, card_path = paths_of(path)
    # inside the file the card's sha256 covers, so a card edited by hand is caught
    metadata = {"format": fmt, **{k: json.dumps(fields[k], sort_keys=True) for k in COVERED if k in fields}}
    with replacing(tensors_path, "checkpoint") as tmp:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
    doc = {"format": fmt, "format_version": FORMAT_VERSION, "tensors": tensors_path.name,
           "sha256": sha256_of(tensors_path), **fields}
    with replacing(card_path, "checkpoint card") as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    return card_path


def save_checkpoint(path: str | os.PathLike, model: TalkerModel, card: dict | None = None,
                    extra_tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """``card`` is free metadata: what data it was trained on, a description, training
    settings. ``extra_tensors`` (training state for resuming: raw weights, optimizer
    moments) are stored under an ``extra.`` prefix that loading for inference ignores."""
    tensors = dict(model.state_dict())
    tensors.update({f"extra.{k}": v for k, v in (extra_tensors or {}).items()})
    return save_pair(path, tensors, {"config": model.config, "card": card or {}})


def load_tensors(path: str | os.PathLike, fmt: str = FORMAT,
                 required=("sha256", "config")) -> tuple[dict, dict[str, torch.Tensor]]:
    """(card, tensors) after checking the tensor file against the card's sha256."""
    from safetensors import SafetensorError, safe_open

    tensors_path, card_path = paths_of(path)
    doc = read_card(path, fmt, required)
    if not tensors_path.is_file():
        raise CheckpointError(f"tensor file not found: {tensors_path} (it belongs beside {card_path.name})")
    if sha256_of(tensors_path) != doc["sha256"]:
        raise CheckpointError(
            f"{tensors_path}: checksum does not match its card {card_path.name}; the file is "
            "truncated, corrupted or was modified after saving. Re-download or re-export it."
        )
    try:
        with safe_open(tensors_path, "pt") as fh:
            saved = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{tensors_path}: unreadable safetensors file ({exc})") from None
    # files saved before these went into them have none to compare
    edited = [k for k in COVERED if k in saved and k in doc and json.loads(saved[k]) != doc[k]]
    if edited:
        raise CheckpointError(f"{card_path}: its '{edited[0]}' is not what was saved with the tensors (edited by "
                              "hand?), so they would be read wrongly. Restore the card, or save the file again")
    broken = next((k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if broken is not None:  # a NaN weight would animate every frame as NaN, silently
        raise CheckpointError(f"{tensors_path}: tensor '{broken}' holds NaN or infinite values (saved from a run "
                              "that diverged); it cannot be used")
    return doc, tensors


def load_checkpoint(path: str | os.PathLike | None = None, device: str = "cpu") -> tuple[TalkerModel, dict]:
    """Model (in eval mode, on ``device``) and card; ``None`` means the bundled default."""
    path = BUNDLED if path is None else path
    doc, tensors = load_tensors(path)
    try:
        model = TalkerModel(doc["config"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{paths_of(path)[1]}: invalid model config ({exc})") from None
    weights = {k: v for k, v in tensors.items() if not k.startswith("extra.")}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{paths_of(path)[0]}: weights do not fit the model config ({first})") from None
    return model.to(device).eval(), doc
