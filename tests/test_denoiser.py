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
