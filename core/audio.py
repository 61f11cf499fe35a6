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

    ``source`` is a path to an audio file (wav, flac, ogg, mp3 through soundfile; m4a,
    aac, mp4 and other containers through PyAV, since phones record AAC) or an array of
    shape (N,) or (N, channels) with its ``sample_rate`` (the Blender add-on passes audio
    it has already decoded). ``span`` (start, end) in seconds keeps only that part of
    the audio (clipped to it): a sound strip trimmed to one line of a long recording.
    """
    if isinstance(source, (str, os.PathLike)):
        samples, rate, name = _read_file(os.fspath(source), span, max_seconds)
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
    name = _label(name, span)
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
        raise _too_long(name, seconds, max_seconds)
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


def _label(name: str, span: tuple[float, float] | None) -> str:
    return name if span is None else f"{name} ({span[0]:.2f}-{span[1]:.2f} s)"


def _too_long(name: str, seconds: float | None, max_seconds: float) -> AudioError:
    length = "over the limit" if seconds is None else f"{seconds:.1f} s long, over the limit"
    return AudioError(f"{name}: audio is {length} of {max_seconds:.0f} s (raise the limit, or split the recording)")


def _read_file(path: str, span: tuple[float, float] | None = None, max_seconds: float = DEFAULT_MAX_SECONDS):
    """soundfile first (exact, fast seeking in PCM), PyAV for what libsndfile cannot open."""
    import soundfile as sf

    check_audio_file(path)
    try:
        fh = sf.SoundFile(path)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError or TypeError by version
        return _read_with_av(path, span, max_seconds, exc)
    try:
        with fh:
            rate = fh.samplerate
            part = _span_slice(span, rate, fh.frames)
            if rate > 0 and part.stop - part.start > max_seconds * rate:  # refused before an hour is decoded
                raise _too_long(_label(path, span), (part.stop - part.start) / rate, max_seconds)
            fh.seek(part.start)  # only the part asked for is decoded: a strip may use a minute of an hour
            samples = fh.read(part.stop - part.start, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(f"{path}: not a readable audio file ({_EXPECTED}): {exc}") from None
    return samples, int(rate), path


_EXPECTED = "wav, flac, ogg, mp3, m4a, aac or mp4 expected"
_PREROLL_SECONDS = 0.5  # decoded before a span's start: AAC's first frame after a seek is incomplete
_DURATION_SLACK = 1.01  # a raw AAC stream's duration is estimated from its bitrate; refuse early only when clearly over


def _read_with_av(path: str, span: tuple[float, float] | None, max_seconds: float, sf_error: Exception):
    """Decode through FFmpeg (PyAV): what phones and video editors write is AAC in mp4/m4a/mov.

    Channels are kept at the file's own rate so that mixing down and resampling are the
    same code as for soundfile's files; the container's declared length refuses a
    too-long file before decoding, and decoding stops at the limit in case it lied.
    """
    try:
        import av
    except ImportError:
        raise AudioError(f"{path}: not a readable audio file (wav, flac, ogg or mp3 expected): {sf_error}; "
                         "installing the Python package `av` (pip install av) adds m4a, aac and mp4") from None
    try:
        container = av.open(path)
    except Exception as exc:
        raise AudioError(f"{path}: not a readable audio file ({_EXPECTED}): {_av_reason(exc)}") from None
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path}: no audio stream in the file (a video without sound?)")
        stream = container.streams.audio[0]
        declared = _declared_seconds(container, stream)
        if declared is not None:
            first, last = (0.0, declared) if span is None else (min(max(0.0, t), declared) for t in span)
            if last - first > max_seconds * _DURATION_SLACK:
                raise _too_long(_label(path, span), last - first, max_seconds)
        try:
            samples, rate = _decode(path, container, stream, span, max_seconds)
        except _OverLimit:
            over = declared if declared is not None and span is None and declared > max_seconds else None
            raise _too_long(_label(path, span), over, max_seconds) from None
        except AudioError:
            raise
        except Exception as exc:
            raise AudioError(f"{path}: not a readable audio file ({_EXPECTED}): {_av_reason(exc)}") from None
        if rate is None:  # no frame decoded: load_audio says the audio is empty, naming the span
            rate = stream.rate or SAMPLE_RATE
    return samples, rate, path


class _OverLimit(Exception):
    """Decoding passed max_seconds: the container under-declared its length."""


def _decode(path, container, stream, span, max_seconds):
    """Samples (N, channels) float32 of ``span`` (all without one) and their rate.

    Positions count decoded samples from the first frame, as soundfile counts them. A
    span that starts late seeks there (less some pre-roll) and places its first frame by
    timestamp; where the container cannot say where the seek landed, the file is read
    again from its start, slower but still right.
    """
    import av

    if span is not None and span[0] - _PREROLL_SECONDS > 0:
        target = (stream.start_time or 0) + int((span[0] - _PREROLL_SECONDS) / stream.time_base)
        try:
            container.seek(target, stream=stream)
        except av.error.FFmpegError:  # past the end, or a stream that cannot seek: read it through
            decoded = None
        else:
            decoded = _decode_part(container, stream, span, max_seconds, placed=True)
        if decoded is not None:
            return decoded
        with av.open(path) as again:
            return _decode_part(again, again.streams.audio[0], span, max_seconds, placed=False)
    return _decode_part(container, stream, span, max_seconds, placed=False)


def _decode_part(container, stream, span, max_seconds, placed: bool):
    """Decode from wherever the container stands; ``placed``: position the first frame by its timestamp."""
    import av

    converter = av.AudioResampler(format="fltp")  # float planar; layout and rate stay the first frame's
    chunks, rate, position, kept, part = [], None, 0, 0, None

    def take(frames) -> bool:
        nonlocal position, kept
        for out in frames:
            data = out.to_ndarray()
            lo, hi = max(part.start, position), min(part.stop, position + data.shape[1])
            if hi > lo:
                chunks.append(data[:, lo - position:hi - position])
                kept += hi - lo
            position += data.shape[1]
        if kept > max_seconds * rate:
            raise _OverLimit
        return position >= part.stop

    done = False
    for frame in container.decode(stream):
        if rate is None:
            rate = frame.sample_rate
            part = _span_slice(span, rate, 1 << 62)
            if placed:
                start = None if frame.pts is None else float((frame.pts - (stream.start_time or 0)) * stream.time_base)
                if start is None or start > span[0]:
                    return None
                position = int(round(start * rate))
        if take(converter.resample(frame)):
            done = True
            break
    if rate is None:
        return np.zeros((0, 1), np.float32), None
    if not done:
        take(converter.resample(None))  # what a rate change mid-stream left in the converter
    if not chunks:
        return np.zeros((0, 1), np.float32), rate
    return np.ascontiguousarray(np.concatenate(chunks, axis=1).T, dtype=np.float32), rate


def _declared_seconds(container, stream) -> float | None:
    import av

    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _av_reason(exc: Exception) -> str:
    """FFmpeg's words without the path it appends (the message already starts with it)."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _span_slice(span: tuple[float, float] | None, rate: int, total: int) -> slice:
    """The samples of ``span`` seconds, clipped to the ``total`` there are; all without a span."""
    if span is None:
        return slice(0, total)
    first, last = (min(max(0, int(round(t * rate))), total) for t in span)
    return slice(first, max(first, last))


def pieces(wave: np.ndarray, size_s: float, search_s: float = 5.0) -> list[tuple[int, np.ndarray]]:
    """16 kHz audio cut into (first sample, piece) of at most ``size_s`` each (for a
    recogniser or an aligner that cannot take more), each cut at the quietest 0.1 s of its
    last ``search_s`` seconds, so that a word is rarely split. A last piece under 0.1 s is
    left out."""
    size, search, hop = int(size_s * SAMPLE_RATE), int(search_s * SAMPLE_RATE), SAMPLE_RATE // 10
    out, at = [], 0
    while len(wave) - at > size:
        energy = np.square(wave[at + size - search:at + size]).reshape(-1, hop).sum(1)
        cut = at + size - search + int(np.argmin(energy)) * hop + hop // 2
        out.append((at, wave[at:cut]))
        at = cut
    out.append((at, wave[at:]))
    return [(first, p) for first, p in out if len(p) >= hop]


def num_frames(num_samples: int, fps: float) -> int:
    """Animation frames covering ``num_samples`` of 16 kHz audio (at least one)."""
    return max(1, int(round(num_samples / SAMPLE_RATE * fps)))
