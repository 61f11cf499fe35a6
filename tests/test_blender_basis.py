"""The keyframed-basis factorisation (numpy only, no Blender needed)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

PATH = Path(__file__).resolve().parents[1] / "diffusiontalker_addon" / "basis.py"


@pytest.fixture(scope="module")
def basis():
    # By path: the add-on package's parent is the extension, importable only inside Blender.
    spec = importlib.util.spec_from_file_location("dt_basis_under_test", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def motion(frames=300, vertices=500, rank=6, noise=1e-5, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] / 30.0
    weights = np.sin(t * rng.uniform(1, 8, rank) + rng.uniform(0, 6, rank)) * np.exp(-np.arange(rank) / 3)
    shapes = rng.standard_normal((rank, vertices, 3)) * 0.003
    out = np.einsum("tk,kvc->tvc", weights, shapes) + rng.standard_normal((frames, vertices, 3)) * noise
    return out.astype(np.float32)


def test_recovers_low_rank_motion_and_reports_its_true_error(basis):
    offsets = motion()
    fit = basis.principal_basis(offsets, 8)
    assert fit.shapes.shape == (8, 500, 3) and fit.weights.shape == (300, 8)
    rebuilt = np.einsum("tk,kvc->tvc", fit.weights, fit.shapes)
    distance = np.linalg.norm(rebuilt - offsets, axis=2)
    assert fit.rms_error == pytest.approx(np.sqrt((distance**2).mean()), rel=1e-3)
    assert fit.max_error == pytest.approx(distance.max(), rel=1e-3)
    assert fit.rms_error < 5e-5  # only the 1e-5 noise is left


def test_matches_the_exact_svd_when_truncated(basis):
    offsets = motion(rank=20)
    fit = basis.principal_basis(offsets, 5)
    u, s, vt = np.linalg.svd(offsets.reshape(300, -1).astype(np.float64), full_matrices=False)
    best = np.linalg.norm((offsets.reshape(300, -1) - (u[:, :5] * s[:5]) @ vt[:5]).reshape(300, -1, 3), axis=2)
    assert fit.rms_error == pytest.approx(np.sqrt((best**2).mean()), rel=0.02)


def test_weights_fit_shape_key_sliders_and_are_deterministic(basis):
    offsets = motion()
    first, second = basis.principal_basis(offsets, 8, seed=1), basis.principal_basis(offsets, 8, seed=1)
    assert np.abs(first.weights).max() == pytest.approx(1.0)
    assert np.array_equal(first.weights, second.weights) and np.array_equal(first.shapes, second.shapes)


def test_short_takes_and_still_faces(basis):
    short = basis.principal_basis(motion(frames=3), 32)
    assert short.shapes.shape[0] == 3 and short.rms_error < 1e-6
    still = basis.principal_basis(np.zeros((40, 50, 3), np.float32), 4)
    assert np.all(np.isfinite(still.weights)) and still.max_error == 0.0
