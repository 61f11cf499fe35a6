"""Phone names to articulation classes: espeak-ng mnemonics and ARPAbet.

SynthTalk's own clips carry espeak-ng's mnemonics (case matters there: ``S`` is
/ʃ/, ``s`` is /s/), while forced aligners and pronouncing dictionaries speak
ARPAbet (any case, stress digits). Both map onto one set of classes, so the same
articulation can be driven by espeak's timings or by an alignment of a real
recording, and checked against the phonetics of either.
"""

from __future__ import annotations

import re

from ..errors import DiffusionTalkerError

# One class per distinct way of moving jaw and lips; the targets live in articulation.py.
CLASSES = ("pause", "bilabial", "labiodental", "dental", "alveolar", "lateral", "sibilant", "postalveolar",
           "velar", "glottal", "open", "open_front", "open_round", "mid", "mid_r", "schwa", "mid_round",
           "close_front", "close_lax", "close_round", "close_round_lax", "front_round", "w", "j", "r")

_ARPABET = {
    "p": "bilabial", "b": "bilabial", "m": "bilabial", "em": "bilabial",
    "f": "labiodental", "v": "labiodental", "th": "dental", "dh": "dental",
    "t": "alveolar", "d": "alveolar", "n": "alveolar", "en": "alveolar", "dx": "alveolar", "nx": "alveolar",
    "l": "lateral", "el": "lateral", "s": "sibilant", "z": "sibilant",
    "sh": "postalveolar", "zh": "postalveolar", "ch": "postalveolar", "jh": "postalveolar",
    "k": "velar", "g": "velar", "ng": "velar", "hh": "glottal", "h": "glottal", "q": "glottal",
    "aa": "open", "ah": "open", "ae": "open_front", "ao": "open_round",
    "eh": "mid", "er": "mid_r", "axr": "mid_r", "ax": "schwa", "ix": "schwa", "ax-h": "schwa",
    "iy": "close_front", "ih": "close_lax", "uw": "close_round", "ux": "close_round", "uh": "close_round_lax",
    "w": "w", "y": "j", "r": "r",
    "aw": ("open", "close_round_lax"), "ay": ("open", "close_lax"), "ey": ("mid", "close_lax"),
    "ow": ("mid_round", "close_round_lax"), "oy": ("mid_round", "close_lax"),
}
ARPABET_SILENCE = ("pau", "sil", "sp", "spn", "")

# espeak-ng mnemonics of English and of the other languages SynthTalk speaks ('#'
# and length marks are folded away before the look-up).
_ESPEAK = {
    **dict.fromkeys(["p", "b", "m", "p\\", "B"], "bilabial"),
    **dict.fromkeys(["f", "v", "pf", "F"], "labiodental"),
    **dict.fromkeys(["T", "D"], "dental"),
    **dict.fromkeys(["t", "d", "n", "n-", "*", "?", "ts", "dz", "t2", "d2", "nj", "J", "n^"], "alveolar"),
    **dict.fromkeys(["l", "l/", "L", "l^", "@L", "l-", "ll"], "lateral"),
    **dict.fromkeys(["s", "z", "s2", "z2"], "sibilant"),
    **dict.fromkeys(["S", "Z", "tS", "dZ", "tS;", "dZ;", "s;", "z;", "S;", "Z;", "c", "tc", "C"], "postalveolar"),
    **dict.fromkeys(["k", "g", "N", "x", "Q", "G", "q", "j/", "X", "R", "r/"], "velar"),
    **dict.fromkeys(["h", "h#"], "glottal"),
    **dict.fromkeys(["a", "A", "aa", "V", "a2", "A~", "a~", "aI@", "aU@", "A@", "a@"], "open"),
    **dict.fromkeys(["0", "O", "O@", "o@", "O~", "0@"], "open_round"),
    **dict.fromkeys(["E", "e", "E2", "E@", "e@", "E~", "e~", "E3"], "mid"),
    **dict.fromkeys(["3", "3r", "@r"], "mid_r"),
    **dict.fromkeys(["@", "@2", "@5", "@-", "I2", "I#", "y#"], "schwa"),
    **dict.fromkeys(["o", "o~", "W", "W~", "Y", "2"], "mid_round"),
    **dict.fromkeys(["i", "iI", "i@", "i@3", "I@"], "close_front"),
    **dict.fromkeys(["I", "e#"], "close_lax"),
    **dict.fromkeys(["u", "U@", "u@"], "close_round"),
    **dict.fromkeys(["U"], "close_round_lax"),
    **dict.fromkeys(["y", "y:"], "front_round"),
    **dict.fromkeys(["w", "W/"], "w"),
    **dict.fromkeys(["j", "j2"], "j"),
    **dict.fromkeys(["r", "r-", "rr", "R2", "r\""], "r"),
}
_ESPEAK_GLIDES = {"aI": ("open", "close_lax"), "aU": ("open", "close_round_lax"), "eI": ("mid", "close_lax"),
                  "OI": ("mid_round", "close_lax"), "oU": ("mid_round", "close_round_lax"),
                  "@U": ("schwa", "close_round_lax"), "ai": ("open", "close_lax"), "au": ("open", "close_round_lax"),
                  "ei": ("mid", "close_lax"), "oi": ("mid_round", "close_lax"), "eu": ("mid", "close_round_lax"),
                  "Oy": ("open_round", "front_round"), "aY": ("open", "front_round")}

Classes = tuple[str, ...]  # one class, or a (nucleus, offglide) pair for a diphthong


def espeak_class(name: str) -> Classes | None:
    """The class(es) of an espeak mnemonic, or None when it is not one we know."""
    if name.startswith("_") or name.strip().lower() in ARPABET_SILENCE:
        return ("pause",)
    for key in (name, name.rstrip("#;"), name.rstrip("#;:"), name.rstrip("#;:").replace(":", "")):
        if key in _ESPEAK_GLIDES:
            return _ESPEAK_GLIDES[key]
        if key in _ESPEAK:
            return (_ESPEAK[key],)
    return None


def arpabet_class(name: str) -> Classes | None:
    """The class(es) of an ARPAbet phone (any case, stress digits allowed), or None."""
    key = name.strip().lower()
    if key == "ah0":  # CMUdict's unstressed AH is the schwa
        return ("schwa",)
    key = re.sub(r"[0-2]$", "", key)
    if key in ARPABET_SILENCE:
        return ("pause",)
    found = _ARPABET.get(key)
    return None if found is None else found if isinstance(found, tuple) else (found,)


def classes_of(name: str) -> Classes:
    """For espeak's own output: an unknown mnemonic (a rare one of some language)
    moves like a velar, taking the jaw of the vowels around it, rather than failing a build."""
    return espeak_class(name) or ("velar",)


def to_classes(phones: list[tuple[float, float, str]]) -> tuple[list[tuple[float, float, Classes]], str]:
    """(phones as classes, their alphabet): ARPAbet when every phone is one (as aligners
    write them), else espeak-ng's mnemonics; a phone neither knows is refused by name and time."""
    for alphabet, look_up in (("arpabet", arpabet_class), ("espeak", espeak_class)):
        found = [look_up(name) for _, _, name in phones]
        if all(f is not None for f in found):
            return [(s, e, f) for (s, e, _), f in zip(phones, found)], alphabet
    unknown = [(start, name) for start, _, name in phones if arpabet_class(name) is None and espeak_class(name) is None]
    if unknown:
        raise DiffusionTalkerError(f"unknown phone {unknown[0][1]!r} at {unknown[0][0]:g} s "
                                   "(neither ARPAbet nor an espeak-ng mnemonic)")
    raise DiffusionTalkerError("the phones mix ARPAbet and espeak-ng mnemonics; use one alphabet per file")
