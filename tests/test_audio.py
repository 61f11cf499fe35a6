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


def encode_aac(path, samples, rate, container_format=None):
    """A real AAC recording, as a phone writes it (m4a) or as a raw ADTS stream (.aac)."""
    import av
    planar = np.atleast_2d(samples.T if samples.ndim == 2 else samples).astype(np.float32)
    layout = "stereo" if planar.shape[0] == 2 else "mono"
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream("aac", rate=rate, layout=layout)
        for start in range(0, planar.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, start:start + 4096]),
                                               format="fltp", layout=layout)
            frame.sample_rate, frame.pts = rate, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def chirp(seconds, rate, f0=200.0, f1=1800.0):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * seconds)))).astype(np.float32)


def correlation(a, b):
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def test_a_phones_stereo_m4a_is_decoded(tmp_path):
    left, right = tone(1.5, 440.0, 48000, 0.4), tone(1.5, 440.0, 48000, 0.1)
    path = encode_aac(tmp_path / "phone.m4a", np.stack([left, right], axis=1), 48000)
    out = load_audio(path)
    assert out.ndim == 1 and out.dtype == np.float32
    assert len(out) / SR == pytest.approx(1.5, abs=0.05)
    assert dominant_frequency(out, SR) == pytest.approx(440.0, abs=2.0)
    assert correlation(out, load_audio((left + right) / 2, 48000)) > 0.99
    assert np.sqrt(np.mean(out.astype(np.float64) ** 2)) == pytest.approx(TARGET_RMS, rel=1e-3)


def test_a_raw_aac_stream_is_decoded(tmp_path):
    speech = chirp(2.0, 44100, f1=900.0)
    out = load_audio(encode_aac(tmp_path / "take.aac", speech, 44100, container_format="adts"))
    # A raw stream has no edit list to drop the encoder's priming frame or its last frame's padding
    # (1024 samples each, 23 ms at 44.1 kHz).
    assert len(out) / SR == pytest.approx(2.0, abs=0.05)
    original = load_audio(speech, 44100)
    best = max(range(int(0.03 * SR)), key=lambda lag: correlation(out[lag:], original))
    assert best / SR < 0.03 and correlation(out[best:], original) > 0.98


def test_a_span_of_an_m4a_decodes_only_that_part(tmp_path):
    speech = chirp(6.0, 44100)
    path = encode_aac(tmp_path / "long.m4a", speech, 44100)
    part = load_audio(path, span=(3.0, 4.5))
    assert len(part) == pytest.approx(1.5 * SR, abs=1)
    whole = load_audio(path)
    original = load_audio(speech[3 * 44100:int(4.5 * 44100)], 44100)
    assert correlation(part, original) > 0.99
    assert correlation(part, whole[3 * SR:int(4.5 * SR)]) > 0.999  # the seek landed where the whole decode has it
    assert len(load_audio(path, span=(5.5, 9.0))) / SR == pytest.approx(0.5, abs=0.05)  # clipped to the file
    with pytest.raises(AudioError, match=r"long.m4a \(7.00-8.00 s\): audio is empty"):
        load_audio(path, span=(7.0, 8.0))


def test_a_too_long_m4a_is_refused_before_decoding(tmp_path, monkeypatch):
    from diffusiontalker import audio

    path = encode_aac(tmp_path / "lecture.m4a", chirp(3.0, 16000), 16000)
    real_decode = audio._decode
    monkeypatch.setattr(audio, "_decode", lambda *a: pytest.fail("decoded a file its container said was too long"))
    with pytest.raises(AudioError, match=r"lecture.m4a: audio is 3.0 s long, over the limit of 2 s"):
        load_audio(path, max_seconds=2)
    monkeypatch.setattr(audio, "_decode", real_decode)  # a container that under-declares: decoding stops at the limit
    monkeypatch.setattr(audio, "_DURATION_SLACK", 100.0)
    with pytest.raises(AudioError, match=r"lecture.m4a: audio is 3.0 s long, over the limit of 2 s"):
        load_audio(path, max_seconds=2)
    assert len(load_audio(path, max_seconds=2, span=(0.5, 2.0))) == pytest.approx(1.5 * SR, abs=1)


def test_broken_m4a_files_name_the_file(tmp_path):
    random_bytes = tmp_path / "random.m4a"
    random_bytes.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    renamed_text = tmp_path / "notes.m4a"
    renamed_text.write_text("not audio at all")
    whole = encode_aac(tmp_path / "whole.m4a", chirp(2.0, 44100), 44100).read_bytes()
    truncated = tmp_path / "cut-off.m4a"  # a recording whose index (moov, written last) never made it
    truncated.write_bytes(whole[:len(whole) // 2])
    for path in (random_bytes, renamed_text, truncated):
        with pytest.raises(AudioError, match=rf"^{path}: not a readable audio file \(.*m4a.*\): \w") as caught:
            load_audio(path)
        assert "\n" not in str(caught.value)


def test_a_video_without_sound_is_refused(tmp_path):
    import av
    path = tmp_path / "silent-film.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(AudioError, match=rf"^{path}: no audio stream in the file"):
        load_audio(path)


def test_without_pyav_the_message_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "voice-memo.m4a"
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00" + bytes(64))
    monkeypatch.setitem(__import__("sys").modules, "av", None)  # import av now raises ImportError
    with pytest.raises(AudioError, match=rf"^{path}: not a readable audio file .*pip install av.*m4a, aac and mp4"):
        load_audio(path)
