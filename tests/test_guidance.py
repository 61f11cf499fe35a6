"""Classifier-free guidance: a model trained with its conditions sometimes zeroed
(``train --unconditional``) follows its audio and style more closely when guided, and a
student distilled from the guided teacher carries the guidance at no extra cost."""

import argparse
import json

import numpy as np
import pytest
import torch

from diffusiontalker.argtypes import guidance_pair
from diffusiontalker.cli import main
from diffusiontalker.denoiser import Denoiser
from diffusiontalker.diffusion import GaussianDiffusion, SeedNoise
from diffusiontalker.errors import DiffusionTalkerError
from diffusiontalker.objective import Objective
from diffusiontalker.pipeline import Generator
from conftest import speechlike
from synthetic_data import TINY_TRAINING as TRAIN, synthtalk_fixture

dataset = synthtalk_fixture()


def live_denoiser(num_vertices=20):
    torch.manual_seed(0)
    net = Denoiser(num_vertices=num_vertices, d_model=16, n_layers=2, n_heads=2, d_identity=4, dropout=0.0).eval()
    for p in net.parameters():  # past the zero initialisations, so both conditions reach the output
        torch.nn.init.normal_(p, std=0.2)
    return net


def test_guidance_carries_the_estimate_past_the_conditional_one():
    net = live_denoiser()
    x, t = torch.randn(1, 12, 60), torch.tensor([5])
    audio, who = torch.randn(1, 12, 16), torch.randn(1, 4)
    with torch.no_grad():
        plain = net(x, t, audio, who)
        deaf, anyone = net(x, t, torch.zeros_like(audio), who), net(x, t, audio, torch.zeros_like(who))
        guided = net(x, t, audio, who, guidance=(2.5, 1.5))
        torch.testing.assert_close(net(x, t, audio, who, guidance=(1.0, 1.0)), plain)
    torch.testing.assert_close(guided, plain + 1.5 * (plain - deaf) + 0.5 * (plain - anyone), atol=1e-5, rtol=1e-5)
    assert (guided - plain).abs().max() > 0.1


def test_a_guided_factored_chain_gives_the_guided_dense_take():
    from diffusiontalker.pipeline import factored

    net = live_denoiser(50)
    audio, who = torch.randn(1, 12, 16), torch.randn(1, 4)

    def model_fn(x_t, t):
        return net(x_t, t, audio, who, guidance=(2.0, 3.0))

    diffusion = GaussianDiffusion(64)
    with torch.no_grad():
        dense = diffusion.sample(model_fn, (1, 12, 150), 8, SeedNoise(1, 0.3))
        fast = diffusion.sample(model_fn, (1, 12, 150), 8, factored(SeedNoise(1, 0.3))).dense()
    torch.testing.assert_close(fast, dense, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_unconditional_training_zeroes_the_audio_and_the_style(tiny_model, share):
    seen = []
    denoise = tiny_model.denoise
    tiny_model.denoise = lambda x, t, features, identity, mask=None: (seen.append((features, identity))
                                                                      or denoise(x, t, features, identity, mask))
    args = argparse.Namespace(contrastive_weight=0.1, temperature=0.1, phoneme_weight=0.0, audio_dropout=0.0,
                              unconditional=share)
    objective = Objective(tiny_model, GaussianDiffusion(32),
                          lambda pred, target, mask: {"loss": ((pred - target) ** 2).mean()}, args)
    wave, motion = torch.randn(2, 16000), torch.randn(2, 30, 120)
    mask, speakers = torch.ones(2, 30, dtype=torch.bool), torch.tensor([0, 1])
    objective(wave, motion, mask, speakers, speakers, None, None, torch.Generator().manual_seed(0))
    features, identity = seen[0]
    assert (features.abs().sum() == 0) == (share == 1.0)
    assert (identity.abs().sum() == 0) == (share == 1.0)


def test_guidance_scales_on_the_command_line():
    assert guidance_pair("2") == (2.0, 2.0)
    assert guidance_pair("1.5, 3") == (1.5, 3.0)
    for bad in ("x", "11", "-1", "1,2,3", "nan"):
        with pytest.raises(argparse.ArgumentTypeError):
            guidance_pair(bad)


def test_only_a_model_trained_unconditional_is_guided(tiny_checkpoint):
    gen = Generator.load(tiny_checkpoint, "cpu")
    assert gen.guidance() == (1.0, 1.0)
    with pytest.raises(DiffusionTalkerError, match="not trained to be guided"):
        gen.generate(speechlike(1.0), 16000, style=0, guidance=(2.0, 1.0))
    for bad in ([2.0], "ab", [1.0, float("nan")], [1.0, 11.0]):
        with pytest.raises(DiffusionTalkerError, match="two scales"):
            gen.guidance(bad)


def test_train_guide_and_distil_the_guidance(dataset, tmp_path, capsys):
    teacher = tmp_path / "teacher.json"
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--iterations", "4",
                 "--unconditional", "0.2", *TRAIN]) == 0
    assert json.loads(teacher.read_text())["config"]["unconditional"] is True
    wave = dataset / "wav" / "spk00_sentence04.wav"
    takes = {}
    for scales in ("1", "3,2"):
        out = tmp_path / f"take{scales}.npz"
        assert main(["generate", str(wave), "-o", str(out), "--checkpoint", str(teacher), "--style", "0",
                     "--steps", "8", "--guidance", scales, "--quiet"]) == 0
        takes[scales] = np.load(out)["offsets"]
    assert np.abs(takes["3,2"] - takes["1"]).max() > 1e-6

    assert main(["distill", "--teacher", str(teacher), "--data", str(dataset), "--out", str(tmp_path),
                 "--from-steps", "16", "--iterations", "2", "--batch-size", "2", "--window", "0.6",
                 "--guidance", "3,2"]) == 0
    doc = json.loads((tmp_path / "student.json").read_text())
    assert doc["card"]["distillation"]["teacher_guidance"] == [3.0, 2.0]
    assert doc["config"]["unconditional"] is False
    capsys.readouterr()
    assert main(["generate", str(wave), "-o", str(tmp_path / "s.npz"), "--checkpoint", str(tmp_path / "student.json"),
                 "--guidance", "2", "--quiet"]) == 2
    assert "a student is guided when it is distilled" in capsys.readouterr().err
    # a teacher trained without null conditions has no unconditional estimate to guide with
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path / "plain"), "--iterations", "1", *TRAIN]) == 0
    assert main(["distill", "--teacher", str(tmp_path / "plain" / "teacher.json"), "--data", str(dataset),
                 "--out", str(tmp_path / "plain"), "--from-steps", "16", "--iterations", "1", "--batch-size", "2",
                 "--window", "0.6", "--guidance", "2"]) == 2
    assert "not trained to be guided" in capsys.readouterr().err
