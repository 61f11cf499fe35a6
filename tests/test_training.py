"""Training, resuming, DDP under torchrun, distillation and evaluation on a tiny dataset."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from diffusiontalker.cli import main
from diffusiontalker.pipeline import Generator
from synthetic_data import TINY_TRAINING as TINY, make_synthtalk, synthtalk_fixture

dataset = synthtalk_fixture()


@pytest.fixture(scope="module")
def teacher(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher")
    assert main(["train", "--data", str(dataset), "--out", str(out), "--iterations", "6", *TINY]) == 0
    return out / "teacher.json"


def weights(card):
    return load_file(str(card).replace(".json", ".safetensors"))


def take(card):
    """One fixed take of a second of noise: two checkpoints that give the same are the same model."""
    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    return Generator.load(card, "cpu").generate(wave, 16000, style=0, seed=3).offsets


def test_teacher_checkpoint_records_what_it_was_trained_on(teacher, dataset):
    doc = json.loads(teacher.read_text())
    assert doc["config"]["identities"] == ["spk00", "spk01", "spk02"]
    assert doc["config"]["num_vertices"] == 40 and doc["config"]["diffusion_steps"] == 32
    assert "synthtalk" in doc["card"]["trained_on"] and doc["card"]["training"]["step"] == 6
    # the card travels with the checkpoint: no path of the machine it was trained on
    assert str(dataset) not in json.dumps(doc["card"]) and str(teacher.parent) not in json.dumps(doc["card"])
    assert f"'{dataset.name}'" in doc["card"]["trained_on"] and doc["card"]["training"]["out"] == teacher.parent.name
    assert 0.001 < doc["config"]["motion_scale"] < 0.01  # RMS of the fixture's offsets
    take = Generator.load(teacher, "cpu").generate(_audio(dataset), 16000, style="spk01")
    assert take.offsets.shape[1:] == (40, 3) and np.isfinite(take.offsets).all()


def _audio(dataset):
    import soundfile as sf

    return sf.read(dataset / "wav" / "spk00_sentence04.wav", dtype="float32")[0]


def test_resume_repeats_an_uninterrupted_run_exactly(dataset, teacher, tmp_path):
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--iterations", "6", "--until", "3",
                 *TINY]) == 0
    assert json.loads((tmp_path / "teacher.json").read_text())["card"]["training"]["step"] == 3
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--iterations", "6", "--resume",
                 *TINY]) == 0
    resumed, straight = weights(tmp_path / "teacher.json"), weights(teacher)
    assert resumed.keys() == straight.keys()
    for key in straight:
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_an_augmented_run_resumes_exactly_and_its_windows_are_augmented(dataset, tmp_path):
    from diffusiontalker.augment import Augmenter
    from diffusiontalker.batches import batch_sampler, clip_items, load_split

    augmented = ["--augment", "0.5", "--iterations", "4"]
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path / "straight"), *TINY, *augmented]) == 0
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path / "resumed"), *TINY, *augmented,
                 "--until", "2"]) == 0
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path / "resumed"), *TINY, *augmented,
                 "--resume"]) == 0
    resumed, straight = weights(tmp_path / "resumed" / "teacher.json"), weights(tmp_path / "straight" / "teacher.json")
    for key in straight:
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-5, atol=1e-6, err_msg=key)
    card = json.loads((tmp_path / "straight" / "teacher.json").read_text())["card"]
    assert card["training"]["augment"] == 0.5
    # the same windows as without augmentation, their audio changed, each wave still covering its frames
    items = clip_items(load_split("synthtalk", dataset, "train"), ["spk00", "spk01", "spk02"], 1.0)
    plain = next(batch_sampler(items, 8, 0.6, 30.0, seed=4))
    changed = next(batch_sampler(items, 8, 0.6, 30.0, seed=4, augment=Augmenter(1.0, 30.0)))
    assert plain.voice.tolist() == changed.voice.tolist()
    assert not np.allclose(plain.wave[:, :8000].numpy(), changed.wave[:, :8000].numpy(), atol=1e-3)
    frames = changed.mask.sum(dim=1).numpy()
    assert set(frames.tolist()) != {18}  # tempo re-timed the motion of 0.6 s windows
    audible = (changed.wave.abs() > 0).numpy()
    last = np.array([np.flatnonzero(row).max() for row in audible])
    assert (last < np.round(frames / 30.0 * 16000)).all()  # no audio beyond a window's own frames


def test_fine_tuning_starts_from_the_given_weights(dataset, teacher, tmp_path, capsys):
    # learning rate 0: the fine-tuned weights must be exactly the ones it started from
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--init", str(teacher),
                 "--iterations", "2", "--until", "1", *TINY, "--lr", "0"]) == 0
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--resume",
                 "--iterations", "2", *TINY, "--lr", "0"]) == 0  # a resumed fine-tune remembers its origin
    tuned, start = weights(tmp_path / "teacher.json"), weights(teacher)
    for key in start:
        if not key.startswith("extra."):
            np.testing.assert_array_equal(tuned[key], start[key], err_msg=key)
    card = json.loads((tmp_path / "teacher.json").read_text())["card"]
    assert "fine-tuned from teacher.json" in card["description"]
    assert card["training"]["d_model"] == 32 and card["training"]["encoder"] == "mel"  # what the model is
    for change in (["--d-model", "64"], ["--encoder", "hubert"]):  # the model cannot change shape on resume
        assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--resume", "--iterations", "3",
                     *TINY, *change]) == 2
        assert "a resumed or fine-tuned run keeps its model" in capsys.readouterr().err
    assert card["init_card"] == json.loads(teacher.read_text())["card"]  # where its weights came from
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--init", str(teacher), "--resume",
                 "--iterations", "1", *TINY]) == 2
    assert "give one of them" in capsys.readouterr().err


def test_training_with_the_style_and_contact_terms(dataset, teacher, tmp_path):
    regions = tmp_path / "regions.json"
    regions.write_text(json.dumps({"lips": list(range(8))}))
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--init", str(teacher),
                 "--iterations", "2", *TINY, "--regions", str(regions), "--style-weight", "1",
                 "--contact-weight", "1"]) == 0
    training = json.loads((tmp_path / "teacher.json").read_text())["card"]["training"]
    assert training["style_weight"] == 1 and training["contact_weight"] == 1
    tuned, start = weights(tmp_path / "teacher.json"), weights(teacher)
    assert any(not np.array_equal(tuned[k], start[k]) for k in start if not k.startswith("extra."))


def _torchrun_command(*args):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
            "--master_port", str(port), "-m", "diffusiontalker.cli", "train", "--device", "cpu", *TINY, *args]


def _torchrun(*args):
    result = subprocess.run(_torchrun_command("--iterations", "2", *args), capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_preemption_under_torchrun_saves_the_step_every_rank_reached(dataset, tmp_path, signum):
    """Ctrl-C reaches torchrun and both ranks (SIGINT to the terminal's process group, then
    torchrun's SIGTERM); a scheduler preempting the job sends SIGTERM to them all. Only
    the periodic saves used to be kept; now the ranks agree on a step, save it, and stop."""
    import signal

    run = subprocess.Popen(_torchrun_command("--data", str(dataset), "--out", str(tmp_path), "--iterations", "100000",
                                             "--save-every", "100000"),
                           stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                           start_new_session=True)
    seen = ""
    while "train diffusion" not in seen or seen.count("it/s") < 3:  # a few steps done: the progress bar shows
        seen += run.stderr.read(1) or pytest.fail(f"torchrun ended before training: {seen[-2000:]}")
    os.killpg(run.pid, getattr(signal, signum))
    seen += run.stderr.read()
    assert run.wait(timeout=120) != 0
    step = json.loads((tmp_path / "teacher.json").read_text())["card"]["training"]["step"]
    assert 0 < step < 100000
    assert f"interrupted: step {step} saved to {tmp_path / 'teacher.json'}; --resume continues it" in seen, seen[-3000:]
    Generator.load(tmp_path / "teacher.json", "cpu")


def test_ddp_under_torchrun_with_gloo(dataset, tmp_path):
    _torchrun("--data", str(dataset), "--out", str(tmp_path), "--phoneme-weight", "1")
    doc = json.loads((tmp_path / "teacher.json").read_text())
    assert doc["card"]["training"]["world_size"] == 2 and doc["card"]["training"]["step"] == 2
    Generator.load(tmp_path / "teacher.json", "cpu")
    # a fine-tune without the phoneme term leaves the head out of the loss; DDP must not wait for it
    _torchrun("--data", str(dataset), "--out", str(tmp_path / "tuned"), "--init", str(tmp_path / "teacher.json"))
    tuned, start = weights(tmp_path / "tuned" / "teacher.json"), weights(tmp_path / "teacher.json")
    np.testing.assert_array_equal(tuned["phoneme_head.weight"], start["phoneme_head.weight"])


def test_progressive_distillation_to_eight_steps(dataset, teacher, tmp_path, capsys):
    regions = tmp_path / "regions.json"
    regions.write_text(json.dumps({"lips": list(range(8))}))
    assert main(["distill", "--teacher", str(teacher), "--data", str(dataset), "--out", str(tmp_path),
                 "--iterations", "2", "--batch-size", "2", "--window", "0.6", "--keep-rounds",
                 "--regions", str(regions), "--contact-weight", "1"]) == 0
    doc = json.loads((tmp_path / "student.json").read_text())
    assert doc["config"]["distilled"] and doc["config"]["sampling_steps"] == 8
    assert doc["card"]["distillation"]["rounds"] == [16, 8]
    assert (tmp_path / "student_16steps.json").is_file()
    gen = Generator.load(tmp_path / "student.json", "cpu")
    assert gen.default_steps == 8 and gen.identity_names == ["spk00", "spk01", "spk02"]
    seen = []
    gen.generate(_audio(dataset), 16000, style=0, progress=lambda i, n: seen.append(n))
    assert seen[-1] == 8
    # a student goes on from its own 8 steps, not from the teacher's 32
    more = ["distill", "--teacher", str(tmp_path / "student.json"), "--data", str(dataset), "--out",
            str(tmp_path / "four"), "--iterations", "1", "--batch-size", "2", "--window", "0.6"]
    assert main([*more, "--to-steps", "4"]) == 0
    assert json.loads((tmp_path / "four" / "student.json").read_text())["card"]["distillation"]["rounds"] == [4]
    assert main([*more, "--to-steps", "8"]) == 2 and main([*more, "--from-steps", "32", "--to-steps", "4"]) == 2
    assert main([*more, "--from-steps", "4", "--to-steps", "2"]) == 2  # a student knows its own 8-step grid only
    assert main([*more[:6], str(tmp_path), *more[7:], "--to-steps", "4"]) == 2  # would overwrite its teacher
    assert "saved over its teacher" in capsys.readouterr().err


def test_distillation_target_makes_one_step_land_on_two():
    import torch

    from diffusiontalker.diffusion import GaussianDiffusion

    d = GaussianDiffusion(64)
    x_t, x_next = torch.randn(3, 4, 6), torch.randn(3, 4, 6)
    t, t_next = torch.tensor([63, 31, 7]), torch.tensor([31, 15, -1])
    target = d.distillation_target(x_t, t, x_next, t_next)
    torch.testing.assert_close(d.ddim_step(x_t, target, t, t_next), x_next, atol=1e-4, rtol=1e-4)


def test_bad_distillation_step_counts(teacher, dataset, tmp_path, capsys):
    assert main(["distill", "--teacher", str(teacher), "--data", str(dataset), "--out", str(tmp_path),
                 "--from-steps", "24", "--to-steps", "8"]) == 2
    assert "cannot be halved down to --to-steps 8" in capsys.readouterr().err
    assert main(["distill", "--teacher", str(teacher), "--data", str(dataset), "--out", str(tmp_path),
                 "--to-steps", "32"]) == 2  # the teacher's own T
    assert "nothing to distill" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.json"))


def test_a_non_finite_loss_stops_the_run_with_one_message():
    import torch

    from diffusiontalker.errors import DiffusionTalkerError
    from diffusiontalker.trainstate import require_finite

    require_finite(torch.tensor(0.5), 0)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(DiffusionTalkerError, match="at step 4"):
            require_finite(torch.tensor(bad), 3)


def test_regression_baseline_ignores_the_seed(dataset, tmp_path):
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--name", "baseline", "--objective",
                 "regression", "--iterations", "3", *TINY]) == 0
    gen = Generator.load(tmp_path / "baseline.json", "cpu")
    a = gen.generate(_audio(dataset), 16000, style=0, seed=1)
    b = gen.generate(_audio(dataset), 16000, style=0, seed=2)
    assert a.steps == gen.default_steps == 1
    np.testing.assert_array_equal(a.offsets, b.offsets)


def test_evaluate_writes_json_and_markdown(dataset, teacher, tmp_path):
    regions = tmp_path / "regions.json"
    regions.write_text(json.dumps({"lve": list(range(8)), "fdd": list(range(20, 40)), "lips": list(range(8))}))
    out_json, out_md = tmp_path / "eval.json", tmp_path / "eval.md"
    assert main(["evaluate", "--checkpoint", str(teacher), "--steps", "4", "--data", str(dataset),
                 "--regions", str(regions), "--masks", str(regions), "--seeds", "2",
                 "--json", str(out_json), "--markdown", str(out_md)]) == 0
    report = json.loads(out_json.read_text())
    assert report["style_reference"] == "same sentence"  # the fixture's generator is not SynthTalk's
    (result,) = report["results"].values()
    assert result["clips"] == 3 and result["steps"] == 4
    assert result["lve"] > 0 and result["rtf"] > 0
    assert 0 <= result["style_accuracy"] <= 1 and 0 <= result["auto_style_accuracy"] <= 1
    assert result["style_pairs"] == 9 and 0 <= result["own_style_accuracy"] <= 1  # 3 clips x 3 styles
    by_identity = result["style_accuracy_by_identity"]
    assert list(by_identity) == ["spk00", "spk01", "spk02"]  # 3 takes each: their mean is the whole
    assert abs(np.mean(list(by_identity.values())) - result["style_accuracy"]) < 1e-9
    assert "| style acc. by identity | spk00 | spk01 | spk02 |" in out_md.read_text()
    assert result["diversity_seeds_mm"] > 0 and result["bilabial_segments"] == 3
    assert "LVE" in out_md.read_text() and "same sentence truth" in out_md.read_text()
    header, rule = [line for line in out_md.read_text().splitlines() if line.startswith("|")][:2]

    def cells(line):  # a pipe escaped as \| is text, not a cell border
        return len(re.split(r"(?<!\\)\|", line))

    assert cells(header) == cells(rule)  # one cell per column, or the table does not render


def test_evaluate_keeps_apart_checkpoints_of_the_same_name(dataset, teacher, tmp_path):
    import shutil

    copy = tmp_path / "other_run"
    copy.mkdir()
    for suffix in (".json", ".safetensors"):
        shutil.copy(teacher.with_suffix(suffix), copy / teacher.with_suffix(suffix).name)
    regions = tmp_path / "regions.json"
    regions.write_text(json.dumps({"lve": list(range(8)), "fdd": list(range(20, 40))}))
    common = ["--data", str(dataset), "--regions", str(regions), "--seeds", "1", "--no-identities", "--max-clips", "1"]
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--checkpoint", str(teacher), "--checkpoint", str(copy / teacher.name),
                 "--steps", "2", "--steps", "2", "--json", str(out), *common]) == 0
    labels = list(json.loads(out.read_text())["results"])
    assert len(labels) == 2 and "other_run" in labels[1] and "other_run" not in labels[0]
    assert main(["evaluate", "--checkpoint", str(teacher), "--checkpoint", str(teacher),
                 "--steps", "2", "--steps", "2", *common]) == 2  # the same run twice: refused


def test_cross_speaker_targets_need_synthtalks_generator(dataset, tmp_path, capsys):
    # the fixture has SynthTalk's layout but was not made by its generator: no other
    # speaker's motion exists for its audio
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--iterations", "1", *TINY,
                 "--cross-speaker", "0.5"]) == 2
    assert "generator version" in capsys.readouterr().err
    assert not (tmp_path / "teacher.json").exists()


def test_frame_phoneme_labels():
    import dataclasses

    from diffusiontalker.batches import collate, frame_phonemes, phoneme_list
    from diffusiontalker.data import Clip

    timed = [(0.1, 0.2, "p"), (0.2, 0.3, "a"), (0.3, 0.35, "zz")]
    clip = Clip("c", "s", np.zeros(8000, np.float32), np.zeros((15, 2, 3), np.float32), np.zeros((2, 3)), 30.0,
                timed)
    labels = phoneme_list([clip, dataclasses.replace(clip, phonemes=None)])
    assert labels == ["_", "a", "p", "zz"]  # silence first, then sorted
    known = labels[:3]  # a model whose list lacks "zz"
    frames = frame_phonemes(timed, 15, 30.0, known)
    # frame i is heard at i/30 s: 0-2 silence, 3-5 "p", 6-8 "a", 9-10 "zz" (unknown), then silence
    np.testing.assert_array_equal(frames, [0, 0, 0, 2, 2, 2, 1, 1, 1, -1, -1, 0, 0, 0, 0])
    np.testing.assert_array_equal(frame_phonemes(None, 4, 30.0, known), [-1] * 4)
    short = (np.zeros(10, np.float32), np.zeros((2, 6), np.float32), frames[:2], np.zeros((2, 0), np.float32))
    long = (np.zeros(20, np.float32), np.zeros((4, 6), np.float32), frames[3:7], np.zeros((4, 0), np.float32))
    batch = collate([short, long], [0, 1], [0, 1])
    np.testing.assert_array_equal(batch.phones.numpy(), [[0, 0, -1, -1], [2, 2, 2, 1]])  # padding is ignored


def test_the_phoneme_term_trains_the_encoder_and_its_head_only():
    """Its gradient reaches the audio encoder through the head and nothing else: the
    denoiser's gradients are the same with and without it."""
    import argparse

    import torch

    from conftest import TINY as TINY_MODEL
    from diffusiontalker.diffusion import GaussianDiffusion
    from diffusiontalker.losses import MotionLoss
    from diffusiontalker.model import TalkerModel
    from diffusiontalker.objective import Objective

    torch.manual_seed(0)
    model = TalkerModel({**TINY_MODEL, "phonemes": ["_", "a", "p"]})
    with torch.no_grad():
        model.denoiser.motion_out.weight.normal_(0, 0.2)
    loss = MotionLoss(torch.ones(40), 1.0, None, 0.0, 0.0)
    wave, motion = torch.randn(2, 16000), torch.randn(2, 30, 120)
    mask = torch.ones(2, 30, dtype=torch.bool)
    phones = torch.randint(-1, 3, (2, 30))
    grads = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(1)
        args = argparse.Namespace(contrastive_weight=0.1, temperature=0.1, phoneme_weight=weight,
                                  audio_dropout=0.0, unconditional=0.0)
        model.zero_grad()
        losses = Objective(model, GaussianDiffusion(32), loss, args)(
            wave, motion, mask, torch.tensor([0, 1]), torch.tensor([0, 1]), phones, torch.zeros(2, 30, 0),
            torch.Generator().manual_seed(0))
        losses["loss"].backward()
        grads[weight] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    logits = model.phoneme_head(model.encode_audio(wave, 30))
    expected = torch.nn.functional.cross_entropy(logits.transpose(1, 2), phones, ignore_index=-1)
    assert torch.allclose(losses["phoneme"], expected)
    assert "phoneme_head.weight" not in grads[0.0] and grads[1.0]["phoneme_head.weight"].abs().sum() > 0
    for name, g in grads[0.0].items():
        same = torch.allclose(g, grads[1.0][name], atol=1e-7)
        assert same != name.startswith("encoder."), name


def test_a_fine_tune_gives_the_model_a_phoneme_head(dataset, teacher, tmp_path, capsys):
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--init", str(teacher),
                 "--iterations", "2", "--until", "1", *TINY, "--lr", "0", "--phoneme-weight", "1"]) == 0
    assert json.loads((tmp_path / "teacher.json").read_text())["config"]["phonemes"] == ["_", "a", "p"]
    tuned, start = weights(tmp_path / "teacher.json"), weights(teacher)
    assert {k for k in tuned if not k.startswith("extra.")} - set(start) == {"phoneme_head.weight",
                                                                              "phoneme_head.bias"}
    for key in start:
        if not key.startswith("extra."):
            np.testing.assert_array_equal(tuned[key], start[key], err_msg=key)  # the rest is kept
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--resume", "--iterations", "2",
                 *TINY, "--phoneme-weight", "1"]) == 0
    Generator.load(tmp_path / "teacher.json", "cpu")  # a model with a head still generates
    assert main(["train", "--data", str(dataset), "--out", str(teacher.parent), "--resume", "--iterations", "7",
                 *TINY, "--phoneme-weight", "1"]) == 2
    assert "no phoneme head" in capsys.readouterr().err


def test_a_fine_tune_grows_an_audio_context(dataset, teacher, tmp_path, capsys):
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--init", str(teacher),
                 "--iterations", "1", *TINY, "--lr", "0", "--audio-context-ms", "50"]) == 0
    assert json.loads((tmp_path / "teacher.json").read_text())["config"]["encoder"] == {"kind": "mel", "context": 5}
    tuned, start = weights(tmp_path / "teacher.json"), weights(teacher)
    assert {k for k in tuned if not k.startswith("extra.")} - set(start) == {"encoder.context.weight",
                                                                              "encoder.context.bias"}
    np.testing.assert_allclose(take(teacher), take(tmp_path / "teacher.json"), atol=1e-6)  # grown at zero: same model
    assert main(["train", "--data", str(dataset), "--out", str(teacher.parent), "--resume", "--iterations", "7",
                 *TINY, "--audio-context-ms", "50"]) == 2
    assert "does not match" in capsys.readouterr().err
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--init", str(tmp_path / "teacher.json"),
                 "--iterations", "1", *TINY, "--audio-context-ms", "100", "--overwrite"]) == 2
    assert "already has 50 ms" in capsys.readouterr().err
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path / "hub"), "--iterations", "1", *TINY,
                 "--encoder", "hubert", "--audio-context-ms", "50"]) == 2
    assert "is for the mel encoder" in capsys.readouterr().err


def test_a_fine_tune_grows_a_clip_summary_that_then_learns(dataset, teacher, tmp_path, capsys):
    grown, tuned = tmp_path / "grown", tmp_path / "tuned"
    assert main(["train", "--data", str(dataset), "--out", str(grown), "--init", str(teacher),
                 "--iterations", "1", *TINY, "--lr", "0", "--clip-summary"]) == 0
    assert json.loads((grown / "teacher.json").read_text())["config"]["clip_summary"] is True
    grown_keys = {k for k in weights(grown / "teacher.json") if not k.startswith("extra.")}
    assert grown_keys - set(weights(teacher)) == {"denoiser.summary_in.weight", "denoiser.summary_in.bias"}
    np.testing.assert_allclose(take(teacher), take(grown / "teacher.json"), atol=1e-6)  # grown at zero: same model
    assert main(["train", "--data", str(dataset), "--out", str(tuned), "--init", str(grown / "teacher.json"),
                 "--iterations", "3", *TINY, "--ema", "0"]) == 0  # kept without the flag, and trained
    assert np.abs(weights(tuned / "teacher.json")["denoiser.summary_in.weight"]).max() > 0
    assert main(["train", "--data", str(dataset), "--out", str(teacher.parent), "--resume", "--iterations", "7",
                 *TINY, "--clip-summary"]) == 2
    assert "without --clip-summary" in capsys.readouterr().err


def test_mel_level_data_trains_at_the_training_clips_level(dataset, teacher, tmp_path, capsys):
    """--mel-level data measures the training clips' log-mel level into the encoder's config:
    a new teacher's, or a student's distilled from a teacher that reads per clip."""
    from diffusiontalker.audio import normalise
    from diffusiontalker.batches import load_split
    from diffusiontalker.encoders import log_mel_level

    level = log_mel_level(normalise(c.audio) for c in load_split("synthtalk", dataset, "train"))
    assert "level" not in json.loads(teacher.read_text())["config"]["encoder"]  # a new model reads per clip
    fresh = tmp_path / "fresh"
    assert main(["train", "--data", str(dataset), "--out", str(fresh), "--iterations", "1", *TINY,
                 "--mel-level", "data"]) == 0
    assert json.loads((fresh / "teacher.json").read_text())["config"]["encoder"]["level"] == level
    assert main(["train", "--data", str(dataset), "--out", str(fresh), "--resume", "--iterations", "2",
                 *TINY, "--mel-level", "clip"]) == 2
    assert "does not match" in capsys.readouterr().err

    student = tmp_path / "student"
    assert main(["distill", "--teacher", str(teacher), "--data", str(dataset), "--out", str(student),
                 "--iterations", "1", "--batch-size", "2", "--window", "0.6", "--lr", "0",
                 "--from-steps", "16", "--mel-level", "data"]) == 0
    assert json.loads((student / "student.json").read_text())["config"]["encoder"]["level"] == level
    start = weights(teacher)
    assert all(np.array_equal(v, start[k]) for k, v in weights(student / "student.json").items())


def test_the_phoneme_term_needs_timings(dataset, tmp_path, capsys):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(dataset, bare)
    shutil.rmtree(bare / "phonemes")
    assert main(["train", "--data", str(bare), "--out", str(tmp_path), "--iterations", "1", *TINY,
                 "--phoneme-weight", "1"]) == 2
    assert "needs phoneme timings" in capsys.readouterr().err


def test_encoder_learning_rate_moves_the_audio_reader_alone(dataset, teacher, tmp_path):
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--init", str(teacher),
                 "--iterations", "2", *TINY, "--lr", "0", "--encoder-lr", "1e-2", "--phoneme-weight", "1"]) == 0
    tuned, start = weights(tmp_path / "teacher.json"), weights(teacher)
    moved = {k for k in start if not k.startswith("extra.") and not np.array_equal(tuned[k], start[k])}
    assert moved and all(k.startswith("encoder.") for k in moved), moved


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_ctrl_c_saves_the_step_under_way_and_resuming_ends_where_an_uninterrupted_run_does(dataset, teacher, tmp_path,
                                                                                         monkeypatch, capsys, signum):
    """Ctrl-C (or a scheduler's SIGTERM) used to lose every step since the last periodic
    save (up to --save-every)."""
    import signal

    from diffusiontalker import trainstate

    real_step = trainstate.optimisation_step

    def pressed_during_the_third_step(optimizer, loss, model, step):
        real_step(optimizer, loss, model, step)
        if step == 2:
            signal.raise_signal(getattr(signal, signum))

    monkeypatch.setattr(trainstate, "optimisation_step", pressed_during_the_third_step)
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--iterations", "6", *TINY]) == 130
    assert f"interrupted: step 3 saved to {tmp_path / 'teacher.json'}" in capsys.readouterr().err
    assert json.loads((tmp_path / "teacher.json").read_text())["card"]["training"]["step"] == 3
    monkeypatch.setattr(trainstate, "optimisation_step", real_step)
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--iterations", "6", "--resume",
                 *TINY]) == 0
    resumed, straight = weights(tmp_path / "teacher.json"), weights(teacher)
    for key in straight:
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_a_run_is_never_replaced_or_resumed_on_other_speakers_by_mistake(dataset, teacher, tmp_path, capsys):
    out = teacher.parent
    base = ["train", "--data", str(dataset), "--out", str(out), *TINY]
    before = teacher.read_bytes()
    assert main([*base, "--iterations", "2"]) == 2  # --resume forgotten
    assert "holds a run already: --resume continues it, --overwrite starts again" in capsys.readouterr().err
    assert main([*base, "--iterations", "6", "--resume"]) == 2  # it has its 6 steps
    assert "is at step 6 already" in capsys.readouterr().err
    fewer = tmp_path / "fewer"  # the same data less one speaker: identity k would train on speaker k+1
    shutil.copytree(dataset, fewer)
    splits = json.loads((fewer / "synthtalk.json").read_text())
    splits["splits"]["train"] = [c for c in splits["splits"]["train"] if not c.startswith("spk00")]
    (fewer / "synthtalk.json").write_text(json.dumps(splits))
    assert main(["train", "--data", str(fewer), "--out", str(out), *TINY, "--iterations", "8", "--resume"]) == 2
    assert "was trained on spk00, spk01, spk02; " in capsys.readouterr().err
    assert teacher.read_bytes() == before
    again = tmp_path / "again"
    assert main(["train", "--data", str(dataset), "--out", str(again), *TINY, "--iterations", "1"]) == 0
    assert main(["train", "--data", str(dataset), "--out", str(again), *TINY, "--iterations", "1", "--overwrite"]) == 0


def test_ctrl_c_in_a_later_round_keeps_the_finished_rounds_student(dataset, teacher, tmp_path, monkeypatch, capsys):
    """Without --keep-rounds only the last round was saved, so Ctrl-C lost every finished one."""
    from diffusiontalker import trainstate

    real_step, calls = trainstate.optimisation_step, []

    def pressed_in_the_second_round(optimizer, loss, model, step):
        calls.append(step)
        if len(calls) == 4:  # two steps a round: the second round's second step
            raise KeyboardInterrupt
        real_step(optimizer, loss, model, step)

    monkeypatch.setattr(trainstate, "optimisation_step", pressed_in_the_second_round)
    assert main(["distill", "--teacher", str(teacher), "--data", str(dataset), "--out", str(tmp_path),
                 "--iterations", "2", "--batch-size", "2", "--window", "0.6"]) == 130
    kept = tmp_path / "student_16steps.json"
    assert f"continue with --teacher {kept} --from-steps 16" in capsys.readouterr().err
    assert json.loads(kept.read_text())["config"]["sampling_steps"] == 16 and not (tmp_path / "student.json").exists()
    monkeypatch.setattr(trainstate, "optimisation_step", real_step)
    assert main(["distill", "--teacher", str(kept), "--data", str(dataset), "--out", str(tmp_path),
                 "--iterations", "2", "--batch-size", "2", "--window", "0.6", "--from-steps", "16"]) == 0
    assert json.loads((tmp_path / "student.json").read_text())["config"]["sampling_steps"] == 8
