"""Speech in: any file or array becomes 16 kHz mono float32 at a fixed loudness.

Every encoder (log-mel, HuBERT, wav2vec2) was built for 16 kHz, and the model should
not have to learn that a quiet recording is the same speech as a loud one, so all of
that is settled here once. Resampling is band-limited (soxr) because naive index
picking aliases consonant energy into the band the model listens to.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import AudioError

SAMPLE_RATE = 16_000
TARGET_RMS = 0.1  # about -20 dBFS: speech level with headroom
SILENCE_PEAK = 1e-4  # below this peak (-80 dBFS) there is nothing to lip-sync
DEFAULT_MAX_SECONDS = 600.0
MIN_SECONDS = 0.1  # the encoders' analysis windows (25 ms, padded) need this much to read anything


def load_audio(source, sample_rate: int | None = None, max_seconds: float = DEFAULT_MAX_SECONDS,
               span: tuple[float, float] | None = None) -> np.ndarray:
    """Return 16 kHz mono float32 audio normalised to ``TARGET_RMS``.

    ``source`` is a path to a file soundfile can read (wav, flac, ogg, …) or an
    array of shape (N,) or (N, channels) with its ``sample_rate`` (the Blender add-on
    passes audio it has already decoded). ``span`` (start, end) in seconds keeps only
    that part of the audio (clipped to it): a sound strip trimmed to one line of a long
    recording.
    """
    if isinstance(source, (str, os.PathLike)):
        samples, rate, name = _read_file(os.fspath(source), span)
    else:
        if sample_rate is None:
            raise AudioError("an audio array needs its sample_rate")
        samples, rate, name = np.asarray(source), int(sample_rate), "audio array"
        if samples.dtype.kind not in "fiu":
            raise AudioError(f"{name}: samples must be numbers, got dtype {samples.dtype}")
        if samples.dtype.kind in "iu":  # integer PCM: scale to [-1, 1]
            samples = samples / float(np.iinfo(samples.dtype).max)
        if span is not None and rate > 0 and samples.ndim:
            samples = samples[_span_slice(span, rate, len(samples))]
    if span is not None:
        name = f"{name} ({span[0]:.2f}-{span[1]:.2f} s)"
    if rate <= 0:
        raise AudioError(f"{name}: invalid sample rate {rate}")
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    elif samples.ndim != 1:
        raise AudioError(f"{name}: expected (samples,) or (samples, channels), got shape {samples.shape}")
    samples = samples.astype(np.float32, copy=False)
    if samples.size == 0:
        raise AudioError(f"{name}: audio is empty (zero samples)")
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{name}: audio contains NaN or infinite samples")
    seconds = samples.size / rate
    if seconds < MIN_SECONDS:
        raise AudioError(f"{name}: audio is {seconds * 1000:.0f} ms long; at least {MIN_SECONDS * 1000:.0f} ms "
                         "of speech is needed")
    if seconds > max_seconds:
        raise AudioError(
            f"{name}: audio is {seconds:.1f} s long, over the limit of {max_seconds:.0f} s "
            "(raise the limit, or split the recording)"
        )
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise AudioError(f"{name}: audio is silent (peak below -80 dBFS); nothing to animate")
    if rate != SAMPLE_RATE:
        samples = resample(samples, rate, SAMPLE_RATE)
    return normalise(samples)


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    import soxr

    return soxr.resample(samples, rate_in, rate_out, quality="HQ").astype(np.float32, copy=False)


def normalise(samples: np.ndarray) -> np.ndarray:
    """Remove DC and scale to a fixed RMS, so level never carries meaning."""
    samples = samples - samples.mean()
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    return (samples * (TARGET_RMS / max(rms, 1e-8))).astype(np.float32)


def check_audio_file(path: str) -> None:
    """Refuse a path that is no file before any decoding (the add-on asks before its work)."""
    if os.path.isdir(path):
        raise AudioError(f"{path} is a folder, not an audio file")
    if not os.path.isfile(path):
        raise AudioError(f"audio file not found: {path}")


def _read_file(path: str, span: tuple[float, float] | None = None):
    import soundfile as sf

    check_audio_file(path)
    try:
        with sf.SoundFile(path) as fh:
            rate = fh.samplerate
            part = _span_slice(span, rate, fh.frames)
            fh.seek(part.start)  # only the part asked for is decoded: a strip may use a minute of an hour
            samples = fh.read(part.stop - part.start, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError or TypeError by version
        raise AudioError(f"{path}: not a readable audio file (wav, flac or ogg expected): {exc}") from None
    return samples, int(rate), path


def _span_slice(span: tuple[float, float] | None, rate: int, total: int) -> slice:
    """The samples of ``span`` seconds, clipped to the ``total`` there are; all without a span."""
    if span is None:
        return slice(0, total)
    first, last = (min(max(0, int(round(t * rate))), total) for t in span)
    return slice(first, max(first, last))


def num_frames(num_samples: int, fps: float) -> int:
    """Animation frames covering ``num_samples`` of 16 kHz audio (at least one)."""
    return max(1, int(round(num_samples / SAMPLE_RATE * fps)))
