"""Which torch device runs the model: asked for by name, or the best one present."""

from __future__ import annotations

import torch


def resolve_device(requested: str = "auto") -> tuple[str, list[str]]:
    """(device, warnings): a device that is not available falls back to the CPU with a warning
    that says whose fault it is: the installed torch (a CPU-only build) or the machine."""
    requested = (requested or "auto").lower()
    has_cuda = torch.cuda.is_available()
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "auto":
        return ("cuda" if has_cuda else "mps" if has_mps else "cpu"), []
    if requested == "cpu" or (requested == "cuda" and has_cuda) or (requested == "mps" and has_mps):
        return requested, []
    if requested not in ("cuda", "mps"):
        return "cpu", [f"unknown device {requested!r}; using the CPU"]
    return "cpu", [f"{why_unavailable(requested)}; using the CPU"]


def why_unavailable(device: str) -> str:
    build = f"torch {torch.__version__}"
    if device == "cuda":
        if torch.version.cuda is None:
            return (f"CUDA is not available: {build} is a CPU-only build (install the extension's CUDA zip, "
                    "or a CUDA build of torch)")
        return f"CUDA is not available: {build} (built for CUDA {torch.version.cuda}) finds no NVIDIA GPU or driver"
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_built():
        return f"Apple MPS is not available: {build} was built without it (MPS runs on Apple silicon Macs)"
    return f"Apple MPS is not available: {build} finds no Apple GPU (macOS 12.3+ on Apple silicon)"
