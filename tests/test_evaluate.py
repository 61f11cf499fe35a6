import json

import numpy as np
import pytest

from diffusiontalker.data import Clip
from diffusiontalker.evaluate import (bilabial_closures, fdd, lve, markdown_table, mean_pairwise_l2,
                                      mouth_opening, nearest_speaker, pearson, relative_style_hits, sentence_of,
                                      style_signature)
from diffusiontalker.regions import mouth_landmarks


def test_lve_is_max_squared_lip_error_per_frame():
    gt = np.zeros((2, 4, 3))
    pred = gt.copy()
    pred[0, 1] = [0.003, 0.004, 0.0]  # 5 mm on a lip vertex: 25e-6 m²
    pred[0, 3] = [0.1, 0, 0]  # not a lip vertex: ignored
    pred[1, 2] = [0.001, 0, 0]
    np.testing.assert_allclose(lve(pred, gt, np.array([0, 1, 2])), [25e-6, 1e-6])


def test_fdd_sign_follows_who_moves_more():
    rng = np.random.default_rng(0)
    lively = rng.normal(0, 0.01, (50, 6, 3))
    still = lively * 0.1
    idx = np.arange(6)
    assert fdd(still, lively, idx) > 0 > fdd(lively, still, idx)
    assert fdd(lively, lively, idx) == 0


def test_pairwise_diversity():
    a, b = np.zeros((3, 2, 3)), np.zeros((3, 2, 3))
    b[..., 0] = 0.002
    assert mean_pairwise_l2([a, b]) == pytest.approx(0.002)
    assert mean_pairwise_l2([a]) == 0.0


def toy_face():
    """Two upper-lip and two lower-lip vertices on the midline, and corners far from it."""
    t = np.array([[0, -0.040, 0.08], [0.002, -0.041, 0.08], [0, -0.046, 0.08], [0.002, -0.047, 0.08],
                  *[[sx * 0.03, -0.043 + dy, 0.07] for sx in (-1, 1) for dy in (-0.001, 0.0, 0.001)]],
                 np.float32)
    return t, np.arange(len(t))


def test_mouth_opening_and_bilabial_closure():
    template, lips = toy_face()
    upper, lower = mouth_landmarks(template, lips)
    assert set(upper) == {0, 1} and set(lower) == {2, 3}
    frames = np.repeat(template[None], 30, axis=0)
    frames[:10, lower, 1] -= 0.008  # open 8 mm for the first third
    frames[10:20, lower, 1] -= 0.0005  # nearly closed
    opening = mouth_opening(frames, template, upper, lower)
    np.testing.assert_allclose(opening[:10], 0.008, atol=1e-6)
    hits = bilabial_closures(opening, [(0.05, 0.2, "p"), (0.4, 0.6, "b"), (0.1, 0.2, "a")], fps=30)
    assert hits == [False, True]  # 'a' is not bilabial and is not counted


def test_pearson_and_signature():
    x = np.linspace(0, 1, 20)
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert pearson(x, np.zeros(20)) is None
    sig = style_signature(np.random.default_rng(0).normal(size=(10, 5, 3)), np.array([0, 2]))
    assert sig.shape == (12,)


def test_markdown_table_shows_missing_values_as_dashes():
    table = markdown_table({"student (8 steps)": {"steps": 8, "lve_x1e5": 1.5, "style_accuracy": None}})
    assert "| student (8 steps) | 8 | 1.500 |" in table and "–" in table


def test_style_is_judged_against_the_same_sentence():
    """A take moving like speaker B's truth of this sentence is B's, even though it says
    the sentence at A's pace (signatures ignore timing)."""
    t = np.linspace(0, 2 * np.pi, 60)
    idx = np.arange(4)
    refs = {}
    for name, gain in (("A", 1.0), ("B", 2.0), ("C", 3.0)):
        truth = np.zeros((60, 4, 3))
        truth[:, :, 1] = gain * 0.001 * np.sin(3 * t)[:, None]
        refs[name] = style_signature(truth, idx)
    take = np.zeros((60, 4, 3))
    take[:, :, 1] = 2.0 * 0.001 * np.sin(3 * t + 0.7)[:, None]  # B's amplitude, shifted in time
    assert nearest_speaker(take, refs, idx) == "B"
    clip = Clip("spk03_sentence12", "spk03", np.zeros(1, np.float32), np.zeros((1, 4, 3), np.float32),
                np.zeros((4, 3), np.float32), 30.0, None)
    assert sentence_of(clip) == "sentence12"


def test_relative_style_forgives_what_all_takes_share_and_nothing_else():
    """Takes that all move 1 mm less than their speaker's truth are mostly judged wrong in
    absolute terms and right relative to one another; takes whose identities are swapped
    are wrong both ways."""
    t = np.linspace(0, 2 * np.pi, 60)
    idx = np.arange(4)

    def moving(gain):
        m = np.zeros((60, 4, 3))
        m[:, :, 1] = gain * 0.001 * np.sin(3 * t)[:, None]
        return m

    gains = {"A": 1.0, "B": 2.0, "C": 3.0}
    refs = {n: style_signature(moving(g), idx) for n, g in gains.items()}
    names = list(gains)
    shared_error = [moving(g - 1.0) for g in gains.values()]
    assert [nearest_speaker(x, refs, idx) for x in shared_error] == ["A", "A", "B"]
    assert relative_style_hits(shared_error, names, refs, idx) == [True, True, True]
    swapped = [moving(gains["C"]), moving(gains["B"]), moving(gains["A"])]
    assert relative_style_hits(swapped, names, refs, idx) == [False, True, False]
    assert relative_style_hits(shared_error, names, {"A": refs["A"]}, idx) == []


def test_a_region_file_without_the_lists_asked_for_is_refused(tmp_path):
    from diffusiontalker.errors import DiffusionTalkerError
    from diffusiontalker.regions import load_regions

    path = tmp_path / "regions.json"
    path.write_text(json.dumps({"lve": [0, 1, 2], "note": "no fdd"}))
    assert list(load_regions(path, 10, ("lve",))) == ["lve"]
    with pytest.raises(DiffusionTalkerError, match="no 'fdd' vertex list"):
        load_regions(path, 10, ("lve", "fdd"))
    path.write_text("[1, 2]")
    with pytest.raises(DiffusionTalkerError, match="expected a JSON object"):
        load_regions(path)
