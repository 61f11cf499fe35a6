"""Training-time audio augmentation: the same speech in other voices, rooms and channels.

SynthTalk speaks through one synthesizer, so an audio reader trained on it alone may
key on espeak's timbre and then meet, at generation, a real voice in a kitchen on a
phone. Each training window may be re-voiced (pitch and formants), re-timed, put in
a room, under noise, through a telephone line and through a lossy codec: what stays
is the phonetics, which is what the motion follows.

Every transform keeps the wave's length and its alignment with the motion, because a
few milliseconds of shift between sound and lips is exactly what the model is meant
to learn. Tempo is the exception that must change timing, so ``Augmenter`` re-times
the window's motion and phoneme labels with it: a stretched wave under the original
motion would teach lips that lead or lag the sound.

Every random choice comes from the ``numpy.random.Generator`` handed in, so a run's
seed and step decide the augmentation exactly (a resumed run repeats it). The
generation side never augments; pedalboard is needed for training only.
"""

from __future__ import annotations

import io
import math

import numpy as np

from .audio import SAMPLE_RATE, resample
from .errors import DiffusionTalkerError

# Ranges drawn per window. Tempo: everyday speaking-rate variation (Kaldi's speed
# perturbation uses 0.9-1.1). Voice: pitch within a speaker's range, formants as far as
# a vocal tract's length differs between adults (about 15%). Rooms from a dry office to
# a reverberant hall; noise from clearly audible to barely.
TEMPO = (0.85, 1.15)
SEMITONES = 4.0
FORMANTS = (0.87, 1.15)
RT60_S = (0.15, 0.9)
DRR_DB = (-3.0, 12.0)
SNR_DB = (5.0, 30.0)
NOISE_COLOUR = (0.0, 2.0)  # spectral slope: 0 white, 1 pink, 2 brown
# format -> (FFmpeg encoder, kbps range): the codecs phones, browsers and streaming use
# (Opus from 10 kbps: below it, narrowband SILK comes back two samples late)
CODECS = {"mp3": ("libmp3lame", (16, 48)), "aac": ("aac", (16, 48)), "opus": ("libopus", (10, 24))}
KINDS = ("tempo", "voice", "reverb", "noise", "telephone", "codec")  # the order a window goes through them
TELEPHONE_RATE = 8000
TELEPHONE_BAND = (300.0, 3400.0)


def _fit(wave: np.ndarray, length: int) -> np.ndarray:
    return np.pad(wave[:length], (0, max(0, length - len(wave)))).astype(np.float32, copy=False)


def _stretch(wave: np.ndarray, stretch: float) -> np.ndarray:
    """Rubber Band through pedalboard: ``stretch`` > 1 is faster (shorter), pitch kept. Its
    fast engine, because a training step pays for it several times."""
    from pedalboard import time_stretch

    return time_stretch(np.ascontiguousarray(wave, dtype=np.float32), SAMPLE_RATE, stretch,
                        high_quality=False).reshape(-1)


def tempo(wave: np.ndarray, rate: float) -> np.ndarray:
    """The speech ``rate`` times as fast, pitch and formants kept: round(len / rate) samples."""
    return _fit(_stretch(wave, rate), round(len(wave) / rate))


def voice(wave: np.ndarray, semitones: float, formants: float) -> np.ndarray:
    """The same speech from another throat: pitch ``semitones`` away, every formant scaled
    by ``formants`` (above 1: a shorter vocal tract), duration kept.

    Resampling scales the whole spectrum, pitch and formants together, as vocal tract
    length perturbation does, and Rubber Band restores the duration; the formants are then
    moved on to where they are asked by warping each frame's spectral envelope. Rubber
    Band's own formant preservation let a resonance follow the pitch by up to half its
    shift."""
    ratio = 2.0 ** (semitones / 12)
    if ratio != 1.0:
        played = resample(wave, SAMPLE_RATE * ratio, SAMPLE_RATE)
        wave = _fit(_stretch(played, len(played) / len(wave)), len(wave))
    return wave if formants == ratio else formant_warp(wave, formants / ratio)


FRAME, HOP = 1024, 256  # 64 ms frames, overlapping four times
LIFTER = 40  # cepstral coefficients kept: an envelope smoother than the harmonics of a voice up to 400 Hz


def formant_warp(wave: np.ndarray, factor: float) -> np.ndarray:
    """Every formant moved by ``factor``, the harmonics (the pitch) left where they are: each
    frame's magnitude is divided by its cepstrally smoothed envelope and multiplied by that
    envelope read at f / factor. Phases are untouched and frames are centred, so nothing
    moves in time."""
    padded = np.pad(wave.astype(np.float64), (FRAME // 2, FRAME // 2 + HOP))
    starts = HOP * np.arange(1 + (len(padded) - FRAME) // HOP)
    window = np.hanning(FRAME + 1)[:-1]
    spectrum = np.fft.rfft(padded[starts[:, None] + np.arange(FRAME)] * window, axis=1)
    cepstrum = np.fft.irfft(np.log(np.abs(spectrum) + 1e-9), FRAME, axis=1)
    cepstrum[:, LIFTER:FRAME - LIFTER + 1] = 0.0
    envelope = np.fft.rfft(cepstrum, axis=1).real
    position = np.minimum(np.arange(envelope.shape[1]) / factor, envelope.shape[1] - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, envelope.shape[1] - 1)
    warped = envelope[:, low] * (1 - (position - low)) + envelope[:, high] * (position - low)
    frames = np.fft.irfft(spectrum * np.exp(warped - envelope), FRAME, axis=1) * window
    out, weight = np.zeros(len(padded)), np.zeros(len(padded))
    for start, frame in zip(starts, frames):
        out[start:start + FRAME] += frame
        weight[start:start + FRAME] += window ** 2
    return (out / np.maximum(weight, 1e-8))[FRAME // 2:FRAME // 2 + len(wave)].astype(np.float32)


def reverb(wave: np.ndarray, rt60: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """The wave in a room: convolved with a synthetic impulse response, the direct sound at
    lag 0 (so the speech stays where it was) and a diffuse tail of noise decaying by 60 dB
    over ``rt60`` seconds, ``drr_db`` below the direct sound in energy."""
    n = max(2, int(rt60 * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60)
    tail[:int(0.002 * SAMPLE_RATE)] = 0.0  # the first reflection comes a wall's distance after the direct sound
    response = tail * (10.0 ** (-drr_db / 20) / np.linalg.norm(tail))
    response[0] = 1.0
    size = 1 << (len(wave) + n - 2).bit_length()
    wet = np.fft.irfft(np.fft.rfft(wave, size) * np.fft.rfft(response, size), size)
    return _fit(wet, len(wave))


def noise(wave: np.ndarray, snr_db: float, colour: float, rng: np.random.Generator) -> np.ndarray:
    """The wave plus stationary noise whose power falls as 1/f^``colour``, ``snr_db`` below the
    wave's own power over the window."""
    spectrum = rng.standard_normal(len(wave) // 2 + 1) + 1j * rng.standard_normal(len(wave) // 2 + 1)
    freqs = np.fft.rfftfreq(len(wave), 1 / SAMPLE_RATE)
    freqs[0] = freqs[1] if len(freqs) > 1 else 1.0
    hiss = np.fft.irfft(spectrum * freqs ** (-colour / 2), len(wave))
    power = np.mean(np.square(wave, dtype=np.float64))
    hiss *= math.sqrt(power / 10 ** (snr_db / 10) / max(np.mean(hiss ** 2), 1e-20))
    return (wave + hiss).astype(np.float32)


def telephone(wave: np.ndarray) -> np.ndarray:
    """What a telephone line leaves of the wave: 8 kHz, the 300-3400 Hz band and G.711's
    8-bit mu-law, back at 16 kHz. The band is cut in the frequency domain with gentle
    edges, which delays nothing."""
    narrow = resample(wave, SAMPLE_RATE, TELEPHONE_RATE).astype(np.float64)
    freqs = np.fft.rfftfreq(len(narrow), 1 / TELEPHONE_RATE)
    low, high = TELEPHONE_BAND
    gain = np.clip((freqs - low + 100) / 200, 0, 1) * np.clip((high + 100 - freqs) / 200, 0, 1)
    narrow = np.fft.irfft(np.fft.rfft(narrow) * np.sin(gain * np.pi / 2) ** 2, len(narrow))
    peak = max(float(np.max(np.abs(narrow))), 1e-8)
    mu = 255.0
    coded = np.sign(narrow) * np.log1p(mu * np.abs(narrow / peak)) / np.log1p(mu)
    coded = np.round(coded * 127) / 127
    narrow = np.sign(coded) * np.expm1(np.abs(coded) * np.log1p(mu)) / mu * peak
    return _fit(resample(narrow.astype(np.float32), TELEPHONE_RATE, SAMPLE_RATE), len(wave))


def codec(wave: np.ndarray, name: str, kbps: int) -> np.ndarray:
    """A lossy round trip through ``name`` (mp3, aac or opus) at ``kbps``, in memory.

    Every encoder delays its output by a priming of a frame or so (AAC 1024 samples);
    Matroska records it (CodecDelay) and FFmpeg's decoder drops it, so the wave comes
    back aligned; the tail is cut to the input's length."""
    import av

    if name not in CODECS:
        raise DiffusionTalkerError(f"unknown codec {name!r} (choose from {', '.join(CODECS)})")
    peak = max(1.0, float(np.max(np.abs(wave))))  # an encoder clips at full scale; the level is given back after
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as out:
        stream = out.add_stream(CODECS[name][0], rate=SAMPLE_RATE)
        stream.bit_rate = int(kbps * 1000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray((wave / peak).astype(np.float32)[None], format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    buffer.seek(0)
    as_float = av.AudioResampler(format="flt", layout="mono")
    with av.open(buffer) as source:
        parts = [f.to_ndarray().reshape(-1) for decoded in source.decode(audio=0) for f in as_float.resample(decoded)]
        rate = source.streams.audio[0].codec_context.sample_rate  # Opus always decodes at 48 kHz
    decoded = np.concatenate(parts) * peak
    if rate != SAMPLE_RATE:
        decoded = resample(decoded.astype(np.float32), rate, SAMPLE_RATE)
    return _fit(decoded, len(wave))


def retime(motion: np.ndarray, phones: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``motion`` (T, D) and its phoneme labels (T,) played in ``frames`` frames: linear
    between frames for the motion, the nearest frame's label for the phonemes."""
    position = np.arange(frames) * (len(motion) / frames)
    low = np.minimum(np.floor(position).astype(int), len(motion) - 1)
    high = np.minimum(low + 1, len(motion) - 1)
    w = (position - low)[:, None].astype(motion.dtype)
    nearest = np.minimum(np.rint(position).astype(int), len(motion) - 1)
    return motion[low] * (1 - w) + motion[high] * w, phones[nearest]


class Augmenter:
    """Each kind of augmentation with ``probability``, independently, per training window,
    at strengths drawn from the ranges above; the window's level is kept, as the
    clip's normalisation set it. ``kinds`` narrows the choice (to measure one alone)."""

    def __init__(self, probability: float, fps: float, kinds: tuple[str, ...] = KINDS):
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise DiffusionTalkerError(f"unknown augmentation {', '.join(sorted(unknown))} "
                                       f"(choose from {', '.join(KINDS)})")
        self.probability, self.fps, self.kinds = probability, fps, kinds

    def __call__(self, wave: np.ndarray, motion: np.ndarray, phones: np.ndarray, rng: np.random.Generator):
        coins = rng.random(len(KINDS))
        chosen = {kind for kind, coin in zip(KINDS, coins) if coin < self.probability and kind in self.kinds}
        level = math.sqrt(np.mean(np.square(wave, dtype=np.float64)))
        if "tempo" in chosen:
            wave, motion, phones = self.retimed(wave, motion, phones, rng)
        if "voice" in chosen:
            wave = voice(wave, rng.uniform(-SEMITONES, SEMITONES), math.exp(rng.uniform(*np.log(FORMANTS))))
        if "reverb" in chosen:
            wave = reverb(wave, rng.uniform(*RT60_S), rng.uniform(*DRR_DB), rng)
        if "noise" in chosen:
            wave = noise(wave, rng.uniform(*SNR_DB), rng.uniform(*NOISE_COLOUR), rng)
        if "telephone" in chosen:
            wave = telephone(wave)
        if "codec" in chosen:
            name = list(CODECS)[rng.integers(len(CODECS))]
            wave = codec(wave, name, int(rng.integers(CODECS[name][1][0], CODECS[name][1][1] + 1)))
        now = math.sqrt(np.mean(np.square(wave, dtype=np.float64)))
        return (wave * (level / now) if now > 0 else wave).astype(np.float32), motion, phones


    def retimed(self, wave: np.ndarray, motion: np.ndarray, phones: np.ndarray, rng: np.random.Generator):
        """Window, motion and phoneme labels at another tempo. A slowed window is cut back to
        its frames, at a random place, so that --window stays the longest a batch gets."""
        window = len(motion)
        frames = max(2, round(window / rng.uniform(*TEMPO)))
        motion, phones = retime(motion, phones, frames)
        # the wave is stretched by the motion's rounded ratio, so they stay aligned to the sample
        wave = tempo(wave, len(wave) / round(frames / self.fps * SAMPLE_RATE))
        if frames > window:
            first = int(rng.integers(0, frames - window + 1))
            start = round(first / self.fps * SAMPLE_RATE)
            wave = _fit(wave[start:], round(window / self.fps * SAMPLE_RATE))
            motion, phones = motion[first:first + window], phones[first:first + window]
        return wave, motion, phones


def augmenter(probability: float, fps: float) -> Augmenter | None:
    """The window augmentation ``--augment probability`` asks for, or None at 0; a missing
    pedalboard is said before any training starts."""
    if not probability:
        return None
    try:
        import pedalboard  # noqa: F401
    except ImportError:
        raise DiffusionTalkerError("--augment needs pedalboard (Rubber Band's pitch and tempo): "
                                   "pip install 'diffusiontalker[augment]'") from None
    return Augmenter(probability, fps)
