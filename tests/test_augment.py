"""Training-time audio augmentation: lengths, alignment, what each transform changes, seeds."""

import sys

import numpy as np
import pytest

from diffusiontalker import augment
from diffusiontalker.augment import Augmenter, augmenter
from diffusiontalker.errors import DiffusionTalkerError

SR, FPS = 16_000, 30.0


def clicks(seconds=2.0, seed=0):
    """Single-sample clicks at irregular times: a cross-correlation of two click trains
    peaks at one lag only."""
    wave = np.zeros(int(seconds * SR), np.float32)
    times = np.cumsum(np.random.default_rng(seed).integers(900, 2600, 40))
    wave[times[times < len(wave) - 10]] = 0.8
    return wave


def vowel(seconds=1.0, f0=120.0, formant=700.0):
    """A sustained vowel: harmonics of f0 shaped by one formant (a 150 Hz-wide bump)."""
    t = np.arange(int(seconds * SR)) / SR
    wave = sum(np.exp(-0.5 * ((k * f0 - formant) / 150) ** 2) * np.sin(2 * np.pi * k * f0 * t + k)
               for k in range(1, int(4000 / f0)))
    return (0.1 * wave / np.sqrt(np.mean(wave ** 2))).astype(np.float32)


def speech_like(seconds=3.0, seed=1):
    """Vowels of changing pitch and formant separated by silences, for transforms that
    must follow a changing voice."""
    rng = np.random.default_rng(seed)
    parts = []
    while sum(map(len, parts)) < seconds * SR:
        parts.append(vowel(rng.uniform(0.1, 0.3), rng.uniform(100, 200), rng.uniform(400, 1500)))
        parts.append(np.zeros(int(rng.uniform(0.05, 0.2) * SR), np.float32))
    return np.concatenate(parts)[:int(seconds * SR)]


def lag(reference, other) -> int:
    """The lag (samples) at which ``other`` best matches ``reference``."""
    n = 2 * max(len(reference), len(other))
    xc = np.fft.irfft(np.fft.rfft(other, n) * np.conj(np.fft.rfft(reference, n)), n)
    k = int(np.argmax(xc))
    return k if k < n // 2 else k - n


def envelope(wave, hop=16):
    """Smoothed loudness per millisecond, mean removed."""
    n = len(wave) // hop
    e = np.sqrt(np.mean(wave[:n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    e = np.convolve(e, np.ones(5) / 5, "same")
    return e - e.mean()


def f0_of(wave) -> float:
    """The fundamental from the autocorrelation's strongest peak between 60 and 400 Hz."""
    x = wave[len(wave) // 4: 3 * len(wave) // 4].astype(np.float64)
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)[:SR // 60]
    low = SR // 400
    return SR / (low + int(np.argmax(ac[low:])))


def band(seconds=1.0, centre=1000.0, seed=0):
    """Whispered sound: noise shaped by one resonance at ``centre`` Hz, no pitch at all."""
    n = int(seconds * SR)
    freqs = np.fft.rfftfreq(n, 1 / SR)
    rng = np.random.default_rng(seed)
    spectrum = np.exp(-0.5 * ((freqs - centre) / 150) ** 2 + 2j * np.pi * rng.random(len(freqs)))
    wave = np.fft.irfft(spectrum * rng.standard_normal(len(freqs)), n)
    return (0.1 * wave / np.std(wave)).astype(np.float32)


def centre_of(wave) -> float:
    """The power-weighted mean frequency between 200 Hz and 4 kHz."""
    power = np.abs(np.fft.rfft(wave.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(wave), 1 / SR)
    keep = (freqs > 200) & (freqs < 4000)
    return float((power[keep] * freqs[keep]).sum() / power[keep].sum())


CHANNEL = {  # the transforms that keep the wave's time axis sample for sample
    "reverb": lambda w, rng: augment.reverb(w, 0.6, -3.0, rng),
    "noise": lambda w, rng: augment.noise(w, 10.0, 1.0, rng),
    "telephone": lambda w, rng: augment.telephone(w),
    **{f"{name} {kbps} kbps": (lambda w, rng, name=name, kbps=kbps: augment.codec(w, name, kbps))
       for name, (_, rates) in augment.CODECS.items() for kbps in rates},
}


@pytest.mark.parametrize("name", CHANNEL)
def test_rooms_noise_telephone_and_codecs_keep_length_and_alignment_to_the_sample(name):
    wave = clicks()
    out = CHANNEL[name](wave, np.random.default_rng(0))
    assert out.shape == wave.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert lag(wave, out) == 0  # a codec's priming delay is trimmed, the room's direct sound is at lag 0
    assert not np.allclose(out, wave, atol=1e-3)  # and the transform did something


@pytest.mark.parametrize("name", ["reverb", "noise"])
def test_the_random_transforms_repeat_with_their_seed(name):
    wave = speech_like()
    first, again = (CHANNEL[name](wave, np.random.default_rng(5)) for _ in range(2))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, CHANNEL[name](wave, np.random.default_rng(6)))


def test_noise_is_added_at_the_asked_snr_with_the_asked_colour():
    wave = vowel(2.0)
    for colour in (0.0, 2.0):
        added = augment.noise(wave, 12.0, colour, np.random.default_rng(0)) - wave
        assert 10 * np.log10(np.mean(wave.astype(np.float64) ** 2) / np.mean(added.astype(np.float64) ** 2)) \
            == pytest.approx(12.0, abs=0.01)
        power = np.abs(np.fft.rfft(added)) ** 2
        freqs = np.fft.rfftfreq(len(added), 1 / SR)
        ratio = power[(freqs > 100) & (freqs < 400)].mean() / power[(freqs > 3000) & (freqs < 6000)].mean()
        assert (0.5 < ratio < 2) if colour == 0 else ratio > 50  # white is flat, brown falls 6 dB an octave


def test_the_telephone_keeps_its_band():
    t = np.arange(SR) / SR
    for hz, kept in ((150, False), (1000, True), (5000, False)):
        out = augment.telephone((0.1 * np.sin(2 * np.pi * hz * t)).astype(np.float32))
        assert (np.std(out) > 0.05) == kept, hz


@pytest.mark.parametrize("semitones, formants", [(4.0, 1.0), (-4.0, 1.0), (0.0, 1.15), (0.0, 0.87), (3.0, 0.87)])
def test_voice_moves_pitch_and_formants_apart_and_keeps_the_duration(semitones, formants):
    voiced, whispered = vowel(1.0), band(1.0)
    out = augment.voice(voiced, semitones, formants)
    assert out.shape == voiced.shape and np.isfinite(out).all()
    assert f0_of(out) / f0_of(voiced) == pytest.approx(2 ** (semitones / 12), rel=0.03)
    # a resonance moves with the formants alone, whatever the pitch does
    assert centre_of(augment.voice(whispered, semitones, formants)) / centre_of(whispered) \
        == pytest.approx(formants, rel=0.02)


def test_voice_and_tempo_keep_speech_where_it_was_within_a_fraction_of_a_frame():
    wave = speech_like()
    for semitones, formants in ((3.0, 1.0), (-4.0, 0.87), (4.0, 1.15)):
        assert abs(lag(envelope(wave), envelope(augment.voice(wave, semitones, formants)))) <= 10  # ms
    for rate in (0.85, 1.15):
        out = augment.tempo(wave, rate)
        assert len(out) == round(len(wave) / rate)
        stretched = envelope(out)
        # the original's loudness read at the times the stretched wave plays them
        expected = np.interp(np.arange(len(stretched)) * rate, np.arange(len(envelope(wave))), envelope(wave))
        assert abs(lag(expected, stretched)) <= 10


def test_retime_plays_the_motion_in_the_new_number_of_frames():
    motion = np.arange(10, dtype=np.float32)[:, None] * [1.0, 2.0]
    phones = np.arange(10)
    faster, labels = augment.retime(motion.astype(np.float32), phones, 5)
    np.testing.assert_allclose(faster[:, 0], [0, 2, 4, 6, 8])
    np.testing.assert_array_equal(labels, [0, 2, 4, 6, 8])
    slower, labels = augment.retime(motion.astype(np.float32), phones, 20)
    np.testing.assert_allclose(slower[:3, 1], [0, 1, 2])
    assert slower.dtype == np.float32 and labels[-1] == 9


def window(seconds=2.0):
    """A training window: clicks in the audio and a spike in the motion at the same frames."""
    frames = int(seconds * FPS)
    wave = np.zeros(round(frames / FPS * SR), np.float32)
    motion = np.zeros((frames, 3), np.float32)
    for frame in (10, 25, 47):
        wave[round(frame / FPS * SR)] = 1.0
        motion[frame] = 1.0
    return wave, motion, np.arange(frames)


def test_tempo_retimes_the_motion_with_the_audio():
    wave, motion, phones = window()
    tempo_only = Augmenter(1.0, FPS, kinds=("tempo",))
    lengths = set()
    for seed in range(6):
        out, moved, labels = tempo_only(wave, motion, phones, np.random.default_rng(seed))
        lengths.add(len(moved))
        assert len(moved) <= len(motion) and len(labels) == len(moved)  # a slowed window is cut back
        assert len(out) == round(len(moved) / FPS * SR)  # the wave still covers its frames exactly
        spikes = np.flatnonzero(np.diff((moved[:, 0] > 0).astype(int)) == 1) + 1
        assert len(spikes) >= 1
        for first in spikes:  # each spike, spread over neighbours by the re-timing, against its click
            near = slice(first, first + 3)
            seen = (np.arange(len(moved))[near] * moved[near, 0]).sum() / moved[near, 0].sum() / FPS
            samples = np.arange(max(0, round((seen - 0.05) * SR)), min(len(out), round((seen + 0.05) * SR)))
            power = out[samples].astype(np.float64) ** 2
            heard = (samples * power).sum() / power.sum() / SR
            assert abs(heard - seen) < 0.01  # seconds: a third of a frame
    assert min(lengths) < len(motion) and len(motion) in lengths  # some sped up, some slowed and cut


def test_the_augmenter_repeats_with_its_seed_keeps_the_level_and_does_nothing_at_zero():
    wave, motion, phones = speech_like(2.0), np.random.default_rng(0).random((60, 6), np.float32), np.arange(60)
    every = Augmenter(1.0, FPS)
    first = every(wave, motion, phones, np.random.default_rng(3))
    again = every(wave, motion, phones, np.random.default_rng(3))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert np.sqrt(np.mean(first[0] ** 2)) == pytest.approx(np.sqrt(np.mean(wave ** 2)), rel=1e-4)
    nothing = Augmenter(0.0, FPS)(wave, motion, phones, np.random.default_rng(3))
    np.testing.assert_array_equal(nothing[0], wave)
    assert nothing[1] is motion
    assert augmenter(0.0, FPS) is None


def test_bad_names_and_a_missing_pedalboard_get_one_message(monkeypatch):
    with pytest.raises(DiffusionTalkerError, match="unknown codec 'wma'"):
        augment.codec(clicks(), "wma", 32)
    with pytest.raises(DiffusionTalkerError, match="unknown augmentation echo"):
        Augmenter(0.5, FPS, kinds=("echo",))
    monkeypatch.setitem(sys.modules, "pedalboard", None)
    with pytest.raises(DiffusionTalkerError, match=r"pip install 'diffusiontalker\[augment\]'"):
        augmenter(0.3, FPS)
