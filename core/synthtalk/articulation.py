"""Mouth and upper-face motion from phoneme timings, on any FLAME-topology template.

Two stages. *Coarticulation* turns phonemes into smooth control curves with
Cohen & Massaro's dominance model: every phoneme pulls each control towards its
target with a dominance that peaks over the phoneme and decays before it
(anticipation) and after it (carry-over); the curve is the dominance-weighted mean
of targets. Bilabials and labiodentals get overwhelming dominance on their lip
control, so p/b/m really close the lips whatever the neighbours do, while weak
consonants (k, h) inherit the jaw of the vowels around them. *Deformation* turns the
controls into vertex positions: the jaw is a rotation of the lower face about a
jaw axis with smooth weights; lips, corners, brows and lids move along smooth
displacement fields derived from the regions. Amplitudes are in metres and
realistic (jaw up to about 1.5 cm at the lips, rounding a few mm), so lip-error
metrics on this data mean what they mean on captured faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .regions import Regions
from .speakers import Style

CONTROLS = ("jaw", "close", "round", "spread", "labiodental", "active")
JAW_MAX_RAD = 0.13  # 7.5 degrees: about 1.2 cm at the lips for a fully open vowel at jaw_gain 1

# target per control, then dominance per control (same order as CONTROLS)
_CLASSES = {
    "pause":       ((0.00, 0.0, 0.0, 0.0, 0.0, 0.0), (4.0, 2.0, 4.0, 4.0, 2.0, 4.0)),
    "bilabial":    ((0.08, 1.0, 0.0, 0.0, 0.0, 1.0), (2.0, 30.0, 1.0, 1.0, 5.0, 1.0)),
    "labiodental": ((0.12, 0.0, 0.0, 0.0, 1.0, 1.0), (2.0, 5.0, 1.0, 1.0, 30.0, 1.0)),
    "open":        ((0.95, 0.0, 0.0, 0.15, 0.0, 1.0), (3.0, 3.0, 1.0, 1.0, 3.0, 1.0)),
    "mid":         ((0.55, 0.0, 0.0, 0.25, 0.0, 1.0), (2.0, 3.0, 1.0, 1.0, 3.0, 1.0)),
    "schwa":       ((0.40, 0.0, 0.0, 0.00, 0.0, 1.0), (0.8, 0.5, 0.4, 0.4, 0.5, 1.0)),
    "front_close": ((0.15, 0.0, 0.0, 1.00, 0.0, 1.0), (2.0, 3.0, 2.0, 4.0, 3.0, 1.0)),
    "round_close": ((0.15, 0.0, 1.0, 0.00, 0.0, 1.0), (2.0, 3.0, 5.0, 3.0, 3.0, 1.0)),
    "round_mid":   ((0.55, 0.0, 0.75, 0.00, 0.0, 1.0), (2.5, 3.0, 4.0, 2.0, 3.0, 1.0)),
    "postalveolar": ((0.12, 0.0, 0.55, 0.0, 0.0, 1.0), (2.0, 1.0, 3.0, 1.0, 1.0, 1.0)),
    "r":           ((0.25, 0.0, 0.40, 0.00, 0.0, 1.0), (1.0, 1.0, 1.5, 1.0, 1.0, 1.0)),
    "sibilant":    ((0.06, 0.0, 0.0, 0.30, 0.0, 1.0), (3.0, 1.0, 0.5, 1.0, 1.0, 1.0)),
    "coronal":     ((0.18, 0.0, 0.0, 0.10, 0.0, 1.0), (1.0, 1.0, 0.3, 0.3, 1.0, 1.0)),
    "back":        ((0.30, 0.0, 0.0, 0.00, 0.0, 1.0), (0.3, 1.0, 0.2, 0.2, 1.0, 1.0)),
}
CLASS_NAMES = tuple(_CLASSES)
# Lip contacts are brief gestures: their dominance must fall off fast or one "p"
# would hold the lips shut through the vowels around it.
_REACH = np.array([1.0, 0.3, 1.0, 1.0, 0.3, 1.0])[:, None]
# espeak-ng's English phoneme mnemonics (with "#" variants folded in) -> class.
_PHONEMES = {
    **dict.fromkeys(["p", "b", "m"], "bilabial"),
    **dict.fromkeys(["f", "v"], "labiodental"),
    **dict.fromkeys(["a", "A:", "A", "aa", "V", "0", "A@", "a@"], "open"),
    **dict.fromkeys(["E", "e", "3:", "3", "E2", "E@", "e@"], "mid"),
    **dict.fromkeys(["@", "@2", "@5", "a2", "I2", "@L", "L"], "schwa"),
    **dict.fromkeys(["i:", "i", "I", "j", "iI"], "front_close"),
    **dict.fromkeys(["u:", "U", "w", "u"], "round_close"),
    **dict.fromkeys(["O:", "O", "o", "o@", "O@", "0:"], "round_mid"),
    **dict.fromkeys(["S", "Z", "tS", "dZ"], "postalveolar"),
    **dict.fromkeys(["r", "r-", "3r", "*"], "r"),
    **dict.fromkeys(["s", "z"], "sibilant"),
    **dict.fromkeys(["t", "d", "n", "l", "T", "D", "n-", "l/", "?"], "coronal"),
    **dict.fromkeys(["k", "g", "N", "h", "x", "C"], "back"),
}
# Diphthongs glide from one target to another: two half-length segments.
_GLIDES = {"aI": ("a", "i"), "aU": ("a", "u:"), "eI": ("e", "i"), "OI": ("O:", "i"), "oU": ("O:", "u:"),
           "@U": ("@", "u:"), "e@": ("e", "@"), "I@": ("I", "@"), "i@": ("i", "@"), "U@": ("u:", "@"),
           "aI@": ("a", "@"), "aU@": ("a", "@"), "i@3": ("i", "3")}


def phoneme_class(name: str) -> str:
    """The articulation class of an espeak mnemonic; unknown ones behave like weak back consonants."""
    if name.startswith("_") or not name.strip():
        return "pause"
    for key in (name, name.rstrip("#;"), name.rstrip("#;:")):
        if key in _PHONEMES:
            return _PHONEMES[key]
    return "back"


def _segments(phonemes: list[tuple[float, float, str]], duration: float) -> list[tuple[float, float, str]]:
    """Phonemes with glides split and the silence before and after made explicit."""
    out = []
    for start, end, name in phonemes:
        glide = _GLIDES.get(name.rstrip("#"))
        if glide:
            mid = 0.5 * (start + end)
            out += [(start, mid, glide[0]), (mid, end, glide[1])]
        else:
            out.append((start, end, name))
    first = out[0][0] if out else duration
    last = out[-1][1] if out else 0.0
    return [(-1.0, first, "_")] + out + [(last, duration + 1.0, "_")]


def coarticulate(phonemes: list[tuple[float, float, str]], duration: float, n_frames: int, fps: float,
                 style: Style) -> dict[str, np.ndarray]:
    """Control curves (one value per frame) for CONTROLS, per Cohen & Massaro."""
    segs = _segments(phonemes, duration)
    # The mouth runs `lead_s` ahead of the sound: frame t shows the articulation of time t + lead.
    t = np.arange(n_frames) / fps + style.lead_s
    num = np.zeros((len(CONTROLS), n_frames))
    den = np.full((len(CONTROLS), n_frames), 1e-4)  # a faint rest pose keeps silence at neutral
    for start, end, name in segs:
        target, alpha = (np.asarray(x)[:, None] for x in _CLASSES[phoneme_class(name)])
        centre, half = 0.5 * (start + end), 0.5 * (end - start)
        # Dominance is flat over the middle of the segment and decays outside it; it
        # reaches further ahead (anticipation) than behind (carry-over).
        tau = np.abs(t - centre) - 0.6 * half
        reach = np.where(t < centre, 0.070, 0.050)[None, :] * _REACH
        dom = alpha * np.exp(-np.maximum(tau, 0.0)[None, :] / reach)
        num += dom * target
        den += dom
    values = num / den
    return dict(zip(CONTROLS, values))


def upper_face(audio: np.ndarray, sample_rate: int, phonemes: list[tuple[float, float, str]], n_frames: int,
               fps: float, style: Style, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Brow raise that follows loudness while speaking, and blinks (more likely at pauses)."""
    hop = sample_rate / fps
    rms = np.array([np.sqrt(np.mean(audio[int(i * hop):int((i + 1) * hop)] ** 2) + 1e-12) for i in range(n_frames)])
    db = 20 * np.log10(rms + 1e-9)
    loud = np.clip((db - (db.max() - 18.0)) / 18.0, 0.0, 1.0)
    kernel = np.exp(-0.5 * (np.arange(-9, 10) / (0.12 * fps)) ** 2)
    brow = style.brow_gain * np.convolve(loud, kernel / kernel.sum(), mode="same")

    times = list(rng.uniform(0, n_frames / fps, rng.poisson(style.blink_per_min * n_frames / fps / 60.0)))
    times += [0.5 * (s + e) for s, e, name in phonemes if name.startswith("_") and e - s > 0.1 and rng.random() < 0.5]
    t = np.arange(n_frames) / fps
    blink = np.zeros(n_frames)
    for onset in times:  # a blink closes in 80 ms and reopens in 170 ms
        dt = t - onset
        shape = np.where(dt < 0, np.clip(1 + dt / 0.08, 0, 1), np.clip(1 - dt / 0.17, 0, 1))
        blink = np.maximum(blink, 0.5 - 0.5 * np.cos(np.pi * shape))
    return {"brow": brow, "blink": blink}


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass
class Rig:
    """Per-vertex weights and displacement fields; built once per template."""

    template: np.ndarray      # (V, 3) float64
    pivot: np.ndarray         # (3,) point on the jaw axis (the axis runs along x)
    jaw_weight: np.ndarray    # (V,) how much of the jaw rotation a vertex follows
    lower_lip: np.ndarray     # (V,) how much a vertex can hold against the jaw (closure, f/v)
    side: np.ndarray          # (V,) -1 right ... +1 left, for asymmetry
    fields: dict[str, np.ndarray]  # control name -> (V, 3) displacement at full activation


def build_rig(template: np.ndarray, regions: Regions) -> Rig:
    v = np.asarray(template, dtype=np.float64)
    x, y, z = v.T
    line = regions.mouth_line_y
    corners = v[regions.corners]
    mouth_z = float(corners[:, 2].mean())
    side = np.tanh(x / 0.006)

    # Jaw: below the mouth line, fading towards the ears, the back of the head and the neck.
    jaw = (_smoothstep((line - y) / 0.010) * (1 - _smoothstep((np.abs(x) - 0.045) / 0.035))
           * _smoothstep((y + 0.135) / 0.04) * _smoothstep((z + 0.03) / 0.05))
    jaw[regions.mouth] = regions.lower_weight[regions.mouth]
    for eyeball in regions.eyeballs:
        jaw[eyeball] = 0.0
    # The lower lip near the contact line can hold still while the jaw opens (p/b/m, f/v).
    lower_lip = regions.lower_weight * _smoothstep((y - (line - 0.014)) / 0.008)
    pivot = np.array([0.0, line + 0.028, mouth_z - 0.075])

    front = _smoothstep((z - (mouth_z - 0.02)) / 0.02)
    mouth = np.exp(-((x / 0.022) ** 2 + ((y - line) / 0.014) ** 2)) * front
    corner = sum(np.exp(-np.sum((v - c) ** 2, axis=1) / 0.011 ** 2) for c in corners)
    brow = (np.exp(-((y - 0.05) / 0.02) ** 2) * _smoothstep(z / 0.03) * (1 - _smoothstep((np.abs(x) - 0.05) / 0.02)))
    lids = np.zeros(len(v))
    for eyeball in regions.eyeballs:
        centre = v[eyeball].mean(0)
        near = np.exp(-(((x - centre[0]) / 0.016) ** 2 + ((y - centre[1] - 0.008) / 0.007) ** 2))
        lids = np.maximum(lids, near * (y > centre[1] - 0.002) * (z > centre[2]))
    eyeball_ids = np.concatenate(regions.eyeballs)
    brow[eyeball_ids] = 0.0
    lids[eyeball_ids] = 0.0
    lids[np.setdiff1d(np.arange(len(v)), regions.eye_region)] *= 0.0

    def field(dx, dy, dz):
        return np.stack([np.broadcast_to(d, x.shape) for d in (dx, dy, dz)], axis=1).astype(np.float64)

    fields = {
        "round": field(-0.006 * side * corner, 0.0, 0.005 * mouth),
        "spread": field(0.004 * side * corner, 0.001 * corner, -0.002 * corner),
        "labiodental": field(0.0, 0.001 * lower_lip, -0.004 * lower_lip),
        "smile": field(0.002 * side * corner, 0.0025 * corner, -0.001 * corner),
        "brow": field(0.0, 0.005 * brow, 0.001 * brow),
        "blink": field(0.0, -0.007 * lids, 0.002 * lids),
    }
    return Rig(v, pivot, jaw, lower_lip, side, fields)


def animate(rig: Rig, controls: dict[str, np.ndarray], style: Style) -> np.ndarray:
    """(T, V, 3) float32 vertex positions of the neutral template driven by `controls`."""
    lopsided = 1.0 + 0.35 * style.asymmetry * rig.side  # one side of the mouth works harder
    gains = {"round": style.lip_gain, "spread": style.lip_gain, "labiodental": 1.0,
             "smile": style.smile, "brow": 1.0, "blink": 1.0}
    weights = np.stack([gains[k] * (controls["active"] if k == "smile" else controls[k]) for k in rig.fields], 1)
    fields = np.stack(list(rig.fields.values()))  # (C, V, 3)
    mouth_fields = np.array([k in ("round", "spread", "labiodental", "smile") for k in rig.fields])
    fields[mouth_fields] *= lopsided[None, :, None]
    moved = rig.template[None] + np.einsum("tc,cvk->tvk", weights, fields)

    hold = np.clip(controls["close"] + 0.85 * controls["labiodental"], 0.0, 1.0)
    angle = (JAW_MAX_RAD * style.jaw_gain * np.clip(controls["jaw"], 0.0, 1.0))[:, None] * rig.jaw_weight[None] \
        * (1.0 - hold[:, None] * rig.lower_lip[None]) * (1.0 + 0.25 * style.asymmetry * rig.side)[None]
    cos, sin = np.cos(angle), np.sin(angle)
    dy = moved[..., 1] - rig.pivot[1]
    dz = moved[..., 2] - rig.pivot[2]
    moved[..., 1] = rig.pivot[1] + cos * dy - sin * dz
    moved[..., 2] = rig.pivot[2] + sin * dy + cos * dz
    return moved.astype(np.float32)
