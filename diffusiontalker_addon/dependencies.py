"""Whether this Blender's Python can run the model at all.

torch comes with the zip built for a platform (its wheels), or from the Python Blender
runs on. A zip built without wheels, or one whose wheels are for another Python (5.1+
embeds 3.13), leaves it missing; the panel and the model's operators say so once
instead of failing with a traceback on the first import.
"""

from __future__ import annotations

import importlib.util
import sys


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
