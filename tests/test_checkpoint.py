import json

import pytest
import torch

from diffusiontalker.checkpoint import load_checkpoint, paths_of, read_card, save_checkpoint
from diffusiontalker.errors import CheckpointError


def test_round_trip_restores_weights_config_and_card(tiny_model, tiny_checkpoint):
    model, doc = load_checkpoint(tiny_checkpoint)
    assert doc["card"]["trained_on"] == "nothing (test)"
    assert model.config == tiny_model.config
    for (k, a), (_, b) in zip(tiny_model.state_dict().items(), model.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)
    # Either file of the pair, or the stem, names the same checkpoint.
    tensors, card = paths_of(tiny_checkpoint)
    assert load_checkpoint(tensors)[1]["sha256"] == doc["sha256"]
    assert load_checkpoint(card.with_suffix(""))[1]["sha256"] == doc["sha256"]


def test_tampered_weights_are_refused(tiny_checkpoint):
    tensors, _ = paths_of(tiny_checkpoint)
    data = bytearray(tensors.read_bytes())
    data[-5] ^= 0xFF
    tensors.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"{tensors.name}: checksum does not match"):
        load_checkpoint(tiny_checkpoint)


def test_truncated_weights_are_refused(tiny_checkpoint):
    tensors, _ = paths_of(tiny_checkpoint)
    tensors.write_bytes(tensors.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tiny_checkpoint)


def test_truncated_weights_with_matching_card_hash_are_refused(tiny_checkpoint):
    """Someone 'fixes' the hash after cutting the file: safetensors must still refuse it."""
    from diffusiontalker.checkpoint import sha256_of

    tensors, card = paths_of(tiny_checkpoint)
    tensors.write_bytes(tensors.read_bytes()[:1000])
    doc = json.loads(card.read_text())
    doc["sha256"] = sha256_of(tensors)
    card.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="unreadable safetensors"):
        load_checkpoint(tiny_checkpoint)


def test_a_checkpoint_of_a_diverged_run_is_refused(tiny_model, tmp_path):
    """Saved with a correct hash, but NaN inside: it would animate every frame as NaN."""
    with torch.no_grad():
        tiny_model.denoiser.motion_out.bias[3] = float("nan")
    path = save_checkpoint(tmp_path / "diverged", tiny_model)
    with pytest.raises(CheckpointError, match="'denoiser.motion_out.bias' holds NaN or infinite values"):
        load_checkpoint(path)


@pytest.mark.parametrize("key, value", [("num_vertices", 5023), ("motion_scale", 0.01)])
def test_a_card_whose_config_was_edited_is_refused(tiny_checkpoint, key, value):
    """Another shape failed to load before; another motion scale loaded and moved the face
    ten times as far. The config saved inside the tensor file (which the card's sha256
    covers) tells both."""
    _, card = paths_of(tiny_checkpoint)
    doc = json.loads(card.read_text())
    doc["config"][key] = value
    card.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="its 'config' is not what was saved with the tensors"):
        load_checkpoint(tiny_checkpoint)


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a valid checkpoint card"),
    ('{"format": "something-else"}', "not a DiffusionTalker checkpoint"),
    ('{"format": "diffusiontalker-checkpoint", "format_version": 99}', "newer version"),
])
def test_bad_cards(tmp_path, content, message):
    (tmp_path / "x.json").write_text(content)
    with pytest.raises(CheckpointError, match=message):
        read_card(tmp_path / "x.json")


def test_missing_files(tmp_path, tiny_checkpoint):
    with pytest.raises(CheckpointError, match="card not found"):
        load_checkpoint(tmp_path / "nothing.json")
    paths_of(tiny_checkpoint)[0].unlink()
    with pytest.raises(CheckpointError, match="tensor file not found"):
        load_checkpoint(tiny_checkpoint)


def test_no_pickle_anywhere():
    """A checkpoint must not be able to run code: no pickle/torch.load in the package."""
    from pathlib import Path

    import diffusiontalker

    for py in Path(diffusiontalker.__file__).parent.rglob("*.py"):
        text = py.read_text()
        assert "torch.load(" not in text, py
        assert "pickle.load(" not in text or "restricted" in text.lower(), py


def test_extra_tensors_are_kept_apart(tmp_path, tiny_model):
    from diffusiontalker.checkpoint import load_tensors

    path = save_checkpoint(tmp_path / "x", tiny_model, extra_tensors={"step": torch.tensor([5])})
    doc, tensors = load_tensors(path)
    assert int(tensors["extra.step"]) == 5
    load_checkpoint(path)  # the extra tensors do not disturb strict loading


def test_a_file_that_is_not_a_checkpoint_is_named_as_such(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.txt is not a checkpoint: expected a .json card"):
        load_checkpoint(text)
    (tmp_path / "half.safetensors").write_bytes(b"x")  # a checkpoint's tensors without their card
    with pytest.raises(CheckpointError, match="checkpoint card not found: .*half.json"):
        load_checkpoint(tmp_path / "half.safetensors")
    with pytest.raises(CheckpointError, match="is a folder; choose the checkpoint's .json card in it"):
        load_checkpoint(tmp_path)  # not "card not found: <folder>.json", a file nobody named
