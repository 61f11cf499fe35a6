import numpy as np
import pytest

from conftest import FLAME_DIR
from diffusiontalker.errors import DiffusionTalkerError
from diffusiontalker.rig_solve import bounded_least_squares, canonical, flame_basis, match_keys, solve_weights

needs_flame = pytest.mark.skipif(not (FLAME_DIR / "FLAME_sample.ply").is_file(), reason="needs ../shared/flame")


@pytest.fixture(scope="module")
def rig():
    from heads import arkit_keys, flame, speech_motion
    mesh, masks, template = flame(FLAME_DIR)
    return mesh, template, arkit_keys(mesh.vertices, mesh.faces, masks), speech_motion(mesh.vertices, mesh.faces, masks)


def test_key_names_match_whatever_the_rig_calls_them():
    assert canonical("mouthSmile_L") == canonical("MouthSmileLeft") == canonical("ARKit.mouthSmile.l")
    assert canonical("mouthFunnel") == "mouthfunnel"  # a name ending in l or r is not a side
    assert canonical("mouthRollUpper") == "mouthrollupper"
    found = match_keys(["Basis", "blendShape1.JawOpen", "mouthSmile_R", "EyeBlink.L", "vrc.v_PP", "MyCustomKey"])
    assert found == {"blendShape1.JawOpen": "jawOpen", "mouthSmile_R": "mouthSmileRight",
                     "EyeBlink.L": "eyeBlinkLeft", "vrc.v_PP": "PP"}


def test_bounded_least_squares_keeps_the_box_and_finds_the_interior_optimum():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 5))
    inside = np.array([0.2, 0.5, 0.9, 0.0, 0.3])
    w = bounded_least_squares(a.T @ a, (np.stack([a @ inside, a @ (inside + 2)]) @ a))
    np.testing.assert_allclose(w[0], inside, atol=1e-6)
    assert w.min() >= 0 and w.max() <= 1
    np.testing.assert_allclose(w[1], 1.0)  # far beyond the box: every key at full


@needs_flame
def test_arkit_keys_on_a_flame_head_reproduce_the_lips_within_a_millimetre(rig):
    mesh, template, keys, motion = rig
    weights = solve_weights(motion, flame_basis(keys, template), template)
    assert all(0.0 <= w.min() and w.max() <= 1.0 for w in weights.values())
    rebuilt = sum(weights[name][:, None, None] * keys[name][None] for name in weights)
    lips = template.masks["lips"]
    error_mm = 1000 * np.linalg.norm(rebuilt[:, lips] - motion[:, lips], axis=-1)
    assert error_mm.mean() < 1.0
    assert weights["jawOpen"].max() > 0.1


@needs_flame
def test_only_allowed_keys_are_driven_and_each_is_scaled(rig):
    _, template, keys, motion = rig
    basis = flame_basis(keys, template)
    full = solve_weights(motion, basis, template, allow=["jawOpen"])
    assert list(full) == ["jawOpen"]
    half = solve_weights(motion, basis, template, allow=["jawOpen"], scale={"jawOpen": 0.5})
    np.testing.assert_allclose(half["jawOpen"], 0.5 * full["jawOpen"])
    with pytest.raises(DiffusionTalkerError, match="no shape key named cheekPuff"):
        solve_weights(motion, basis, template, allow=["cheekPuff"])


@needs_flame
def test_keys_of_another_topology_are_read_back_onto_the_template(rig):
    from heads import remeshed
    from diffusiontalker.transfer import register, transfer
    mesh, template, keys, _ = rig
    vertices, faces = remeshed(mesh.vertices, mesh.faces)
    registration = register(template, vertices, faces)
    names = ["jawOpen", "mouthFunnel"]
    on_head = transfer(np.stack([keys[n] for n in names]), registration, template, "offsets")
    back = flame_basis(dict(zip(names, on_head)), template, registration, (vertices, faces))
    lips = template.masks["lips"]
    for name in names:
        error = np.linalg.norm(back[name][lips] - keys[name][lips], axis=1).mean()
        assert error < 0.2 * np.linalg.norm(keys[name][lips], axis=1).mean(), name
    with pytest.raises(DiffusionTalkerError, match="needs fitting first"):
        flame_basis({"jawOpen": on_head[0]}, template)
