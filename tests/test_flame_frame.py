"""Where a FLAME-topology head stands against FLAME's frame (core/flame_frame.py)."""

import numpy as np
import pytest

from diffusiontalker import flame_frame
from diffusiontalker.flame_frame import frame_of
from diffusiontalker.mesh import read_mesh


@pytest.fixture
def template(flame_dir):
    return read_mesh(flame_dir / "FLAME_sample.ply").vertices.astype(np.float64)


def rotation(axis: int, degrees: float) -> np.ndarray:
    """Row-vector rotation about one axis."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [k for k in range(3) if k != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, s, -s, c
    return r


def test_the_lengths_are_the_templates_and_a_flame_head_is_left_as_it_is(template):
    v = template
    assert np.linalg.norm(v[flame_frame.LEFT_EYE] - v[flame_frame.RIGHT_EYE]) == pytest.approx(flame_frame.EYES_M,
                                                                                               rel=1e-4)
    assert np.linalg.norm(v[flame_frame.FOREHEAD] - v[flame_frame.LIPS]) == pytest.approx(
        flame_frame.FOREHEAD_TO_LIPS_M, rel=1e-4)
    offsets = np.random.default_rng(0).normal(0, 1e-3, (4, len(v), 3)).astype(np.float32)
    for head in (v, v * 1.15, v @ rotation(0, 6.0), v + offsets[0]):  # another face, a nod, an expression
        frame = frame_of(head)
        assert frame.is_flames and frame.to_head(offsets) is offsets


@pytest.mark.parametrize("turn, size", [
    (rotation(0, -90.0), 1.0),      # stood up Z-up, the face toward -Y, as Blender's front view shows a head
    (rotation(0, -90.0), 100.0),    # and modelled in centimetres
    (rotation(1, 180.0), 0.01),     # facing away, in units of 10 cm
    (rotation(2, 35.0) @ rotation(0, 20.0), 1.0),  # tilted, no quarter turn
])
def test_a_head_turned_or_sized_gets_the_offsets_turned_and_sized_with_it(template, turn, size):
    head = size * template @ turn
    frame = frame_of(head)
    assert not frame.is_flames
    offsets = np.random.default_rng(1).normal(0, 1e-3, (3, len(template), 3))
    expected = size * offsets @ turn
    assert np.abs(frame.to_head(offsets) - expected).max() < 0.02 * np.abs(expected).max()
    np.testing.assert_allclose(frame.to_flame(frame.to_head(offsets)), offsets, atol=1e-12)
    # the template moved by its offsets, then turned, is the turned head moved by the turned offsets
    moved = size * (template + offsets[0]) @ turn
    assert np.abs(head + frame.to_head(offsets[0]) - moved).max() < 0.02 * size * np.abs(offsets[0]).max()
