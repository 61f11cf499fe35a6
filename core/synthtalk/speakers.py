"""The SynthTalk speakers: each one a voice and a way of moving that an animator would name.

DiffusionTalker infers a talking identity from speech, so a style is only learnable
if it is audible: every speaker gets its own espeak-ng voice (accent or language,
variant, pitch, pitch range, rate) and, tied to it, its own motion. The motion
styles are built to be told apart at a glance (every pair differs by at least 1.2 mm
of mean lip-vertex distance on the same phones, ``bench/synthtalk_styles.py``): each
speaker has a signature (wide jaw, tight lips, smiley, lopsided, pouting, lazy,
crisp...) made of a few of the parameters below, the rest at their defaults. The
last ``HELD_OUT`` speakers are never trained on (``test_unseen``), to measure how
identity matching generalises to voices the model never heard.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import DiffusionTalkerError


@dataclass(frozen=True)
class Style:
    name: str
    voice: str                    # espeak voice name plus "+variant"; its language picks the sentences
    signature: str = ""           # what makes the speaker recognisable, in an animator's words
    pitch: int = 50               # espeak 0-100 (50 is the voice's default)
    pitch_range: int = 50         # espeak 0-100: monotone ... lively intonation
    rate: int = 170               # words per minute
    wordgap: int = 0              # extra pause between words, in 10 ms units
    jaw_gain: float = 1.0         # scales jaw opening (1 = 7.5 degrees at jaw 1)
    lip_gain: float = 1.0         # scales the lips' own opening on top of the jaw's (JALI's lip action)
    round_gain: float = 1.0       # scales rounding, protrusion and spreading
    asymmetry: float = 0.0        # -1..1: one side of the mouth works harder, the jaw sits sideways
    lead_s: float = 0.02          # the whole face runs this far ahead of the sound (0-40 ms)
    reach: float = 1.0            # coarticulation reach: < 1 crisp, > 1 lazy (gestures blur into each other)
    smile: float = 0.0            # -1..1: corners lifted (smile) or turned down while speaking
    pout: float = 0.0             # -1..1: lips pushed forward (pout) or drawn in while speaking
    brow_gain: float = 0.4        # brow raise on loud stretches, 0..1
    blink_per_min: float = 15.0   # spontaneous blink rate (blinks also cluster at pauses)
    face_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)  # neutral proportions (x, y, z) about the head centre

    @property
    def language(self) -> str:
        """The language of the voice ("en", "de", ...), which picks the sentence grammar."""
        return self.voice.split("+")[0].split("-")[0]

    def as_json(self) -> dict:
        return asdict(self)


S = Style
# Three habitual mouth shapes (smile or downturned corners, pout or drawn-in lips,
# lopsided left or right), each far enough apart on its own to tell two speakers
# apart; jaw, lip opening, rounding and timing add a second layer of character.
STYLES: tuple[Style, ...] = (
    S("spk01", "en-us+m3", "wide jaw", 42, 40, 165, jaw_gain=1.7, lip_gain=0.5, round_gain=0.8),
    S("spk02", "en-gb-x-rp+f2", "thin, drawn-in lips; tight", 62, 70, 180, pout=-1.0, jaw_gain=0.6, lip_gain=0.2,
      round_gain=0.75, face_scale=(0.97, 0.99, 0.98)),
    S("spk03", "en-029+f4", "smiley", 70, 85, 195, smile=0.7, brow_gain=0.9, blink_per_min=22,
      face_scale=(0.98, 1.02, 1.0)),
    S("spk04", "en-gb-scotland+m1", "lopsided to the left", 35, 30, 150, 2, asymmetry=1.0, jaw_gain=1.2,
      brow_gain=0.15, blink_per_min=10, face_scale=(1.03, 1.01, 1.02)),
    S("spk05", "en-us-nyc+m7", "pouting, strong rounding", 48, 55, 210, pout=1.0, round_gain=1.6,
      face_scale=(0.97, 1.01, 1.01)),
    S("spk06", "en+f1", "lazy, downturned", 58, 25, 140, 3, smile=-0.7, jaw_gain=0.6, lip_gain=0.5, reach=1.2,
      round_gain=0.75, lead_s=0.03, brow_gain=0.1, blink_per_min=8, face_scale=(0.99, 1.03, 0.99)),
    S("spk07", "en-gb-x-gbclan+m5", "crisp, thin lips, lopsided left", 38, 65, 175, 1, pout=-1.0, asymmetry=1.0,
      jaw_gain=1.35, lip_gain=1.4, round_gain=1.4, reach=0.6, lead_s=0.0, face_scale=(1.01, 0.97, 1.03)),
    S("spk08", "en-us+f5", "all lips, little jaw", 66, 50, 160, jaw_gain=0.5, lip_gain=1.8, round_gain=1.2,
      face_scale=(0.96, 1.0, 0.97)),
    S("spk09", "en-gb-x-rp+m2", "lopsided to the right", 45, 45, 185, asymmetry=-1.0, lip_gain=1.3,
      face_scale=(1.01, 1.01, 0.97)),
    S("spk10", "en-us+f3", "smiley, lopsided right, wide jaw", 55, 75, 170, smile=0.7, asymmetry=-1.0,
      jaw_gain=1.5, brow_gain=0.8, face_scale=(0.97, 1.02, 1.02)),
    S("spk11", "en-gb-scotland+f5", "smiling pout", 60, 60, 165, pout=1.0, smile=0.7, round_gain=1.3,
      face_scale=(1.03, 0.99, 1.0)),
    S("spk12", "en-029+m1", "grinning, thin lips, crisp", 40, 55, 190, smile=0.7, pout=-1.0, jaw_gain=1.1,
      lip_gain=0.2, reach=0.6, round_gain=0.75, face_scale=(1.02, 0.98, 1.01)),
    S("spk13", "en-us-nyc+f2", "lazy, downturned, lopsided left", 64, 40, 150, 2, smile=-0.7, asymmetry=1.0,
      reach=1.3, jaw_gain=0.8, lip_gain=0.7, face_scale=(0.98, 0.97, 1.01)),
    S("spk14", "en-gb-x-gbclan+f3", "sulky pout", 57, 80, 175, smile=-0.7, pout=1.0, jaw_gain=1.3,
      round_gain=1.3, lip_gain=0.4, face_scale=(1.0, 1.02, 1.03)),
    S("spk15", "en+m4", "smiley, lopsided left", 40, 60, 160, smile=0.7, asymmetry=1.0, lip_gain=0.7,
      face_scale=(1.02, 1.0, 0.98)),
    S("spk16", "en-us+Annie", "pouting, lopsided left, little jaw", 58, 65, 175, pout=1.0, asymmetry=1.0,
      jaw_gain=0.5, lip_gain=1.2, face_scale=(0.99, 0.98, 0.97)),
    S("spk17", "en-gb-x-rp+Andy", "mumbling: grim, tight and lazy", 45, 20, 155, 2, smile=-0.7, pout=-1.0,
      jaw_gain=0.45, lip_gain=0.3, round_gain=0.75, reach=1.3, face_scale=(1.01, 1.03, 1.01)),
    S("spk18", "en-029+klatt", "big smile, pouting, lopsided left; crisp", 50, 70, 185, smile=0.7, pout=1.0,
      asymmetry=1.0, reach=0.6, jaw_gain=0.7, lip_gain=1.5, face_scale=(0.96, 0.99, 1.0)),
    S("spk19", "en-gb-scotland+edward", "big mouth, thin lips, lopsided right", 38, 45, 160, pout=-1.0,
      asymmetry=-1.0, jaw_gain=1.7, lip_gain=1.7, round_gain=1.7, face_scale=(1.04, 1.01, 1.02)),
    S("spk20", "en-us-nyc+belinda", "downturned, lopsided right", 60, 50, 170, smile=-0.7, asymmetry=-1.0,
      jaw_gain=0.7, face_scale=(0.98, 1.01, 0.98)),
    S("spk21", "de+m2", "German; downturned, drawn-in lips, lopsided left", 45, 50, 160, smile=-0.7, pout=-1.0,
      asymmetry=1.0, jaw_gain=1.5, lip_gain=0.5, face_scale=(1.01, 0.97, 0.99)),
    S("spk22", "es+f2", "Spanish; smiling pout, lopsided right, big lips", 62, 70, 180, smile=0.7, pout=1.0,
      asymmetry=-1.0, lip_gain=1.7, jaw_gain=0.6, face_scale=(1.03, 1.03, 0.98)),
    S("spk23", "fr+m5", "French; sulky pout, lopsided right", 44, 55, 170, smile=-0.7, pout=1.0,
      asymmetry=-1.0, round_gain=1.7, jaw_gain=0.9, face_scale=(0.97, 0.98, 1.03)),
    S("spk24", "it+f4", "Italian; grinning, drawn-in lips, lopsided left; crisp", 66, 85, 185, smile=0.7,
      pout=-1.0, asymmetry=1.0, jaw_gain=1.4, reach=0.6, lip_gain=1.2, face_scale=(1.0, 0.96, 1.0)),
    # Held out of training: the identity library must cope with them.
    S("spk25", "en-gb-x-gbcwmd+m2", "thin lips, lopsided left, tight", 45, 45, 185, 1, pout=-1.0,
      asymmetry=1.0, lip_gain=0.2, jaw_gain=0.8, face_scale=(1.02, 1.02, 1.0)),
    S("spk26", "en-us+m6", "pouting, lopsided right; lazy", 40, 35, 155, pout=1.0, asymmetry=-1.0, reach=1.2,
      jaw_gain=1.2, face_scale=(1.02, 1.02, 1.02)),
    S("spk27", "es-419+f3", "Spanish (Latin America); grinning, thin lips, lopsided right", 60, 75, 175,
      smile=0.7, pout=-1.0, asymmetry=-1.0, jaw_gain=0.5, round_gain=1.3, face_scale=(0.99, 1.0, 1.04)),
    S("spk28", "fr-be+m1", "French (Belgium); downturned, wide jaw", 40, 40, 165, smile=-0.7, jaw_gain=1.6,
      lip_gain=1.3, face_scale=(1.03, 0.98, 0.97)),
)
del S

HELD_OUT = 4  # the last four styles of any selection are never trained on


def select_styles(count: int) -> list[Style]:
    """The first `count` - HELD_OUT training styles and every held-out one."""
    if not HELD_OUT < count <= len(STYLES):
        raise DiffusionTalkerError(f"--speakers must be between {HELD_OUT + 1} and {len(STYLES)} (got {count})")
    return list(STYLES[:count - HELD_OUT]) + list(STYLES[-HELD_OUT:])


def style_named(name: str) -> Style:
    for style in STYLES:
        if style.name == name:
            return style
    raise DiffusionTalkerError(f"no SynthTalk speaker {name!r} (see 'diffusiontalker data speakers')")
