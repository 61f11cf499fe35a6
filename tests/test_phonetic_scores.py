"""Phonetic scores (evaluate.phonetic_scores): a take judged by its timed phones alone.

The phone-timed reference (SynthTalk articulating the phones) is the ceiling; a
take that ignores the phones (flat, or its frames shuffled) must score near nothing,
and a delayed copy must show its delay, or the scores could not tell a good take
from a bad one on real voices.
"""

import json

import numpy as np
import pytest

from diffusiontalker.evaluate import (OPENNESS_MM, articulated_openness, best_lag, openness_correlation,
                                      pause_frames, phone_timed_reference, phonetic_scores)
from diffusiontalker.regions import mouth_landmarks

FPS = 30.0
# "Put the big map back, Bob. ... We were away a year ago." in CMUdict's phones, with
# the lengths a speaker gives them (pauses of 0.5 s in the middle and at both ends).
WORDS = ("p uh t", "dh ah", "b ih g", "m ae p", "b ae k", "b aa b", None, "w iy", "w er", "ah w ey", "ah",
         "y ih r", "ah g ow", "sh iy", "s aw ch", "f ay n", "th ih ng z", "l ay k", "hh oy", "dh ae t")


def timed_phones():
    rng = np.random.default_rng(7)
    rows, t = [(0.0, 0.5, "sil")], 0.5
    for word in WORDS:
        if word is None:
            rows.append((t, t + 0.5, "sil"))
            t += 0.5
            continue
        for phone in word.split():
            length = float(rng.uniform(0.07, 0.16))
            rows.append((round(t, 3), round(t + length, 3), phone))
            t += length
    rows.append((t, t + 0.5, "sil"))
    return rows, int(round((t + 0.5) * FPS))


@pytest.fixture(scope="module")
def face():
    from conftest import FLAME_DIR

    if not (FLAME_DIR / "FLAME_sample.ply").is_file():
        pytest.skip(f"FLAME reference data not found at {FLAME_DIR}")
    from diffusiontalker.synthtalk.build import load_rig

    rig = load_rig(FLAME_DIR / "FLAME_sample.ply")
    lips = np.asarray(json.loads((FLAME_DIR / "FLAME_masks.json").read_text())["lips"])
    phones, frames = timed_phones()
    reference = phone_timed_reference(rig, phones, FPS, frames)
    return rig, mouth_landmarks(rig.template, lips), phones, reference


def scores(face, take):
    rig, lips, phones, reference = face
    return phonetic_scores(take, rig.template.astype(np.float32), FPS, phones, lips, reference)


def test_the_frozen_openness_table_is_what_the_rig_gives(face):
    rig, (upper, lower), _, _ = face
    now = articulated_openness(rig, upper, lower)
    assert set(now) == set(OPENNESS_MM)
    for phone, mm in now.items():
        assert OPENNESS_MM[phone] == pytest.approx(mm, abs=0.01), phone


def test_openness_ranks_open_vowels_over_close_ones_over_bilabials():
    assert min(OPENNESS_MM[p] for p in ("aa", "ae", "ao")) > OPENNESS_MM["eh"] > max(OPENNESS_MM[p] for p in
                                                                                    ("iy", "uw", "ih"))
    assert max(OPENNESS_MM[p] for p in ("p", "b", "m", "f", "v")) < 0.5


def test_the_phone_timed_reference_scores_at_the_ceiling(face):
    s = scores(face, face[3])
    assert s["openness_r"] > 0.8
    assert s["lag_frames"] == 0
    assert s["bilabial_closure"] == 1.0 and s["bilabials"] == 7
    assert s["rest_mm"] < 0.2
    assert s["range_mm"] > 5


def test_a_late_copy_shows_its_delay(face):
    reference = face[3]
    late = np.concatenate([np.repeat(reference[:1], 3, axis=0), reference[:-3]])
    early = np.concatenate([reference[2:], np.repeat(reference[-1:], 2, axis=0)])
    assert scores(face, late)["lag_frames"] == 3
    assert scores(face, early)["lag_frames"] == -2


def test_a_constant_take_scores_nothing(face):
    _, (upper, lower), _, reference = face
    ajar = np.zeros_like(reference)
    ajar[:, lower, 1] = -0.003  # the mouth held 3 mm open throughout
    s = scores(face, ajar)
    assert s["bilabial_closure"] == 0.0
    assert s["openness_r"] is None and s["lag_frames"] is None
    assert s["range_mm"] == pytest.approx(0.0, abs=1e-6)
    assert s["rest_mm"] == pytest.approx(3.0, abs=0.01)
    still = scores(face, np.zeros_like(reference))
    assert still["bilabial_closure"] == 1.0  # a face at rest keeps every closure...
    assert still["openness_r"] is None  # ...and says nothing of the phones


def test_a_shuffled_take_loses_the_phones(face):
    rng = np.random.default_rng(0)
    reference = face[3]
    rs = [scores(face, reference[rng.permutation(len(reference))])["openness_r"] for _ in range(5)]
    assert abs(np.mean(rs)) < 0.25
    assert scores(face, reference)["openness_r"] - max(rs) > 0.5


def test_an_open_mouth_misses_closures_and_rest(face):
    rig, (upper, lower), _, reference = face
    gaping = reference.copy()
    gaping[:, lower, 1] -= 0.005  # the lower lip 5 mm down throughout
    s = scores(face, gaping)
    assert s["bilabial_closure"] == 0.0
    assert s["rest_mm"] == pytest.approx(5.0, abs=0.3)
    assert s["openness_r"] == pytest.approx(scores(face, reference)["openness_r"], abs=1e-6)


def test_openness_correlation_uses_spoken_phones_only():
    opening = np.zeros(90)
    opening[30:45] = 0.008   # aa
    opening[45:60] = 0.001   # iy
    phones = [(0.0, 1.0, "sil"), (1.0, 1.5, "aa1"), (1.5, 2.0, "IY"), (2.0, 2.5, "m"), (2.5, 3.0, "sil")]
    assert openness_correlation(opening, phones, 30.0) == pytest.approx(1.0, abs=0.05)
    assert openness_correlation(opening, phones[:2], 30.0) is None  # one phone: nothing to correlate


def test_lag_sign_and_window():
    rng = np.random.default_rng(1)
    curve = np.convolve(rng.normal(size=200), np.ones(5) / 5, mode="same")
    assert best_lag(np.roll(curve, 4), curve) == 4
    assert best_lag(np.roll(curve, -6), curve) == -6
    assert best_lag(np.zeros(200), curve) is None


def test_pauses_are_long_silences_without_their_edges():
    phones = [(0.0, 0.2, "sil"), (0.2, 0.5, "aa"), (0.5, 1.5, "sil"), (1.5, 1.7, "m"), (1.7, 1.9, "sp")]
    assert list(pause_frames(phones, 10.0, 20)) == [6, 7, 8, 9, 10, 11, 12, 13]
    assert len(pause_frames(phones[:2], 10.0, 20)) == 0
