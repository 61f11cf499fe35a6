"""Mouth and upper-face motion from phone timings, on any FLAME-topology template.

Two stages. *Coarticulation* turns phones into smooth control curves with Cohen &
Massaro's (1993) dominance model: every phone pulls each control towards its target
with a dominance that is flat over the phone and decays before it (anticipation) and
after it (carry-over); the curve is the dominance-weighted mean of targets. Each
gesture has its own reach, as the articulatory literature has it: lip rounding is
anticipated across several consonants (Benguerel & Cowan 1974), while lip closures
and the labiodental contact are brief and stay on their acoustic segment. Jaw and
lips are separate controls, after JALI (Edwards et al. 2016): the jaw sets a height
(highest and least variable for /s z/, low for open vowels: Keating, Lindblom,
Lubker & Kreiman 1994), the lips add their own opening, narrowing or closure.
*Deformation* turns controls into vertex positions: the jaw is a rotation of the
lower face about a jaw axis; lips, corners, brows and lids move along smooth fields
derived from the regions. Amplitudes are in metres and realistic (up to about 1.5 cm
of lip opening), so lip-error metrics on this data mean what they mean on captured faces.

A speaker (``Style``) scales and biases these gestures but never reorders them:
every gain multiplies a target that is already ordered by openness, so an open vowel
opens more than a mid one, and a mid one more than a close one, for every speaker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .phones import CLASSES, classes_of
from .regions import Regions
from .speakers import Style

# jaw: opening; lips: lip opening beyond the jaw's; close: lips sealed (p b m);
# compress: lips narrowed against the jaw's opening (rounding); round: corners in and
# lips forward; spread: corners out; labiodental: lower lip to the upper teeth;
# active: speaking at all (the speaker's habitual smile and pout ride on it).
CONTROLS = ("jaw", "lips", "close", "compress", "round", "spread", "labiodental", "active")
JAW_MAX_RAD = 0.13  # 7.5 degrees: about 1.2 cm at the lips for jaw 1 at jaw_gain 1

_S = 1.0  # dominance of a phone on a control it barely cares about
# class: (targets, dominances), both in CONTROLS order
_TARGETS = {
    "pause":           ((0.00, 0.00, 0, 0.0, 0.0, 0.0, 0, 0), (20, 20, 3, 30, 30, 30, 3, 30)),
    "bilabial":        ((0.12, 0.00, 1, 0.0, 0.0, 0.0, 0, 1), (1.5, 4, 40, 2, _S, _S, 5, _S)),
    "labiodental":     ((0.10, 0.10, 0, 0.0, 0.0, 0.0, 1, 1), (2, 3, 5, 2, _S, _S, 40, _S)),
    "dental":          ((0.12, 0.15, 0, 0.0, 0.0, 0.2, 0, 1), (2.5, 1, _S, 1, 0.5, 0.5, _S, _S)),
    "alveolar":        ((0.09, 0.12, 0, 0.0, 0.0, 0.1, 0, 1), (3, 1, _S, 1, 0.3, 0.3, _S, _S)),
    "lateral":         ((0.13, 0.15, 0, 0.0, 0.0, 0.1, 0, 1), (2, 1, _S, 1, 0.3, 0.3, _S, _S)),
    "sibilant":        ((0.00, 0.10, 0, 0.0, 0.0, 0.4, 0, 1), (12, 2, _S, 1, 0.5, 1, _S, _S)),
    "postalveolar":    ((0.08, 0.10, 0, 0.2, 0.6, 0.0, 0, 1), (3, 2, _S, 1.5, 2, 1, _S, _S)),
    "velar":           ((0.30, 0.15, 0, 0.0, 0.0, 0.0, 0, 1), (0.3, 0.3, _S, 0.3, 0.2, 0.2, _S, _S)),
    "glottal":         ((0.40, 0.25, 0, 0.0, 0.0, 0.0, 0, 1), (0.2, 0.2, _S, 0.2, 0.2, 0.2, _S, _S)),
    "open":            ((0.85, 0.70, 0, 0.0, 0.0, 0.1, 0, 1), (3, 3, 3, 3, _S, _S, 3, _S)),
    "open_front":      ((0.75, 0.70, 0, 0.0, 0.0, 0.4, 0, 1), (3, 3, 3, 3, _S, 1.5, 3, _S)),
    "open_round":      ((0.75, 0.55, 0, 0.1, 0.5, 0.0, 0, 1), (3, 3, 3, 2, 2, 1.5, 3, _S)),
    "mid":             ((0.45, 0.40, 0, 0.0, 0.0, 0.3, 0, 1), (2.5, 2.5, 3, 3, _S, 1.5, 3, _S)),
    "mid_r":           ((0.42, 0.30, 0, 0.0, 0.4, 0.0, 0, 1), (3, 3, 3, 3, 2, 1, 3, _S)),
    "schwa":           ((0.40, 0.30, 0, 0.0, 0.0, 0.0, 0, 1), (2.5, 2, 3, 1, 0.4, 0.4, 3, _S)),
    "mid_round":       ((0.45, 0.30, 0, 0.2, 0.8, 0.0, 0, 1), (2.5, 2.5, 3, 3, 3, 2, 3, _S)),
    "close_front":     ((0.12, 0.12, 0, 0.0, 0.0, 1.0, 0, 1), (2.5, 2.5, 3, 3, 2, 4, 3, _S)),
    "close_lax":       ((0.15, 0.12, 0, 0.0, 0.0, 0.6, 0, 1), (2.5, 2.5, 3, 3, 1, 2, 3, _S)),
    "close_round":     ((0.12, 0.00, 0, 0.6, 1.0, 0.0, 0, 1), (2.5, 3, 3, 4, 5, 3, 3, _S)),
    "close_round_lax": ((0.16, 0.05, 0, 0.4, 0.6, 0.0, 0, 1), (2, 2, 3, 3, 3, 2, 3, _S)),
    "front_round":     ((0.14, 0.00, 0, 0.5, 0.9, 0.0, 0, 1), (2.5, 3, 3, 4, 5, 3, 3, _S)),
    "w":               ((0.08, 0.00, 0, 0.9, 1.0, 0.0, 0, 1), (4, 3, 3, 6, 5, 3, 3, _S)),
    "j":               ((0.10, 0.10, 0, 0.0, 0.0, 0.8, 0, 1), (2, 2, 3, 2, 1, 3, 3, _S)),
    "r":               ((0.12, 0.05, 0, 0.5, 0.5, 0.0, 0, 1), (6, 5, 2, 5, 2, 1, 2, _S)),
}
assert set(_TARGETS) == set(CLASSES)
CLASS_NAMES = CLASSES
# Reach of the dominance before and after a phone, in seconds, per control: rounding
# anticipates far; closure and the labiodental contact are locked to their segment.
_AHEAD = np.array([0.045, 0.040, 0.006, 0.100, 0.140, 0.070, 0.006, 0.080])[:, None]
_BEHIND = np.array([0.045, 0.040, 0.010, 0.060, 0.080, 0.050, 0.010, 0.080])[:, None]
# The share of a phone over which its dominance is at full strength.
_FLAT = np.array([0.6, 0.6, 1.0, 0.8, 0.8, 0.6, 1.0, 1.0])[:, None]


def phoneme_class(name: str) -> str:
    """The class of an espeak mnemonic (a diphthong's nucleus)."""
    return classes_of(name)[0]


def class_segments(phones: list[tuple[float, float, tuple[str, ...]]]) -> list[tuple[float, float, str]]:
    """One class per segment: a diphthong's nucleus takes the first 60 %, its offglide the rest."""
    out = []
    for start, end, classes in phones:
        if len(classes) == 2:
            split = start + 0.6 * (end - start)
            out += [(start, split, classes[0]), (split, end, classes[1])]
        else:
            out.append((start, end, classes[0]))
    return out


def coarticulate(phonemes: list[tuple[float, float, str]], duration: float, n_frames: int, fps: float,
                 style: Style) -> dict[str, np.ndarray]:
    """Control curves for espeak's phonemes (see ``coarticulate_classes``)."""
    return coarticulate_classes([(s, e, classes_of(p)) for s, e, p in phonemes], duration, n_frames, fps, style)


def coarticulate_classes(phones: list[tuple[float, float, tuple[str, ...]]], duration: float, n_frames: int,
                         fps: float, style: Style) -> dict[str, np.ndarray]:
    """Control curves (one value per frame) for CONTROLS, per Cohen & Massaro."""
    segs = class_segments(phones)
    first = segs[0][0] if segs else duration
    last = segs[-1][1] if segs else 0.0
    segs = [(-1.0, first, "pause")] + segs + [(last, duration + 1.0, "pause")]
    # The face shows the articulation `lead_s` ahead of the sound (at most 40 ms).
    t = np.arange(n_frames) / fps + style.lead_s
    num = np.zeros((len(CONTROLS), n_frames))
    den = np.full((len(CONTROLS), n_frames), 1e-4)  # a faint rest pose keeps silence at neutral
    ahead, behind = _AHEAD * style.reach, _BEHIND * style.reach
    for start, end, name in segs:
        target, alpha = (np.asarray(x, dtype=np.float64)[:, None] for x in _TARGETS[name])
        centre, half = 0.5 * (start + end), 0.5 * (end - start)
        tau = np.maximum(np.abs(t - centre)[None, :] - _FLAT * half, 0.0)
        dom = alpha * np.exp(-tau / np.where(t < centre, ahead, behind))
        num += dom * target
        den += dom
    return dict(zip(CONTROLS, num / den))


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
    lower_lip: np.ndarray     # (V,) how much a vertex can hold against the jaw (closure, f/v, rounding)
    side: np.ndarray          # (V,) -1 right ... +1 left, for asymmetry
    fields: dict[str, np.ndarray]  # control name -> (V, 3) displacement at full activation
    regions: Regions

    @property
    def moving(self) -> np.ndarray:
        """Indices of the vertices any control can move (about two fifths of FLAME's); the rest stay put."""
        still = self.jaw_weight == 0
        for f in self.fields.values():
            still &= ~np.any(f != 0, axis=1)
        return np.flatnonzero(~still)


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
    upper_lip = np.zeros(len(v))
    upper_lip[regions.mouth] = 1.0 - regions.lower_weight[regions.mouth]
    upper_lip *= _smoothstep(((line + 0.016) - y) / 0.008)
    pivot = np.array([0.0, line + 0.028, mouth_z - 0.075])

    front = _smoothstep((z - (mouth_z - 0.02)) / 0.02)
    mouth = np.exp(-((x / 0.022) ** 2 + ((y - line) / 0.014) ** 2)) * front
    middle = np.exp(-(x / 0.02) ** 2)  # lips part most in the middle, not at the corners
    corner = sum(np.exp(-np.sum((v - c) ** 2, axis=1) / 0.011 ** 2) for c in corners)
    cheek = sum(np.exp(-np.sum((v - c) ** 2, axis=1) / 0.015 ** 2) for c in corners)
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

    jaw[jaw < 1e-3] = 0.0  # exactly still beyond the face's moving part, so only that part need be stored
    fields = {
        "lips": field(0.0, 0.004 * middle * (upper_lip - 0.6 * lower_lip), 0.0),
        "round": field(-0.006 * side * corner, 0.0, 0.006 * mouth),
        "spread": field(0.004 * side * corner, 0.001 * corner, -0.002 * corner),
        "labiodental": field(0.0, 0.0015 * lower_lip + 0.0008 * middle * upper_lip, -0.004 * lower_lip),
        "smile": field(0.004 * side * cheek, 0.005 * cheek, -0.002 * cheek),
        "pout": field(-0.002 * side * corner, -0.0005 * mouth, 0.004 * mouth),
        "jaw_side": field(0.0035 * jaw, 0.0, 0.0),
        "brow": field(0.0, 0.005 * brow, 0.001 * brow),
        "blink": field(0.0, -0.007 * lids, 0.002 * lids),
    }
    for f in fields.values():
        f[np.abs(f).max(axis=1) < 1e-5] = 0.0  # under 0.01 mm at full activation
    return Rig(v, pivot, jaw, lower_lip, side, fields, regions)


def animate(rig: Rig, controls: dict[str, np.ndarray], style: Style, only: np.ndarray | None = None) -> np.ndarray:
    """(T, V, 3) float32 vertex positions of the neutral template driven by `controls`
    (of the vertices `only` indexes, when given: measuring a few is much cheaper)."""
    keep = slice(None) if only is None else only
    active = controls["active"]
    hold = np.clip(controls["close"] + 0.85 * controls["labiodental"] + controls["compress"], 0.0, 1.0)
    weights = {
        "lips": style.lip_gain * np.clip(controls["lips"], 0.0, 1.0) * (1.0 - hold),
        "round": style.round_gain * controls["round"],
        "spread": style.round_gain * controls["spread"],
        "labiodental": controls["labiodental"],
        "smile": style.smile * active,
        "pout": style.pout * active,
        "jaw_side": style.asymmetry * active,
        "brow": controls["brow"],
        "blink": controls["blink"],
    }
    side = rig.side[keep]
    lopsided = 1.0 + 0.35 * style.asymmetry * side  # one side of the mouth works harder
    fields = np.stack([rig.fields[k][keep] * (lopsided[:, None] if k in ("lips", "round", "spread", "smile") else 1.0)
                       for k in weights])
    moved = rig.template[keep][None] + np.einsum("tc,cvk->tvk", np.stack(list(weights.values()), 1), fields)

    angle = (JAW_MAX_RAD * style.jaw_gain * np.clip(controls["jaw"], 0.0, 1.0))[:, None] * rig.jaw_weight[keep][None] \
        * (1.0 - hold[:, None] * rig.lower_lip[keep][None]) * (1.0 + 0.25 * style.asymmetry * side)[None]
    cos, sin = np.cos(angle), np.sin(angle)
    dy = moved[..., 1] - rig.pivot[1]
    dz = moved[..., 2] - rig.pivot[2]
    moved[..., 1] = rig.pivot[1] + cos * dy - sin * dz
    moved[..., 2] = rig.pivot[2] + sin * dy + cos * dz
    return moved.astype(np.float32)
