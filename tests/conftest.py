"""Shared fixtures: tiny models and meshes built in the tests, FLAME data from ../shared."""

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FLAME_DIR = ROOT.parent / "shared" / "flame"
SR = 16_000


def tone(seconds=1.0, freq=220.0, rate=SR, amplitude=0.3):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speechlike(seconds=1.0, rate=SR, seed=0):
    """A pitched, amplitude-modulated signal: enough structure to drive tiny models."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t)
    sig = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 420, 1200), 1))
    return (0.2 * env * sig + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


TINY = dict(num_vertices=40, d_model=32, n_layers=1, n_heads=2, d_identity=8, dropout=0.0,
            encoder={"kind": "mel", "n_mels": 20, "hidden": 32}, identities=["anna", "ben", "cleo"],
            diffusion_steps=32, sampling_steps=8)


@pytest.fixture
def tiny_model():
    import torch

    from diffusiontalker.model import TalkerModel

    torch.manual_seed(0)
    model = TalkerModel(TINY)
    # The output layer and the conditioning modulation start at zero (an untrained model
    # predicts the neutral face); give them weights so tests can see conditioning reach the output.
    with torch.no_grad():
        model.denoiser.motion_out.weight.normal_(0, 0.2)
        for block in model.denoiser.blocks:
            block.modulation.weight.normal_(0, 0.2)
    return model.eval()


@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_model):
    from diffusiontalker.checkpoint import save_checkpoint

    return save_checkpoint(tmp_path / "tiny", tiny_model, card={"trained_on": "nothing (test)"})


@pytest.fixture
def flame_dir():
    if not (FLAME_DIR / "FLAME_sample.ply").is_file():
        pytest.skip(f"FLAME reference data not found at {FLAME_DIR} (it lives in ../shared beside the repo)")
    return FLAME_DIR
