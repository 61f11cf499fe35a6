"""The SynthTalk speakers: each one a voice and a way of moving.

DiffusionTalker infers a talking identity from speech, so a style is only learnable
if it is audible: every speaker gets its own espeak accent, variant, pitch, pitch
range and rate, and, tied to it, its own motion parameters. Two speakers are held
out of training entirely (``test_unseen``) to measure how identity matching
generalises to voices the model never heard.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import DiffusionTalkerError


@dataclass(frozen=True)
class Style:
    name: str
    voice: str            # espeak voice name plus "+variant"
    pitch: int            # espeak 0-100 (50 is the voice's default)
    pitch_range: int      # espeak 0-100: monotone ... lively intonation
    rate: int             # words per minute
    wordgap: int          # extra pause between words, in 10 ms units
    jaw_gain: float       # scales jaw opening (1 = 8 degrees at a fully open vowel)
    lip_gain: float       # scales rounding, spreading and protrusion
    asymmetry: float      # -1..1: one side of the mouth moves more, the jaw shifts sideways
    lead_s: float         # anticipation: how far the mouth runs ahead of the sound
    smile: float          # corner lift while speaking, 0..1
    brow_gain: float      # brow raise on loud stretches, 0..1
    blink_per_min: float  # spontaneous blink rate (blinks also cluster at pauses)
    face_scale: tuple[float, float, float]  # neutral-face proportions (x, y, z) around the head centre

    def as_json(self) -> dict:
        return asdict(self)


STYLES: tuple[Style, ...] = (
    Style("spk01", "en-us+m3", 42, 40, 165, 0, 1.15, 0.70, 0.00, 0.030, 0.00, 0.30, 14, (1.00, 1.00, 1.00)),
    Style("spk02", "en-gb-x-rp+f2", 62, 70, 180, 0, 0.70, 1.35, 0.00, 0.060, 0.40, 0.70, 18, (0.97, 0.99, 0.98)),
    Style("spk03", "en-gb-scotland+m1", 35, 30, 150, 2, 1.30, 0.90, 0.35, 0.020, 0.00, 0.15, 10, (1.03, 1.01, 1.02)),
    Style("spk04", "en-029+f4", 70, 85, 195, 0, 0.90, 1.20, -0.25, 0.070, 0.70, 0.90, 22, (0.98, 1.02, 1.00)),
    Style("spk05", "en-us-nyc+m7", 48, 55, 210, 0, 0.85, 0.80, 0.15, 0.045, 0.15, 0.50, 16, (1.02, 0.98, 1.01)),
    Style("spk06", "en+f1", 58, 25, 140, 3, 1.05, 1.05, -0.10, 0.010, 0.25, 0.10, 8, (0.99, 1.03, 0.99)),
    Style("spk07", "en-gb-x-gbclan+m5", 38, 65, 175, 1, 1.40, 0.60, 0.20, 0.050, 0.05, 0.60, 12, (1.01, 0.97, 1.03)),
    Style("spk08", "en-us+f5", 66, 50, 160, 0, 0.65, 1.45, 0.00, 0.080, 0.55, 0.40, 20, (0.96, 1.00, 0.97)),
    # Held out of training: the identity library must cope with them.
    Style("spk09", "en-gb-x-gbcwmd+m2", 45, 45, 185, 1, 1.10, 1.00, -0.30, 0.040, 0.20, 0.45, 15, (1.02, 1.02, 1.00)),
    Style("spk10", "en-us+f3", 55, 75, 170, 0, 0.80, 1.25, 0.10, 0.055, 0.45, 0.80, 19, (0.98, 0.98, 1.01)),
)

HELD_OUT = 2  # the last two styles of any selection are never trained on


def select_styles(count: int) -> list[Style]:
    """The first `count` styles; fewer than 3 leaves no training speaker."""
    if not 3 <= count <= len(STYLES):
        raise DiffusionTalkerError(f"--speakers must be between 3 and {len(STYLES)} (got {count})")
    return list(STYLES[:count - HELD_OUT]) + list(STYLES[-HELD_OUT:])
