import numpy as np
import pytest
import torch

from conftest import speechlike
from diffusiontalker.diffusion import GaussianDiffusion, SeedNoise, cosine_alpha_bar, step_grid
from diffusiontalker.errors import Cancelled, DiffusionTalkerError
from diffusiontalker.pipeline import Generator


def test_cosine_schedule_is_monotone_and_ends_near_pure_noise():
    ab = cosine_alpha_bar(500)
    assert np.all(np.diff(ab) < 0)
    assert ab[0] > 0.999 and ab[-1] < 1e-4


def test_step_grid_halves_to_every_other_point():
    g8, g4 = step_grid(512, 8), step_grid(512, 4)
    assert g8[0] == 511 and g8[-1] == 63 and len(g8) == 8
    assert g4 == g8[0::2]
    assert step_grid(500, 500) == list(range(499, -1, -1))
    with pytest.raises(ValueError):
        step_grid(10, 11)


def test_ddim_step_with_true_x0_recovers_the_clean_sample():
    d = GaussianDiffusion(100)
    x0 = torch.randn(2, 5, 6)
    t = torch.tensor([70, 70])
    x_t = d.q_sample(x0, t, torch.randn_like(x0))
    out = d.ddim_step(x_t, x0, t, torch.tensor([-1, -1]))
    torch.testing.assert_close(out, x0, atol=1e-5, rtol=1e-5)


def oracle(x0):
    """A perfect denoiser: every sampler must end exactly on its x0."""
    return lambda x_t, t: x0.expand_as(x_t)


@pytest.mark.parametrize("steps", [1, 3, 8, 50])
def test_ddim_on_a_subset_of_steps(steps):
    d = GaussianDiffusion(50)
    x0 = torch.randn(1, 7, 9)
    calls = []
    out = d.ddim_sample(oracle(x0), x0.shape, steps, SeedNoise(0),
                        progress=lambda i, n: calls.append((i, n)))
    torch.testing.assert_close(out, x0)
    assert calls[-1] == (steps, steps) and len(calls) == steps


def test_ancestral_chain_runs_all_steps_and_cancels():
    d = GaussianDiffusion(20)
    x0 = torch.randn(1, 4, 3)
    calls = []
    out = d.ancestral_sample(oracle(x0), x0.shape, SeedNoise(1),
                             progress=lambda i, n: calls.append(i))
    torch.testing.assert_close(out, x0)
    assert calls == list(range(1, 21))

    class Flag:
        def is_set(self):
            return len(calls) >= 25

    with pytest.raises(Cancelled):
        d.ancestral_sample(oracle(x0), x0.shape, SeedNoise(1),
                           progress=lambda i, n: calls.append(i), cancel=Flag())


def test_generation_is_deterministic_by_seed_and_varies_across_seeds(tiny_checkpoint):
    gen = Generator.load(tiny_checkpoint, "cpu")
    audio = speechlike(1.0)
    a = gen.generate(audio, 16000, style="anna", seed=3)
    b = gen.generate(audio, 16000, style="anna", seed=3)
    c = gen.generate(audio, 16000, style="anna", seed=4)
    assert a.offsets.shape == (30, 40, 3) and a.steps == 8
    np.testing.assert_array_equal(a.offsets, b.offsets)
    assert np.abs(a.offsets - c.offsets).mean() > 1e-6


def test_style_changes_the_output(tiny_checkpoint):
    gen = Generator.load(tiny_checkpoint, "cpu")
    audio = speechlike(1.0)
    a = gen.generate(audio, 16000, style="anna", seed=0)
    b = gen.generate(audio, 16000, style=2, seed=0)
    assert b.style == "cleo"
    assert np.abs(a.offsets - b.offsets).mean() > 1e-6
    auto = gen.generate(audio, 16000, style="auto", seed=0)
    assert auto.style in gen.identity_names


def test_full_chain_when_steps_equal_training_steps(tiny_checkpoint):
    gen = Generator.load(tiny_checkpoint, "cpu")
    seen = []
    take = gen.generate(speechlike(0.5), 16000, style=0, steps=32, progress=lambda i, n: seen.append(n))
    assert take.steps == 32 and seen[-1] == 32 and len(seen) == 32


class _Float32OnlyDevice(torch.utils._python_dispatch.TorchDispatchMode):
    """A stand-in for a device without float64 (Apple's MPS): float64 may live only in the
    schedule's tables, indexed on the CPU; it must never meet the sample or the model's
    activations (float32 tensors of two or more dimensions), nor be one of them."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tensors = [t for t in torch.utils._pytree.tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor)]
        if any(t.dtype == torch.float64 for t in tensors) and any(t.dim() >= 2 for t in tensors):
            raise AssertionError(f"{func}: float64 on a float32-only device")
        return out


def test_sampling_and_the_fitting_loss_run_on_a_float32_only_device(tiny_checkpoint):
    from diffusiontalker.new_style import fit_to_motion

    gen = Generator.load(tiny_checkpoint, "cpu")
    wave = speechlike(1.0)
    with _Float32OnlyDevice():
        take = gen.generate(wave, 16000, seed=0, steps=4)
        chain = gen.generate(wave, 16000, seed=0, steps=gen.config["diffusion_steps"])  # the ancestral chain
        fitted = fit_to_motion(gen, [wave], [take.offsets], gen.model.bank.embeddings[0], iterations=2, seed=0)
    assert take.offsets.dtype == np.float32 and np.isfinite(take.offsets).all() and np.isfinite(chain.offsets).all()
    assert fitted.dtype == torch.float32
    # the stand-in does catch the mistake it is for: a float64 table applied on the device
    d = GaussianDiffusion(100)
    with pytest.raises(AssertionError, match="float64 on a float32-only device"), _Float32OnlyDevice():
        d.alpha_bar[torch.tensor([5, 7])].view(-1, 1, 1) * torch.ones(2, 3, 4)


def test_seed_noise_stays_a_unit_gaussian_at_every_variation():
    """Variation 1 is the seed's own stream as before; 0 is one stream whatever the seed;
    in between the draws still have the spread the model was trained on."""
    np.testing.assert_array_equal(SeedNoise(7)((3, 4)), torch.randn((3, 4), generator=torch.Generator().manual_seed(7)))
    np.testing.assert_array_equal(SeedNoise(7, 0.0)((3, 4)), SeedNoise(8, 0.0)((3, 4)))
    for variation in (0.0, 0.3, 0.7):
        draw = SeedNoise(1, variation)((200_000,))
        assert abs(float(draw.std()) - 1.0) < 0.01 and abs(float(draw.mean())) < 0.01
    a, b = SeedNoise(1, 0.3)((200_000,)), SeedNoise(2, 0.3)((200_000,))
    assert float((a - b).std()) == pytest.approx(0.3 * 2 ** 0.5, rel=0.02)  # seeds apart by v, not 1


def test_variation_scales_what_the_seed_changes(tiny_checkpoint):
    """Variation 0 is one take whatever the seed, on both samplers; between 0 and 1 the
    seeds' spread grows with it, and the take says what it was made with."""
    gen = Generator.load(tiny_checkpoint, "cpu")
    audio = speechlike(1.0)

    def spread(variation, steps=None):
        a, b = (gen.generate(audio, 16000, style="anna", seed=s, variation=variation, steps=steps) for s in (3, 4))
        assert a.variation == variation
        return float(np.abs(a.offsets - b.offsets).mean())

    assert spread(0.0) == 0.0 and spread(0.0, steps=32) == 0.0  # DDIM and the full ancestral chain
    assert 0.0 < spread(0.3) < spread(1.0)
    with pytest.raises(DiffusionTalkerError, match="variation must be between 0 and 1"):
        gen.generate(audio, 16000, variation=1.5)
