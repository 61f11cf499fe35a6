"""Gaussian diffusion over motion sequences: schedule, training loss and samplers.

Kept apart from the network (as improved-diffusion's ``gaussian_diffusion.py`` is):
everything here sees the model only as ``model_fn(x_t, t) -> x0_hat``, so the
teacher, the distilled student and any conditioning (identity blends, in-painting)
share one implementation.

Two samplers:
- ``ancestral``: the full stochastic chain over all T training steps (the teacher).
- ``ddim``: deterministic DDIM (eta = 0) over any grid of steps. Progressive
  distillation trains students on this path, so the grid is defined once here
  (``step_grid``) and halving N keeps every other point of the 2N grid.
Samplers draw their randomness from a ``SeedNoise``, on the CPU, so a seed gives the
same noise on every device.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from .errors import check_cancel

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# torch takes seeds up to 2**64 - 1 and ours stop at 2**63 - 1 (argtypes.random_seed), so
# no seed draws the shared stream as its own.
SHARED_STREAM = 2 ** 64 - 1


class SeedNoise:
    """A take's Gaussian draws: its seed's own stream, pulled toward one stream that every
    seed shares by ``variation`` (0-1), as sqrt(1 - v^2) * shared + v * own.

    Two independent unit Gaussians mixed so still make a unit Gaussian: at any variation
    each take is a sample the model was trained to denoise, and only how far seeds fall
    from each other changes (0: one take for every seed; 1: the seed's own noise alone).
    Scaling the noise down instead would starve the sampler of the noise it expects and
    smooth the motion."""

    def __init__(self, seed: int, variation: float = 1.0):
        self.variation = float(variation)
        self.own = torch.Generator().manual_seed(int(seed))
        self.shared = torch.Generator().manual_seed(SHARED_STREAM)

    def __call__(self, shape, device="cpu") -> torch.Tensor:
        own = torch.randn(shape, generator=self.own)
        if self.variation < 1.0:  # both streams advance together, so windows stay in step
            shared = torch.randn(shape, generator=self.shared)
            own = math.sqrt(1.0 - self.variation ** 2) * shared + self.variation * own
        return own.to(device)


def cosine_alpha_bar(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """ᾱ_t for t = 0..T-1 from Nichol & Dhariwal's cosine schedule (betas clipped)."""
    def f(t):
        return math.cos((t / num_steps + s) / (1 + s) * math.pi / 2) ** 2

    betas = np.array([min(1 - f(i + 1) / f(i), max_beta) for i in range(num_steps)], dtype=np.float64)
    return np.cumprod(1.0 - betas)


def step_grid(num_steps: int, sampling_steps: int) -> list[int]:
    """Descending timesteps for an N-step sampler; the implicit last target is t = -1 (clean).

    t_k = k * T / N - 1 for k = N..1, so the N/2 grid is every other point of the N grid,
    which is what progressive distillation needs.
    """
    if not 1 <= sampling_steps <= num_steps:
        raise ValueError(f"steps must be between 1 and {num_steps}, got {sampling_steps}")
    return [int(round(k * num_steps / sampling_steps)) - 1 for k in range(sampling_steps, 0, -1)]


class GaussianDiffusion:
    def __init__(self, num_steps: int = 500):
        self.num_steps = num_steps
        ab = cosine_alpha_bar(num_steps)
        self.alpha_bar = torch.tensor(ab, dtype=torch.float64)
        ab_prev = np.append(1.0, ab[:-1])
        betas = 1 - ab / ab_prev
        # Posterior q(x_{t-1} | x_t, x0) for the ancestral chain.
        self.post_var = torch.tensor(betas * (1 - ab_prev) / (1 - ab))
        self.post_c0 = torch.tensor(betas * np.sqrt(ab_prev) / (1 - ab))
        self.post_ct = torch.tensor((1 - ab_prev) * np.sqrt(1 - betas) / (1 - ab))

    def ab(self, t: torch.Tensor) -> torch.Tensor:
        """ᾱ for t in [-1, T-1] (t = -1 is the clean sample), float32 on t's device. The
        float64 table is indexed on the CPU: some devices (Apple's MPS) have no float64."""
        t = torch.as_tensor(t)
        index = t.detach().cpu()
        vals = torch.where(index < 0, 1.0, self.alpha_bar[index.clamp(min=0)])
        return vals.float().to(t.device)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        a = self.ab(t).view(-1, *([1] * (x0.dim() - 1)))
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def ddim_step(self, x_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor) -> torch.Tensor:
        """Deterministic move from t to t_next (< t) given an x0 estimate."""
        shape = (-1, *([1] * (x_t.dim() - 1)))
        a_t, a_n = self.ab(t).view(shape), self.ab(t_next).view(shape)
        eps = (x_t - a_t.sqrt() * x0) / (1 - a_t).sqrt()
        return a_n.sqrt() * x0 + (1 - a_n).sqrt() * eps

    def distillation_target(self, x_t: torch.Tensor, t: torch.Tensor, x_next: torch.Tensor,
                            t_next: torch.Tensor) -> torch.Tensor:
        """The x0 whose single DDIM step from (x_t, t) reaches x_next at t_next: what a
        progressive-distillation student learns where its teacher took two steps."""
        shape = (-1, *([1] * (x_t.dim() - 1)))
        a_t, a_n = self.ab(t).view(shape), self.ab(t_next).view(shape)
        r = ((1 - a_n) / (1 - a_t)).sqrt()
        return (x_next - r * x_t) / (a_n.sqrt() - r * a_t.sqrt())

    def training_loss(self, model_fn: ModelFn, x0: torch.Tensor, mask: torch.Tensor, loss_fn,
                      generator=None) -> dict:
        """x0-prediction loss at a uniformly drawn timestep; ``loss_fn(pred, target, mask)``
        (a ``losses.MotionLoss``) decides what the prediction is scored on."""
        B = x0.shape[0]
        t = torch.randint(0, self.num_steps, (B,), generator=generator).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        return loss_fn(model_fn(self.q_sample(x0, t, noise), t), x0, mask)

    def sample(self, model_fn: ModelFn, shape, steps: int, noise: SeedNoise, device="cpu",
               progress=None, cancel=None, ancestral: bool = False) -> torch.Tensor:
        """The sampler for ``steps``: the full ancestral chain when asked for (a teacher at
        all T steps), deterministic DDIM on ``step_grid`` otherwise."""
        if ancestral:
            if steps != self.num_steps:
                raise ValueError(f"the ancestral chain runs all {self.num_steps} steps, not {steps}")
            return self.ancestral_sample(model_fn, shape, noise, device, progress, cancel)
        return self.ddim_sample(model_fn, shape, steps, noise, device, progress, cancel)

    @torch.no_grad()
    def ancestral_sample(self, model_fn: ModelFn, shape, noise: SeedNoise, device="cpu",
                         progress=None, cancel=None) -> torch.Tensor:
        x = noise(shape, device)
        for i, t in enumerate(range(self.num_steps - 1, -1, -1)):
            check_cancel(cancel)
            tt = torch.full((shape[0],), t, device=device, dtype=torch.long)
            x0 = model_fn(x, tt)
            mean = self.post_c0[t].float() * x0 + self.post_ct[t].float() * x
            if t > 0:
                x = mean + self.post_var[t].sqrt().float() * noise(shape, device)
            else:
                x = x0
            if progress:
                progress(i + 1, self.num_steps)
        return x

    @torch.no_grad()
    def ddim_sample(self, model_fn: ModelFn, shape, steps: int, noise: SeedNoise, device="cpu",
                    progress=None, cancel=None) -> torch.Tensor:
        x = noise(shape, device)
        grid = step_grid(self.num_steps, steps) + [-1]
        for i, (t, t_next) in enumerate(zip(grid[:-1], grid[1:])):
            check_cancel(cancel)
            tt = torch.full((shape[0],), t, device=device, dtype=torch.long)
            x0 = model_fn(x, tt)
            x = self.ddim_step(x, x0, tt, torch.full_like(tt, t_next))
            if progress:
                progress(i + 1, steps)
        return x
