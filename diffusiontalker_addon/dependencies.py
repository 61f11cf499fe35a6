"""Whether this Blender's Python can run the model at all.

torch comes with the zip built for a platform (its wheels), or from the Python Blender
runs on. A zip built without wheels, or one whose wheels are for another Python (5.1+
embeds 3.13), leaves it missing; the panel and the model's operators say so once
instead of failing with a traceback on the first import.
"""

from __future__ import annotations

import functools
import importlib.util
import sys


@functools.lru_cache(maxsize=1)  # the panel asks at every redraw; find_spec walks sys.path each time
def torch_missing() -> str | None:
    """Why the model cannot run in this Blender, or None when torch is importable."""
    if "torch" in sys.modules or importlib.util.find_spec("torch") is not None:
        return None
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (f"torch is not installed for this Blender's Python {python}; install the DiffusionTalker zip "
            f"built for your platform and Python {python}, which brings it")


def torch_ready(operator) -> bool:
    """``poll`` of an operator that runs the model: False while torch is missing, with the
    reason shown on its greyed button and raised by a script's call."""
    missing = torch_missing()
    if missing is not None:
        operator.poll_message_set(missing)
    return missing is None


@functools.lru_cache(maxsize=1)  # the panel asks at every redraw; the installed torch does not change meanwhile
def torch_build() -> tuple[str, bool] | None:
    """(what the installed torch can run on, whether that includes CUDA), read from its
    package metadata: importing torch to ask would freeze the preferences for seconds.
    None when torch is missing (``torch_missing`` says why)."""
    from importlib import metadata

    try:
        dist = metadata.distribution("torch")
    except metadata.PackageNotFoundError:
        return None
    version, requires = dist.version, " ".join(dist.requires or [])
    if "+cu" in version or "nvidia-" in requires or "cuda-toolkit" in requires:
        return f"torch {version}: CPU and NVIDIA GPUs (CUDA)", True
    if sys.platform == "darwin":
        return f"torch {version}: CPU and Apple-silicon GPUs (MPS)", False
    return f"torch {version}: CPU only (the CUDA zip brings GPU support on Linux and Windows)", False
