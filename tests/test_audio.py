import numpy as np
import pytest
import soundfile as sf

from conftest import SR, speechlike, tone
from diffusiontalker.audio import TARGET_RMS, load_audio, num_frames
from diffusiontalker.errors import AudioError


def dominant_frequency(x, rate):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()]


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resampler_keeps_a_sines_frequency(rate):
    out = load_audio(tone(1.0, 440.0, rate), rate)
    assert len(out) == pytest.approx(SR, abs=2)
    assert dominant_frequency(out, SR) == pytest.approx(440.0, abs=2.0)


def test_resampler_is_band_limited():
    """A 9 kHz tone is above the 8 kHz Nyquist of 16 kHz audio: it must be removed, not
    folded back to 7 kHz as index-picking would do."""
    x = tone(1.0, 440.0, 48000) + tone(1.0, 9000.0, 48000)
    out = load_audio(x, 48000)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    freqs = np.fft.rfftfreq(len(out), 1 / SR)
    alias = spectrum[(freqs > 6900) & (freqs < 7100)].max()
    assert alias < 1e-3 * spectrum.max()


def test_stereo_file_is_mixed_to_mono_and_normalised(tmp_path):
    left, right = tone(0.5, 300.0, 44100, 0.8), tone(0.5, 300.0, 44100, 0.2)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, right], axis=1), 44100)
    out = load_audio(path)
    assert out.ndim == 1 and out.dtype == np.float32
    assert np.sqrt(np.mean(out.astype(np.float64) ** 2)) == pytest.approx(TARGET_RMS, rel=1e-3)


def test_integer_pcm_array_is_scaled():
    x = (tone(0.5) * 32767).astype(np.int16)
    assert np.abs(load_audio(x, SR)).max() < 1.0


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.wav", "not found"),
    (lambda p: (p / "notes.wav").write_text("not audio at all") and p / "notes.wav", "not a readable audio file"),
])
def test_bad_files(tmp_path, make, message):
    with pytest.raises(AudioError, match=message):
        load_audio(make(tmp_path))


@pytest.mark.parametrize("samples, message", [
    (np.zeros(0, np.float32), "empty"),
    (np.full(160, 0.1, np.float32), "10 ms long; at least 100 ms"),  # too short for the encoders to read
    (np.zeros(SR, np.float32), "silent"),
    (np.array([0.1, np.nan, 0.2] * 100, np.float32), "NaN"),
    (np.array([0.1, np.inf, 0.2] * 100, np.float32), "NaN or infinite"),
    (np.array(["a", "b"]), "must be numbers"),
])
def test_bad_arrays(samples, message):
    with pytest.raises(AudioError, match=message):
        load_audio(samples, SR)


def test_too_long_is_refused_before_work():
    with pytest.raises(AudioError, match="over the limit of 2 s"):
        load_audio(speechlike(3.0), SR, max_seconds=2)


def test_array_needs_rate():
    with pytest.raises(AudioError, match="sample_rate"):
        load_audio(speechlike(0.5))


def test_frame_count_follows_duration():
    assert num_frames(SR * 2, 30.0) == 60
    assert num_frames(SR * 2, 25.0) == 50
    assert num_frames(10, 30.0) == 1


def test_a_span_reads_only_that_part_of_a_file(tmp_path):
    import soundfile as sf

    path = tmp_path / "long.wav"
    speech = speechlike(3.0)
    sf.write(path, speech, SR)
    part = load_audio(path, span=(1.0, 2.5))
    assert len(part) == int(1.5 * SR)
    np.testing.assert_allclose(part, load_audio(speech[SR:int(2.5 * SR)], SR), atol=1e-4)
    assert len(load_audio(path, span=(2.5, 9.0))) == int(0.5 * SR)  # clipped to the file
    with pytest.raises(AudioError, match=r"long.wav \(4.00-5.00 s\): audio is empty"):
        load_audio(path, span=(4.0, 5.0))


def test_a_span_cuts_an_array_as_it_cuts_a_file():
    speech = speechlike(1.0)
    np.testing.assert_allclose(load_audio(speech, SR, span=(0.5, 1.0)), load_audio(speech[SR // 2:], SR), atol=1e-6)
