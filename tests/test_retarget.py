import numpy as np
import pytest

from diffusiontalker.errors import DiffusionTalkerError
from diffusiontalker.mesh import read_mesh
from diffusiontalker.retarget import retarget


def grid_face(n=9):
    """A flat n x n patch (x right, y up) as a stand-in face, triangulated."""
    xs, ys = np.meshgrid(np.linspace(-0.04, 0.04, n), np.linspace(-0.06, 0.0, n))
    verts = np.stack([xs.ravel(), ys.ravel(), np.zeros(n * n)], axis=1).astype(np.float32)
    faces = []
    for r in range(n - 1):
        for c in range(n - 1):
            a = r * n + c
            faces += [[a, a + 1, a + n], [a + 1, a + n + 1, a + n]]
    return verts, faces


def widen_mouth(verts, centre_y, factor=1.3, inner=0.02, outer=0.035):
    """Scale x by ``factor`` within ``inner`` of the mouth centre, easing back to 1 at ``outer``."""
    out = verts.copy()
    d = np.hypot(verts[:, 0], verts[:, 1] - centre_y)
    u = np.clip((outer - d) / (outer - inner), 0, 1)
    out[:, 0] *= 1 + (factor - 1) * u * u * (3 - 2 * u)
    return out


def corner_pull(verts, amount=0.003):
    """Every vertex moves outwards in x in proportion to its x: a smile-like spread."""
    motion = np.zeros((1,) + verts.shape, np.float32)
    motion[0, :, 0] = verts[:, 0] / 0.04 * amount
    return motion


def test_offsets_mode_keeps_motion_as_is():
    verts, faces = grid_face()
    motion = corner_pull(verts)
    np.testing.assert_array_equal(retarget(motion, verts, verts * 1.1, faces, "offsets"), motion)


def test_deformation_transfer_scales_with_a_wider_mouth():
    verts, faces = grid_face()
    wide = widen_mouth(verts, centre_y=-0.03)
    motion = corner_pull(verts)
    moved = retarget(motion, verts, wide, faces, "deformation")
    centre = np.argmin(np.hypot(verts[:, 0] - 0.01, verts[:, 1] + 0.03))  # near the mouth centre
    far = np.argmin(np.hypot(verts[:, 0] - 0.04, verts[:, 1] - 0.0))  # far corner of the patch
    assert moved[0, centre, 0] / motion[0, centre, 0] == pytest.approx(1.3, rel=0.06)
    assert moved[0, far, 0] / motion[0, far, 0] == pytest.approx(1.0, abs=0.05)
    # Same face, same motion: the identity map.
    np.testing.assert_allclose(retarget(motion, verts, verts, faces, "deformation"), motion, atol=1e-7)


def test_flame_head_with_a_30_percent_wider_mouth(flame_dir):
    mesh = read_mesh(flame_dir / "FLAME_sample.ply")
    verts = mesh.vertices
    wide = widen_mouth(verts, centre_y=-0.043, factor=1.3, inner=0.035, outer=0.06)
    corners = np.where((np.abs(np.abs(verts[:, 0]) - 0.029) < 0.002) & (np.abs(verts[:, 1] + 0.043) < 0.002))[0]
    assert corners.size >= 2
    motion = np.zeros((1,) + verts.shape, np.float32)
    motion[0, :, 0] = np.sign(verts[:, 0]) * 0.004 * (np.abs(verts[:, 1] + 0.043) < 0.02)  # corners pulled apart
    moved = retarget(motion, verts, wide, mesh.faces, "deformation")
    ratio = moved[0, corners, 0] / motion[0, corners, 0]
    assert wide[corners, 0] / verts[corners, 0] == pytest.approx(1.3, rel=1e-4)  # the mouth is 30% wider
    assert np.median(ratio) == pytest.approx(1.3, rel=0.08)


def test_wrong_vertex_count_is_refused():
    verts, faces = grid_face()
    with pytest.raises(DiffusionTalkerError, match="vertices"):
        retarget(corner_pull(verts), verts, verts[:10], faces, "deformation")
