"""Which torch device runs the model: asked for by name, or the best one present."""

from __future__ import annotations

import torch


def resolve_device(requested: str = "auto") -> tuple[str, list[str]]:
    """(device, warnings): a device that is not available falls back to the CPU with a warning."""
    requested = (requested or "auto").lower()
    has_cuda = torch.cuda.is_available()
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "auto":
        return ("cuda" if has_cuda else "mps" if has_mps else "cpu"), []
    if requested == "cpu" or (requested == "cuda" and has_cuda) or (requested == "mps" and has_mps):
        return requested, []
    if requested not in ("cuda", "mps"):
        return "cpu", [f"unknown device {requested!r}; using the CPU"]
    return "cpu", [f"{requested} is not available on this machine; using the CPU"]
