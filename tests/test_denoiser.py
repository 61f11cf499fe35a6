import torch

from diffusiontalker.denoiser import Denoiser, clip_summary


def test_the_clip_summary_hears_pace_and_ignores_padding():
    t = torch.linspace(0, 1, 60)
    slow = torch.sin(2 * torch.pi * 3 * t)[None, :, None].repeat(1, 1, 4)
    fast = torch.sin(2 * torch.pi * 9 * t)[None, :, None].repeat(1, 1, 4)
    assert (clip_summary(fast, None)[0, 4:] > 2 * clip_summary(slow, None)[0, 4:]).all()
    padded = torch.cat([slow, torch.full((1, 20, 4), 7.0)], dim=1)
    mask = torch.arange(80)[None] < 60
    torch.testing.assert_close(clip_summary(padded, mask), clip_summary(slow, None))


def test_a_padded_clip_is_denoised_as_if_alone_with_the_summary():
    torch.manual_seed(0)
    net = Denoiser(num_vertices=5, d_model=16, n_layers=1, n_heads=2, d_identity=4, dropout=0.0,
                   clip_summary=True).eval()
    for p in net.parameters():  # past the zero initialisations, so every path carries signal
        torch.nn.init.normal_(p, std=0.2)
    x, audio, who = torch.randn(1, 30, 15), torch.randn(1, 30, 16), torch.randn(1, 4)
    t = torch.tensor([3])
    alone = net(x, t, audio, who)
    pad = lambda a: torch.cat([a, torch.randn(1, 10, a.shape[-1])], dim=1)  # noqa: E731
    mask = torch.arange(40)[None] < 30
    padded = net(pad(x), t, pad(audio), who, mask)
    torch.testing.assert_close(padded[:, :30], alone, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(net(pad(x), t, pad(audio), who)[:, :30], alone, atol=1e-3)


def test_sampling_factored_motion_gives_the_dense_take_without_dense_steps():
    from diffusiontalker.diffusion import GaussianDiffusion, SeedNoise
    from diffusiontalker.pipeline import factored

    torch.manual_seed(0)
    model = Denoiser(num_vertices=50, d_model=16, n_layers=2, n_heads=2, d_identity=8).eval()
    torch.nn.init.normal_(model.motion_out.weight)  # it starts at zero: the neutral face
    torch.nn.init.normal_(model.motion_out.bias)
    for block in model.blocks:
        torch.nn.init.normal_(block.modulation.weight, std=0.1)
    audio, identity = torch.randn(1, 12, 16), torch.randn(1, 8)
    known, weight = torch.randn(1, 12, 150), torch.linspace(0, 1, 12)[None, :, None]  # key poses, in-painted

    def model_fn(x_t, t):
        return model(x_t, t, audio, identity).lerp(known, weight)

    diffusion, shape = GaussianDiffusion(100), (1, 12, 150)
    with torch.no_grad():
        dense = diffusion.sample(model_fn, shape, 8, SeedNoise(3, 0.3))

        def refuse(x):
            raise AssertionError("a dense step: the factored chain reads motion through weights only")

        model.motion_in.forward = model.motion_out.forward = refuse
        fast = diffusion.sample(model_fn, shape, 8, factored(SeedNoise(3, 0.3)))
    assert len(fast.terms) == 3  # the seed's noise, the output bias and the key poses, each once
    assert torch.allclose(fast.dense(), dense, atol=1e-4, rtol=1e-4)
    assert dense.abs().mean() > 0.5
