"""Style blending, key poses and long audio: the controls animators need beyond a style name."""

import numpy as np
import pytest

from conftest import speechlike
from diffusiontalker import pipeline
from diffusiontalker.errors import DiffusionTalkerError
from diffusiontalker.pipeline import Generator, frame_weights, windows


@pytest.fixture
def gen(tiny_checkpoint):
    return Generator.load(tiny_checkpoint, "cpu")


def test_blend_endpoints_are_the_two_styles(gen):
    audio = speechlike(1.0)
    a = gen.generate(audio, 16000, style="anna", seed=1).offsets
    b = gen.generate(audio, 16000, style="ben", seed=1).offsets
    np.testing.assert_allclose(gen.generate(audio, 16000, style="anna", blend_style="ben", blend=0.0, seed=1).offsets,
                               a, atol=1e-7)
    np.testing.assert_allclose(gen.generate(audio, 16000, style="anna", blend_style="ben", blend=1.0, seed=1).offsets,
                               b, atol=1e-7)
    half = gen.generate(audio, 16000, style="anna", blend_style="ben", blend=0.5, seed=1).offsets
    assert 0 < np.abs(half - a).mean() < np.abs(b - a).mean()


def test_blend_weight_can_change_over_the_clip(gen):
    audio = speechlike(1.0)
    a = gen.generate(audio, 16000, style="anna", seed=2).offsets
    b = gen.generate(audio, 16000, style="ben", seed=2).offsets
    ramp = gen.generate(audio, 16000, style="anna", blend_style="ben", blend=np.linspace(0, 1, 30), seed=2).offsets
    # Early frames are closer to anna, late frames closer to ben.
    assert np.abs(ramp[:5] - a[:5]).mean() < np.abs(ramp[:5] - b[:5]).mean()
    assert np.abs(ramp[-5:] - b[-5:]).mean() < np.abs(ramp[-5:] - a[-5:]).mean()
    np.testing.assert_allclose(frame_weights([0, 0.5, 1], 5), [0, 0.5, 1, 1, 1])
    np.testing.assert_allclose(frame_weights(2.0, 3), [1, 1, 1])


def test_key_poses_are_met_exactly(gen):
    rng = np.random.default_rng(0)
    poses = {5: rng.normal(0, 0.004, (40, 3)).astype(np.float32), 20: np.zeros((40, 3), np.float32)}
    take = gen.generate(speechlike(1.0), 16000, style=0, seed=3, key_poses=poses)
    for frame, pose in poses.items():
        np.testing.assert_allclose(take.offsets[frame], pose, atol=1e-6)
    free = gen.generate(speechlike(1.0), 16000, style=0, seed=3).offsets
    assert np.abs(take.offsets[5] - free[5]).max() > 1e-3  # the pose really was imposed


def test_bad_key_poses(gen):
    with pytest.raises(DiffusionTalkerError, match="outside the take"):
        gen.generate(speechlike(1.0), 16000, style=0, key_poses={99: np.zeros((40, 3))})
    with pytest.raises(DiffusionTalkerError, match="expected \\(40, 3\\)"):
        gen.generate(speechlike(1.0), 16000, style=0, key_poses={3: np.zeros((41, 3))})


def test_window_plan_covers_with_overlap():
    assert windows(50, 60, 6) == [(0, 50)]
    spans = windows(130, 60, 6)
    assert spans[0] == (0, 60) and spans[-1][1] == 130
    assert all(b - a <= 60 for a, b in spans)
    assert all(prev[1] - nxt[0] == 6 for prev, nxt in zip(spans, spans[1:]))


def test_long_audio_is_stitched_in_windows(gen, monkeypatch):
    monkeypatch.setattr(pipeline, "WINDOW_SECONDS", 1.0)
    monkeypatch.setattr(pipeline, "OVERLAP_SECONDS", 0.2)
    seen = []
    take = gen.generate(speechlike(3.5), 16000, style=1, seed=0, progress=lambda d, n: seen.append((d, n)))
    assert take.offsets.shape == (105, 40, 3)
    spans = windows(105, 30, 6)
    assert seen[-1] == (8 * len(spans), 8 * len(spans))
    again = gen.generate(speechlike(3.5), 16000, style=1, seed=0)
    np.testing.assert_array_equal(take.offsets, again.offsets)


def test_style_can_be_an_embedding_vector(gen):
    audio = speechlike(1.0)
    by_name = gen.generate(audio, 16000, style="ben", seed=2)
    row = gen.model.bank.embeddings[gen.model.bank.index("ben")].detach().numpy()
    by_vector = gen.generate(audio, 16000, style=row, seed=2)
    np.testing.assert_allclose(by_vector.offsets, by_name.offsets, atol=1e-7)
    assert by_vector.style == "custom"
    with pytest.raises(DiffusionTalkerError, match="style vector needs"):
        gen.generate(audio, 16000, style=row[:-1])
