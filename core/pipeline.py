"""Audio in, a take out: the one entry point the CLI and the Blender add-on share.

``Generator`` owns a loaded checkpoint and turns speech into per-frame vertex
offsets from the neutral face. It knows nothing about files it writes or meshes it
animates; the CLI and the add-on do that, each in its own way.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from .audio import DEFAULT_MAX_SECONDS, SAMPLE_RATE, load_audio, num_frames
from .checkpoint import BUNDLED, load_checkpoint, sha256_of, paths_of
from .diffusion import GaussianDiffusion
from .errors import DiffusionTalkerError
from .identity import nearest_identity

AUTO = "auto"


@dataclass
class Take:
    offsets: np.ndarray  # (T, V, 3) float32, metres, from the neutral face
    fps: float
    style: str  # the identity used (for "auto": the one found)
    seed: int
    steps: int
    audio_seconds: float
    compute_seconds: float


def resolve_device(requested: str = "auto") -> tuple[str, list[str]]:
    """(device, warnings): a device that is not available falls back to the CPU with a warning."""
    requested = (requested or "auto").lower()
    has_cuda = torch.cuda.is_available()
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "auto":
        return ("cuda" if has_cuda else "mps" if has_mps else "cpu"), []
    if requested == "cpu" or (requested == "cuda" and has_cuda) or (requested == "mps" and has_mps):
        return requested, []
    if requested not in ("cuda", "mps"):
        return "cpu", [f"unknown device {requested!r}; using the CPU"]
    return "cpu", [f"{requested} is not available on this machine; using the CPU"]


def resample_fps(frames: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Linear re-timing of (T, ...) frames, keeping the clip's duration."""
    if abs(fps_in - fps_out) < 1e-6 or len(frames) < 2:
        return frames
    duration = len(frames) / fps_in
    t_out = np.arange(max(1, int(round(duration * fps_out)))) / fps_out
    pos = np.clip(t_out * fps_in, 0, len(frames) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(frames) - 1)
    w = (pos - lo).reshape(-1, *([1] * (frames.ndim - 1))).astype(frames.dtype)
    return frames[lo] * (1 - w) + frames[hi] * w


@dataclass
class Generator:
    model: torch.nn.Module
    card: dict
    device: str
    checkpoint_path: str
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, checkpoint: str | os.PathLike | None = None, device: str = "auto") -> "Generator":
        resolved, notes = resolve_device(device)
        for note in notes:
            warnings.warn(note, RuntimeWarning, stacklevel=2)
        path = BUNDLED if checkpoint is None else checkpoint
        model, card = load_checkpoint(path, resolved)
        return cls(model, card, resolved, str(paths_of(path)[1]), notes)

    @property
    def config(self) -> dict:
        return self.model.config

    @property
    def fps(self) -> float:
        return float(self.config["fps"])

    @property
    def num_vertices(self) -> int:
        return int(self.config["num_vertices"])

    @property
    def identity_names(self) -> list[str]:
        return list(self.model.bank.names)

    @property
    def default_steps(self) -> int:
        return int(self.config["sampling_steps"])

    def checkpoint_id(self) -> str:
        """'name sha256' of the tensor file, recorded in every output for provenance."""
        tensors = paths_of(self.checkpoint_path)[0]
        return f"{tensors.name} sha256:{sha256_of(tensors)}"

    @torch.no_grad()
    def generate(self, audio, sample_rate: int | None = None, style: str | int = AUTO, seed: int = 0,
                 steps: int | None = None, progress=None, cancel=None,
                 max_seconds: float = DEFAULT_MAX_SECONDS) -> Take:
        """Speech -> Take. ``steps`` None uses the checkpoint's own sampler (8 for the
        distilled student); ``steps`` equal to the training step count runs the full
        ancestral chain, anything fewer runs deterministic DDIM on that grid."""
        started = time.perf_counter()
        wave = load_audio(audio, sample_rate, max_seconds=max_seconds)
        frames = num_frames(len(wave), self.fps)
        wave_t = torch.from_numpy(wave)[None].to(self.device)
        features = self.model.encode_audio(wave_t, frames)
        if isinstance(style, str) and style.lower() == AUTO:
            index = int(nearest_identity(self.model.personalise(features), self.model.bank.embeddings)[0])
        else:
            index = self.model.bank.index(style)
        identity = self.model.bank.embeddings[index][None]
        diffusion = GaussianDiffusion(self.config["diffusion_steps"])
        steps = self.default_steps if steps is None else int(steps)
        if not 1 <= steps <= diffusion.num_steps:
            raise DiffusionTalkerError(f"steps must be between 1 and {diffusion.num_steps}, got {steps}")

        def model_fn(x_t, t):
            return self.model.denoise(x_t, t, features, identity)

        shape = (1, frames, self.num_vertices * 3)
        generator = torch.Generator().manual_seed(int(seed))
        if steps == diffusion.num_steps and not self.config["distilled"]:
            motion = diffusion.ancestral_sample(model_fn, shape, generator, self.device, progress, cancel)
        else:
            motion = diffusion.ddim_sample(model_fn, shape, steps, generator, self.device, progress, cancel)
        offsets = (motion[0].float().cpu().numpy() * self.config["motion_scale"]).reshape(frames, -1, 3)
        return Take(offsets.astype(np.float32), self.fps, self.identity_names[index], int(seed), steps,
                    len(wave) / SAMPLE_RATE, time.perf_counter() - started)
