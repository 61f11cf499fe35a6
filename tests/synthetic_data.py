"""A tiny dataset in SynthTalk's on-disk layout, built in the tests (no espeak, no FLAME).

Each speaker's "mouth" (the first vertices) opens with the audio's loudness, scaled by
a per-speaker gain, and each speaker's voice has its own pitch: enough for a tiny
model to have something to learn and for styles to differ.
"""

import json

import numpy as np
import soundfile as sf

SR, FPS, V = 16_000, 30.0, 40


def make_synthtalk(root, speakers=3, sentences=4, seconds=1.2, seed=0):
    rng = np.random.default_rng(seed)
    for sub in ("vertices_npy", "wav", "phonemes"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    template = rng.normal(0, 0.05, (V, 3)).astype(np.float32)
    names = [f"spk{i:02d}" for i in range(speakers)]
    splits = {"train": [], "val": [], "test": [], "test_unseen": []}
    frames = int(seconds * FPS)
    t = np.arange(int(seconds * SR)) / SR
    for i, speaker in enumerate(names):
        for n in range(1, sentences + 1):
            name = f"{speaker}_sentence{n:02d}"
            env = np.clip(np.sin(2 * np.pi * rng.uniform(1.5, 3.0) * t + rng.uniform(0, 6)), 0, None)
            audio = (0.3 * env * np.sin(2 * np.pi * (110 + 60 * i) * t)).astype(np.float32)
            sf.write(root / "wav" / f"{name}.wav", audio, SR)
            loud = env[(np.arange(frames) / FPS * SR).astype(int)]
            motion = np.zeros((frames, V, 3), np.float32)
            motion[:, :8, 1] = -0.004 * (1 + i) * loud[:, None]
            np.save(root / "vertices_npy" / f"{name}.npy", (template + motion).reshape(frames, -1))
            (root / "phonemes" / f"{name}.tsv").write_text("start\tend\tphoneme\n0.0\t0.1\tp\n0.1\t0.4\ta\n")
            splits["train" if n < sentences else "test"].append(name)
    np.savez(root / "templates.npz", **{s: template for s in names})
    (root / "synthtalk.json").write_text(json.dumps({"dataset": "SynthTalk (test fixture)", "fps": FPS,
                                                     "splits": splits}))
    return root


# a model small enough to train in seconds: the training tests' flags
TINY_TRAINING = ["--d-model", "32", "--layers", "1", "--heads", "2", "--d-identity", "8", "--diffusion-steps", "32",
                 "--batch-size", "4", "--window", "0.6", "--save-every", "100", "--lr", "1e-3"]


def synthtalk_fixture():
    """A module-scoped pytest fixture of the tiny dataset, for a test module to name ``dataset``."""
    import pytest

    @pytest.fixture(scope="module")
    def dataset(tmp_path_factory):
        return make_synthtalk(tmp_path_factory.mktemp("synthtalk"))

    return dataset
