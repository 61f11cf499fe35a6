"""SynthTalk's articulation driven by any phone timings, and the measures it is judged by.

``diffusiontalker data articulate`` animates the FLAME template from a JSON list of
phone timings (an aligner's ARPAbet or espeak-ng's mnemonics), so the procedural
articulation can be checked against any aligned recording and compared with a
model as a rule-based baseline. The same measures (vertical lip aperture, jaw
height, style distance) serve the phonetics tests, ``bench/synthtalk_styles.py``
and the tables in docs/synthtalk.md, so all three judge the same thing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import DiffusionTalkerError
from .articulation import Rig, animate, coarticulate_classes
from .phones import to_classes
from .speakers import Style


def read_phones(path: str | Path) -> tuple[list[tuple[float, float, tuple[str, ...]]], str]:
    """(phones as classes, their alphabet) from a JSON list of [start_s, end_s, phone]."""
    path = Path(path)
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DiffusionTalkerError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DiffusionTalkerError(f"{path}: not JSON ({exc})") from None
    if not isinstance(rows, list) or not rows or not all(_is_row(r) for r in rows):
        raise DiffusionTalkerError(f"{path}: expected a non-empty JSON list of [start_s, end_s, phone] "
                                   "with 0 <= start_s < end_s")
    try:
        return to_classes([(float(s), float(e), p) for s, e, p in rows])
    except DiffusionTalkerError as exc:
        raise DiffusionTalkerError(f"{path}: {exc}") from None


def _is_row(row) -> bool:
    return (isinstance(row, list) and len(row) == 3 and isinstance(row[2], str)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in row[:2])
            and 0 <= row[0] < row[1])


def articulate(rig: Rig, style: Style, phones: list[tuple[float, float, tuple[str, ...]]], fps: float,
               seconds: float | None = None, only: np.ndarray | None = None) -> np.ndarray:
    """(T, V, 3) float32 offsets from the template: `style` speaking `phones` (no brows, no
    blinks); of the vertices `only` indexes, when given."""
    seconds = max(e for _, e, _ in phones) if seconds is None else seconds
    frames = max(1, int(round(seconds * fps)))
    controls = coarticulate_classes(phones, seconds, frames, fps, style)
    controls.update(brow=np.zeros(frames), blink=np.zeros(frames))
    template = rig.template if only is None else rig.template[only]
    return animate(rig, controls, style, only) - template[None].astype(np.float32)


def aperture(rig: Rig, offsets: np.ndarray) -> np.ndarray:
    """(T,) vertical lip opening in metres at the middle of the mouth, 0 at rest."""
    r = rig.regions
    return offsets[:, r.upper_mid, 1] - offsets[:, r.lower_mid, 1]


def jaw_drop(rig: Rig, offsets: np.ndarray) -> np.ndarray:
    """(T,) how far the chin (vertices that follow the jaw fully, off the lips) has dropped, in metres."""
    chin = np.flatnonzero((rig.jaw_weight > 0.99) & (rig.lower_lip == 0))
    return -offsets[:, chin, 1].mean(axis=1)


def per_phone(values: np.ndarray, fps: float, phones: list[tuple[float, float, str]]) -> dict[str, float]:
    """Mean of a per-frame measure over the frames of each ARPAbet phone (stress digits
    dropped; AH0, CMUdict's schwa, counts as AX)."""
    sums: dict[str, list[float]] = {}
    for start, end, name in phones:
        frames = values[int(np.ceil(start * fps)):int(np.ceil(end * fps))]
        key = "ax" if name.lower() == "ah0" else name.rstrip("012").lower()
        if len(frames):
            sums.setdefault(key, []).extend(frames.tolist())
    return {name: float(np.mean(v)) for name, v in sums.items()}


def style_distance(a: np.ndarray, b: np.ndarray, lips: np.ndarray) -> float:
    """Mean lip-vertex distance (metres) between two takes of the same phones."""
    return float(np.linalg.norm(a[:, lips] - b[:, lips], axis=2).mean())
