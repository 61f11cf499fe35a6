import json

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import speechlike
from diffusiontalker.cli import main
from diffusiontalker.errors import CheckpointError
from diffusiontalker.library import load_library
from diffusiontalker.new_style import fit_to_motion
from diffusiontalker.pipeline import Generator


@pytest.fixture
def clips(tmp_path):
    paths = []
    for i in range(2):
        p = tmp_path / f"ref{i}.wav"
        sf.write(p, speechlike(1.0, seed=i), 16000)
        paths.append(str(p))
    return paths


def test_identity_from_audio_is_usable_by_generate(tmp_path, clips, tiny_checkpoint, capsys):
    lib = tmp_path / "styles"
    assert main(["new-style", *clips, "--name", "dora", "--library", str(lib),
                 "--checkpoint", str(tiny_checkpoint)]) == 0
    names, rows, doc = load_library(lib)
    assert names == ["dora"] and rows.shape == (1, 8) and doc["sources"]["dora"]["from"] == "audio"
    assert main(["generate", "--checkpoint", str(tiny_checkpoint), "--library", str(lib), "--list-styles"]) == 0
    assert capsys.readouterr().out.split()[-2:] == ["3", "dora"]
    out = tmp_path / "dora.npz"
    assert main(["generate", clips[0], "-o", str(out), "--checkpoint", str(tiny_checkpoint), "--library",
                 str(lib), "--style", "dora", "--quiet"]) == 0
    assert str(np.load(out)["style"]) == "dora"
    by_index = tmp_path / "three.npz"  # the index --list-styles printed picks the same identity
    assert main(["generate", clips[0], "-o", str(by_index), "--checkpoint", str(tiny_checkpoint), "--library",
                 str(lib), "--style", "3", "--quiet"]) == 0
    np.testing.assert_array_equal(np.load(by_index)["offsets"], np.load(out)["offsets"])
    assert main(["generate", clips[0], "-o", str(by_index), "--checkpoint", str(tiny_checkpoint), "--library",
                 str(lib), "--style", "zed", "--quiet"]) == 2
    assert "choose one of: anna, ben, cleo, dora" in capsys.readouterr().err
    # A second identity extends the same library; a checkpoint style name is refused.
    assert main(["new-style", clips[1], "--name", "eve", "--library", str(lib),
                 "--checkpoint", str(tiny_checkpoint)]) == 0
    assert load_library(lib)[0] == ["dora", "eve"]
    eve = load_library(lib)[1][1].copy()
    assert main(["new-style", clips[0], "--name", "eve", "--library", str(lib),
                 "--checkpoint", str(tiny_checkpoint)]) == 2  # a name in use is kept unless replacing
    assert "'eve' is already a style in" in (err := capsys.readouterr().err) and "(--replace)" in err
    from diffusiontalker.errors import DiffusionTalkerError
    from diffusiontalker.library import check_new_name
    from diffusiontalker.pipeline import Generator

    with pytest.raises(DiffusionTalkerError, match="'eve' is already a style in"):  # not a second 'eve'
        check_new_name(Generator.load(tiny_checkpoint, "cpu"), "eve ", lib)
    np.testing.assert_array_equal(load_library(lib)[1][1], eve)
    assert main(["new-style", clips[0], "--name", "eve", "--library", str(lib), "--replace",
                 "--checkpoint", str(tiny_checkpoint)]) == 0
    assert load_library(lib)[0] == ["dora", "eve"] and not np.array_equal(load_library(lib)[1][1], eve)
    assert main(["new-style", clips[1], "--name", "anna", "--library", str(lib),
                 "--checkpoint", str(tiny_checkpoint)]) == 2
    assert main(["new-style", clips[1], "--name", "fay", "--library", str(tmp_path),
                 "--checkpoint", str(tiny_checkpoint)]) == 2  # a folder, not a library file
    assert "is a folder; name the library file in it" in capsys.readouterr().err
    for unusable in ("3", "Auto", "  "):  # an index, the voice search, nothing
        assert main(["new-style", clips[1], "--name", unusable, "--library", str(lib),
                     "--checkpoint", str(tiny_checkpoint)]) == 2
    assert load_library(lib)[0] == ["dora", "eve"]


def test_fitting_to_motion_explains_it_better(tiny_checkpoint, clips):
    from diffusiontalker.audio import load_audio
    from diffusiontalker.diffusion import GaussianDiffusion
    from diffusiontalker.losses import MotionLoss

    gen = Generator.load(tiny_checkpoint, "cpu")
    target = gen.generate(clips[0], style="cleo", seed=0).offsets  # motion made with a known identity
    start = gen.model.bank.embeddings[0].detach()  # start from another one
    ticks = []
    fitted = fit_to_motion(gen, [load_audio(clips[0])], [target], start, iterations=60, seed=0,
                           progress=lambda done, total: ticks.append((done, total)))
    assert ticks[-1] == (60, 60)

    feats = gen.features(load_audio(clips[0])).expand(64, -1, -1)
    x0 = torch.from_numpy(target.reshape(len(target), -1) / gen.config["motion_scale"])[None].expand(64, -1, -1)
    mask = torch.ones(x0.shape[:2], dtype=torch.bool)
    diffusion = GaussianDiffusion(gen.config["diffusion_steps"])

    def loss(identity):
        with torch.no_grad():
            return float(diffusion.training_loss(lambda x, t: gen.model.denoise(x, t, feats, identity.expand(64, -1)), x0,
                                                 mask, MotionLoss(), torch.Generator().manual_seed(5))["loss"])

    assert loss(fitted) < loss(start)


def test_a_cancelled_fit_stops_between_steps_and_leaves_the_model_as_it_was(tiny_checkpoint, clips):
    import threading

    from diffusiontalker.audio import load_audio
    from diffusiontalker.errors import Cancelled

    gen = Generator.load(tiny_checkpoint, "cpu")
    gen.model.requires_grad_(True)  # a model that is being trained keeps its flags after the fit
    wave = load_audio(clips[0])
    target = gen.generate(wave, 16000, seed=0).offsets
    cancel, ticks = threading.Event(), []

    def progress(done, total):
        ticks.append(done)
        if done == 2:
            cancel.set()  # Cancel pressed during the second step

    with pytest.raises(Cancelled):
        fit_to_motion(gen, [wave], [target], gen.model.bank.embeddings[0], iterations=50, seed=0,
                      progress=progress, cancel=cancel)
    assert ticks == [1, 2]
    assert all(p.requires_grad for p in gen.model.parameters())


def test_a_library_of_another_checkpoint_is_refused(tmp_path, clips, tiny_checkpoint, tiny_model, capsys):
    from diffusiontalker.checkpoint import save_checkpoint

    lib = tmp_path / "styles"
    assert main(["new-style", clips[0], "--name", "dora", "--library", str(lib),
                 "--checkpoint", str(tiny_checkpoint)]) == 0
    with torch.no_grad():
        tiny_model.bank.embeddings.add_(0.1)  # a fine-tune: the same config, another identity space
    other = save_checkpoint(tmp_path / "tuned", tiny_model)
    capsys.readouterr()
    assert main(["generate", clips[0], "-o", str(tmp_path / "x.npz"), "--checkpoint", str(other),
                 "--library", str(lib), "--style", "dora", "--quiet"]) == 2
    assert "was made for tiny.safetensors sha256:" in capsys.readouterr().err
    assert main(["generate", "--checkpoint", str(other), "--library", str(lib), "--list-styles"]) == 2
    assert "was made for tiny.safetensors sha256:" in capsys.readouterr().err
    assert main(["new-style", clips[1], "--name", "eve", "--library", str(lib), "--checkpoint", str(other)]) == 2
    assert "make the styles again for this checkpoint, into a new library" in capsys.readouterr().err
    assert load_library(lib)[0] == ["dora"] and not (tmp_path / "x.npz").exists()


def test_tampered_library_is_refused(tmp_path, clips, tiny_checkpoint):
    lib = tmp_path / "styles"
    main(["new-style", clips[0], "--name", "dora", "--library", str(lib), "--checkpoint", str(tiny_checkpoint)])
    tensors = tmp_path / "styles.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(CheckpointError, match="checksum does not match"):
        load_library(lib)
    (tmp_path / "styles.json").write_text(json.dumps({"format": "diffusiontalker-checkpoint"}))
    with pytest.raises(CheckpointError, match="not a DiffusionTalker style library"):
        load_library(lib)


def test_unusable_motion_is_refused_before_anything_is_stored(tmp_path, clips, tiny_checkpoint, capsys):
    lib = tmp_path / "styles"
    vertices = json.loads(tiny_checkpoint.read_text())["config"]["num_vertices"]
    for name, offsets in (("nan", np.full((10, vertices, 3), np.nan, np.float32)),
                          ("flat", np.zeros((10, vertices * 3), np.float32))):
        np.savez(tmp_path / f"{name}.npz", offsets=offsets)
        assert main(["new-style", clips[0], "--name", "dora", "--library", str(lib), "--checkpoint",
                     str(tiny_checkpoint), "--motion", str(tmp_path / f"{name}.npz")]) == 2
    err = capsys.readouterr().err
    assert "offsets hold NaN or infinite values" in err and "offsets of shape (10, " in err
    assert main(["new-style", "--name", "dora", "--library", str(lib), "--checkpoint", str(tiny_checkpoint),
                 "--motion", str(tmp_path / "nan.npz"), clips[0]]) == 2  # the clip went to --motion
    assert "put the recordings before --motion" in capsys.readouterr().err
    assert not (tmp_path / "styles.json").exists()


def test_motion_is_read_at_its_own_frame_rate_and_must_last_as_long_as_its_recording(tmp_path, clips, tiny_checkpoint,
                                                                                     capsys):
    """An animation of another clip (or at another frame rate read as the model's) once
    fitted silently to whatever overlapped."""
    lib = tmp_path / "styles"
    vertices = json.loads(tiny_checkpoint.read_text())["config"]["num_vertices"]
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "short.npz", offsets=rng.normal(0, 1e-3, (3, vertices, 3)).astype(np.float32))
    np.savez(tmp_path / "at10.npz", offsets=rng.normal(0, 1e-3, (10, vertices, 3)).astype(np.float32), fps=10.0)
    base = ["new-style", clips[0], "--name", "dora", "--library", str(lib), "--checkpoint", str(tiny_checkpoint),
            "--iterations", "2", "--motion"]
    assert main([*base, str(tmp_path / "short.npz")]) == 2
    assert "short.npz lasts 0.10 s but " in capsys.readouterr().err and not (tmp_path / "styles.json").exists()
    assert main([*base, str(tmp_path / "at10.npz")]) == 0  # 1 s at 10 fps: the clip's own length
    assert "dora" in load_library(lib)[0]


def test_a_librarys_names_edited_by_hand_are_refused_not_used_for_other_styles(tmp_path, clips, tiny_checkpoint,
                                                                               capsys):
    """Swapped names gave one style under the other's name; a name made a checkpoint's
    took its place; a broken library was told only after minutes of fitting."""
    lib = tmp_path / "styles"
    for name in ("dora", "Zoë"):
        assert main(["new-style", clips[0], "--name", name, "--library", str(lib),
                     "--checkpoint", str(tiny_checkpoint)]) == 0
    assert main(["new-style", clips[1], "--name", "Zoe\u0308", "--library", str(lib),  # Zoë typed another way
                 "--checkpoint", str(tiny_checkpoint)]) == 2
    assert "'Zoë' is already a style in" in capsys.readouterr().err
    card = tmp_path / "styles.json"
    original = json.loads(card.read_text())
    for names in (["Zoë", "dora"], ["dora", "dora"], ["ben", "Zoë"]):
        card.write_text(json.dumps({**original, "names": names}))
        with pytest.raises(CheckpointError, match="its 'names' is not what was saved with the tensors"):
            load_library(lib)
        assert main(["generate", "--checkpoint", str(tiny_checkpoint), "--library", str(lib), "--list-styles"]) == 2
        assert main(["new-style", clips[1], "--name", "eve", "--library", str(lib), "--checkpoint",
                     str(tiny_checkpoint), "--motion", str(tmp_path / "none.npz")]) == 2
        assert "its 'names' is not what was saved" in capsys.readouterr().err  # before the fit
