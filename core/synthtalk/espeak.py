"""A ctypes binding to libespeak-ng that returns audio together with phoneme timings.

Why a binding rather than the ``espeak-ng`` program: the program can print phonemes
or write audio, but only the library's synth callback delivers both from one run,
with each phoneme's position in the audio (``espeakEVENT_PHONEME``), which is the
ground truth our mouth motion is built on. Synchronous mode keeps it single-threaded
and deterministic.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

import numpy as np

from ..errors import DiffusionTalkerError


class EspeakError(DiffusionTalkerError):
    """libespeak-ng is missing, or refused a voice or a text."""


# speak_lib.h constants (stable ABI since eSpeak 1.48).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE, _PARAM_WORDGAP = 1, 3, 4, 7


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass
class Utterance:
    audio: np.ndarray  # float32 mono in [-1, 1] at `sample_rate`
    sample_rate: int
    phonemes: list[tuple[float, float, str]]  # (start_s, end_s, espeak mnemonic); pauses are "_"


class _Engine:
    """The library holds global state, so one engine per process, created lazily."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as exc:
            raise EspeakError(f"libespeak-ng is not installed ({exc}); install the espeak-ng package") from None
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
                                          _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise EspeakError("libespeak-ng failed to initialise (is espeak-ng-data installed?)")
        self.sample_rate = rate
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        self._callback = _CALLBACK(self._on_synth)  # kept referenced: C holds only the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, count, events) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                self._events.append((ev.audio_position, ev.id.string.decode("ascii", "replace")))
            i += 1
        return 0  # 0 = go on synthesising

    def speak(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int, wordgap: int) -> Utterance:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakError(f"espeak-ng has no voice {voice!r}")
        for param, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range),
                             (_PARAM_WORDGAP, wordgap)):
            self.lib.espeak_SetParameter(param, int(value), 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8") + b"\0"
        if self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None) != 0:
            raise EspeakError(f"espeak-ng could not synthesise {text[:40]!r}")
        audio = (np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)).astype(np.float32) / 32768.0
        duration = len(audio) / self.sample_rate
        phonemes = []
        for k, (ms, name) in enumerate(self._events):
            end = self._events[k + 1][0] / 1000.0 if k + 1 < len(self._events) else duration
            start = ms / 1000.0
            if end > start:
                phonemes.append((start, min(end, duration), name))
        return Utterance(audio, self.sample_rate, phonemes)


_ENGINE: _Engine | None = None


def speak(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50, pitch_range: int = 50,
          wordgap: int = 0) -> Utterance:
    """Synthesise `text`; `rate` in words per minute, `pitch`/`pitch_range` 0-100, `wordgap` in 10 ms units."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Engine()
    return _ENGINE.speak(text, voice, rate, pitch, pitch_range, wordgap)
