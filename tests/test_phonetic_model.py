"""The phonetic stream: a model that reads the front-end's phones, trained on what the
front-end makes of its training audio, and generation with or without a transcript."""

import json

import numpy as np
import pytest
import torch

from conftest import TINY, speechlike
from diffusiontalker.cli import main
from diffusiontalker.errors import DiffusionTalkerError
from diffusiontalker.model import TalkerModel
from diffusiontalker.phonetics import PHONES, Timed, features
from diffusiontalker.pipeline import Generator
from synthetic_data import TINY_TRAINING as TRAIN, make_synthtalk, synthtalk_fixture

dataset = synthtalk_fixture()


def phones_of(frames, seed=0):
    """Random phone shares, as the front-end would give them."""
    rng = np.random.default_rng(seed)
    rows, t = [], 0.0
    while t < frames / 30:
        length = float(rng.uniform(0.04, 0.2))
        rows.append((t, t + length, PHONES[int(rng.integers(len(PHONES)))]))
        t += length
    return torch.from_numpy(features(rows, 30.0, frames))[None]


def test_a_model_grown_with_the_phone_reader_begins_where_it_was(tiny_model):
    wave = torch.from_numpy(speechlike(1.0))[None]
    grown = tiny_model.reconfigured({**tiny_model.config, "phonetic": "fuse"}).eval()
    with torch.no_grad():
        before = tiny_model.encode_audio(wave, 30)
        after = grown.encode_audio(wave, 30, heard=phones_of(30))
    torch.testing.assert_close(after, before)


def test_the_phones_reach_the_features_and_are_required(tiny_model):
    grown = tiny_model.reconfigured({**tiny_model.config, "phonetic": "fuse"}).eval()
    with torch.no_grad():
        grown.phone_reader.convs[-1].weight.normal_(0, 0.3)
        wave = torch.from_numpy(speechlike(1.0))[None]
        a = grown.encode_audio(wave, 30, heard=phones_of(30, seed=1))
        b = grown.encode_audio(wave, 30, heard=phones_of(30, seed=2))
    assert (a - b).abs().max() > 1e-3
    with pytest.raises(DiffusionTalkerError, match="reads the phonetic front-end's phones"):
        grown.encode_audio(wave, 30)


def test_replace_reads_the_phones_alone_and_hears_the_voice_only_for_its_style():
    model = TalkerModel({**TINY, "phonetic": "replace"}).eval()
    with torch.no_grad():
        model.phone_reader.convs[-1].weight.normal_(0, 0.3)
        heard = phones_of(30)
        waves = [torch.from_numpy(speechlike(1.0, seed=s))[None] for s in (1, 2)]
        a, b = (model.encode_audio(w, 30, heard=heard) for w in waves)
        voice_a, voice_b = (model.voice_features(w, 30, f) for w, f in zip(waves, (a, b)))
    torch.testing.assert_close(a, b)
    assert (voice_a - voice_b).abs().max() > 1e-3
    fused = TalkerModel({**TINY, "phonetic": "fuse"}).eval()
    with torch.no_grad():
        features = fused.encode_audio(waves[0], 30, heard=heard)
        assert fused.voice_features(waves[0], 30, features) is features  # heard by the same features


def test_a_trusting_reader_tells_aligned_phones_from_recognised_ones():
    plain = TalkerModel({**TINY, "phonetic": "replace"}).eval()
    trusting = plain.reconfigured({**plain.config, "phone_trust": True}).eval()
    wave = torch.from_numpy(speechlike(1.0))[None]
    recognised = phones_of(30)
    aligned = recognised.clone()
    aligned[..., -1] = 1.0  # the same phones, said to be aligned to a transcript
    with torch.no_grad():
        plain.phone_reader.convs[-1].weight.normal_(0, 0.3)
        trusting.phone_reader.convs[-1].weight.copy_(plain.phone_reader.convs[-1].weight)
        before = [m.encode_audio(wave, 30, heard=h) for m in (plain, trusting) for h in (recognised, aligned)]
        trusting.phone_reader.aligned.normal_(0, 0.3)
        rec, ali = (trusting.encode_audio(wave, 30, heard=h) for h in (recognised, aligned))
    for other in before[1:]:  # grown, it begins where it was; without trust the column is ignored
        torch.testing.assert_close(other, before[0])
    torch.testing.assert_close(rec, before[0])
    assert (ali - rec).abs().max() > 1e-3


def test_generation_says_whether_the_phones_were_aligned(phonetic_teacher):
    gen = Generator.load(phonetic_teacher, "cpu")
    wave = speechlike(1.0)
    rows = [(0.1, 0.3, "m"), (0.3, 0.6, "aa")]
    assert (gen.heard(wave, "ma", Timed(rows))[:, -1] == 1).all()
    assert not gen.heard(wave, None, Timed(rows))[:, -1].any()
    # a transcript placed only up to 0.5 s, the rest recognised (phonetics.timed)
    trust = gen.heard(wave, "ma", Timed(rows, 0.5))[:, -1]
    assert (trust[:15] == 1).all() and not trust[15:].any()


@pytest.mark.parametrize("phonetic", ["fuse", "replace"])  # two conv layers, three
def test_a_padded_batch_hears_each_clips_phones_as_alone(phonetic):
    model = TalkerModel({**TINY, "phonetic": phonetic}).eval()
    with torch.no_grad():
        model.phone_reader.convs[-1].weight.normal_(0, 0.3)
        short, long = phones_of(20, seed=3), phones_of(30, seed=4)
        n = round(16000 * 20 / 30)
        wave = torch.from_numpy(np.stack([np.pad(speechlike(1.0)[:n], (0, 16000 - n)), speechlike(1.0, seed=5)]))
        mask = torch.zeros(2, 30, dtype=torch.bool)
        mask[0, :20], mask[1] = True, True
        heard = torch.cat([torch.nn.functional.pad(short, (0, 0, 0, 10)), long])
        batched = model.encode_audio(wave, 30, mask, heard)
        alone = model.encode_audio(wave[:1, :n], 20, heard=short)
    torch.testing.assert_close(batched[:1, :20], alone, atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def phonetic_teacher(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("phonetic")
    assert main(["train", "--data", str(dataset), "--out", str(out), "--iterations", "4", "--phonetic", "fuse",
                 *TRAIN]) == 0
    return out / "teacher.json"


def test_training_runs_the_front_end_once_on_every_clip(dataset, phonetic_teacher):
    doc = json.loads(phonetic_teacher.read_text())
    assert doc["config"]["phonetic"] == "fuse" and doc["card"]["training"]["phonetic"] == "fuse"
    cache = json.loads((dataset / "frontend.json").read_text())
    train = json.loads((dataset / "synthtalk.json").read_text())["splits"]["train"]
    assert set(cache["clips"]) == set(train)
    for rows in cache["clips"].values():  # recognised from the sound; the fixture has no texts to align
        assert rows["aligned"] is None and all(p in PHONES for _, _, p in rows["recognised"])
    stamp = (dataset / "frontend.json").stat().st_mtime_ns
    Generator.load(phonetic_teacher, "cpu")  # a second run reuses the cache
    assert main(["train", "--data", str(dataset), "--out", str(phonetic_teacher.parent / "again"),
                 "--iterations", "1", "--phonetic", "fuse", *TRAIN]) == 0
    assert (dataset / "frontend.json").stat().st_mtime_ns == stamp


def test_a_phone_reading_checkpoint_generates_from_recognition_or_a_transcript(phonetic_teacher, tmp_path, capsys):
    from diffusiontalker.synthtalk.espeak import speak
    import soundfile as sf

    utterance = speak("Please move the meadow away from the fluffy map.", "en-us+m3")
    wav = tmp_path / "line.wav"
    sf.write(wav, utterance.audio, utterance.sample_rate)
    args = ["generate", str(wav), "--checkpoint", str(phonetic_teacher), "--quiet"]
    assert main([*args, "-o", str(tmp_path / "heard.npz")]) == 0
    assert main([*args, "-o", str(tmp_path / "told.npz"), "--transcript", "Please move the meadow away from the fluffy map."]) == 0
    heard, told = np.load(tmp_path / "heard.npz"), np.load(tmp_path / "told.npz")
    assert str(heard["transcript"]) == "" and str(told["transcript"]).startswith("Please move the meadow")
    assert heard["offsets"].shape == told["offsets"].shape and np.isfinite(told["offsets"]).all()
    assert main([*args, "-o", str(tmp_path / "wrong.npz"), "--transcript", "Seventeen green elephants dance "
                 "quietly under the enormous silver moon tonight"]) == 2
    assert "does not fit the audio" in capsys.readouterr().err and not (tmp_path / "wrong.npz").exists()


def test_a_transcript_for_a_checkpoint_without_phones_is_said_to_change_nothing(tiny_checkpoint, tmp_path, capsys):
    import soundfile as sf

    sf.write(tmp_path / "a.wav", speechlike(1.0), 16000)
    assert main(["generate", str(tmp_path / "a.wav"), "--checkpoint", str(tiny_checkpoint), "-o",
                 str(tmp_path / "a.npz"), "--transcript", "hello there", "--quiet"]) == 0
    assert "does not read phones: the transcript changes nothing" in capsys.readouterr().err


def test_a_teacher_can_start_from_a_student_of_other_speakers(dataset, phonetic_teacher, tmp_path):
    """The new demo began from the old one: the network carries over, the styles start afresh."""
    assert main(["distill", "--teacher", str(phonetic_teacher), "--data", str(dataset), "--out", str(tmp_path),
                 "--from-steps", "16", "--to-steps", "8", "--iterations", "1", "--batch-size", "2",
                 "--window", "0.6"]) == 0
    student = tmp_path / "student.json"
    assert json.loads(student.read_text())["config"]["distilled"]
    other = make_synthtalk(tmp_path / "other", speakers=2)
    assert main(["train", "--data", str(other), "--out", str(tmp_path / "tuned"), "--init", str(student),
                 "--iterations", "1", *TRAIN, "--lr", "0"]) == 0
    doc = json.loads((tmp_path / "tuned" / "teacher.json").read_text())
    assert doc["config"]["identities"] == ["spk00", "spk01"] and not doc["config"]["distilled"]
    assert doc["config"]["phonetic"] == "fuse" and doc["card"]["init"] == "student.json"
    from safetensors.numpy import load_file
    a = load_file(str(student).replace(".json", ".safetensors"))
    b = load_file(str(tmp_path / "tuned" / "teacher.safetensors"))
    np.testing.assert_array_equal(a["phone_reader.convs.0.weight"], b["phone_reader.convs.0.weight"])
    assert b["bank.embeddings"].shape[0] == 2


def test_the_phones_of_one_recording_are_worked_out_once(phonetic_teacher, monkeypatch):
    from diffusiontalker import phonetics

    calls = []
    real = phonetics.recognise
    monkeypatch.setattr(phonetics, "recognise", lambda wave, *how: calls.append(len(wave)) or real(wave, *how))
    gen = Generator.load(phonetic_teacher, "cpu")
    wave = speechlike(1.0)
    takes = [gen.generate(wave, 16000, style=s, seed=1).offsets for s in (0, 1, "auto")]
    assert len(calls) == 1 and not np.allclose(takes[0], takes[1])
    gen.generate(speechlike(1.0, seed=9), 16000, style=0)
    assert len(calls) == 2


def test_cancel_stops_generation_while_the_words_are_recognised(phonetic_teacher):
    import threading

    from diffusiontalker.errors import Cancelled

    gen = Generator.load(phonetic_teacher, "cpu")
    cancel, seen = threading.Event(), []

    def hearing(what, done, total):
        seen.append((what, done, total))
        cancel.set()  # Cancel pressed as the front-end begins
    with pytest.raises(Cancelled):
        gen.generate(speechlike(2.0), 16000, hearing=hearing, cancel=cancel, progress=lambda *_: seen.append("step"))
    assert seen == [("Recognising the words", 0.0, 2.0)]  # no denoising step was taken
    cancel.clear()  # nothing half-heard was kept: the next take hears the recording whole
    assert gen.generate(speechlike(2.0), 16000, hearing=hearing).offsets.shape[0] == 60


def test_audio_dropout_leaves_the_phones_alone_to_speak():
    model = TalkerModel({**TINY, "phonetic": "fuse"}).eval()
    with torch.no_grad():
        model.phone_reader.convs[-1].weight.normal_(0, 0.3)
        heard = phones_of(30).expand(2, -1, -1)
        wave = torch.from_numpy(np.stack([speechlike(1.0, seed=1), speechlike(1.0, seed=2)]))
        deaf = model.encode_audio(wave, 30, heard=heard, deaf=torch.tensor([True, False]))
        phones_only = model.phone_reader(heard[:1])
        both = model.encode_audio(wave, 30, heard=heard)
    torch.testing.assert_close(deaf[:1], phones_only)
    torch.testing.assert_close(deaf[1:], both[1:])
    assert (both[:1] - phones_only).abs().max() > 1e-3  # the audio did speak before it was silenced


def test_audio_dropout_needs_a_model_beside_the_phones(dataset, tmp_path, capsys):
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--iterations", "1",
                 "--audio-dropout", "0.5", *TRAIN]) == 2
    assert "needs a model with --phonetic fuse" in capsys.readouterr().err
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--iterations", "1",
                 "--audio-dropout", "0.5", "--phonetic", "fuse", *TRAIN]) == 0


def test_phone_trust_is_grown_onto_a_phone_reader_and_trained(dataset, phonetic_teacher, tmp_path, capsys):
    from safetensors.numpy import load_file

    assert main(["train", "--data", str(dataset), "--out", str(tmp_path / "deaf"), "--iterations", "1",
                 "--phone-trust", *TRAIN]) == 2
    assert "needs a model that reads them" in capsys.readouterr().err
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--init", str(phonetic_teacher),
                 "--phone-trust", "--aligned-share", "1", "--iterations", "3", *TRAIN]) == 0
    assert json.loads((tmp_path / "teacher.json").read_text())["config"]["phone_trust"]
    # the fixture's clips have no texts, so no window was aligned: the vector got no gradient
    np.testing.assert_array_equal(load_file(str(tmp_path / "teacher.safetensors"))["phone_reader.aligned"], 0.0)


def test_a_model_that_hears_grows_into_one_that_reads_phones_alone(dataset, phonetic_teacher, tmp_path):
    """``--init`` of a fuse model with ``--phonetic replace``: the audio encoder now only
    hears the voice, the rest stays, and the new reader is first fitted to say what the
    encoder said."""
    from safetensors.numpy import load_file

    from diffusiontalker.audio import normalise
    from diffusiontalker.batches import load_split
    from diffusiontalker.checkpoint import load_checkpoint

    assert main(["train", "--data", str(dataset), "--out", str(tmp_path), "--init", str(phonetic_teacher),
                 "--phonetic", "replace", "--reader-fit-steps", "60", "--iterations", "1", *TRAIN,
                 "--lr", "0"]) == 0
    grown, doc = load_checkpoint(tmp_path / "teacher.json")
    assert doc["config"]["phonetic"] == "replace"
    before = load_file(str(phonetic_teacher).replace(".json", ".safetensors"))
    after = load_file(str(tmp_path / "teacher.safetensors"))
    assert "phone_reader.convs.4.weight" in after  # the wider reader of READER_SIZE
    for kept in ("denoiser.norm_out.weight", "encoder.out.weight", "bank.embeddings"):
        np.testing.assert_array_equal(before[kept], after[kept])

    source, _ = load_checkpoint(phonetic_teacher)
    cache = json.loads((dataset / "frontend.json").read_text())["clips"]
    misses = []
    for clip in load_split("synthtalk", dataset, "train"):
        frames = len(clip.vertices)
        heard = torch.from_numpy(features(cache[clip.name]["recognised"], clip.fps, frames))[None]
        wave = torch.from_numpy(normalise(clip.audio))[None]
        with torch.no_grad():
            target = source.encode_audio(wave, frames, heard=heard)
            misses.append(((grown.encode_audio(wave, frames, heard=heard) - target) ** 2).mean()
                          / (target ** 2).mean())
    assert float(np.mean(misses)) < 0.7  # a reader that said nothing would miss by 1


def test_only_a_fuse_model_becomes_a_replace_one(dataset, phonetic_teacher, tmp_path, capsys):
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path / "r"), "--init", str(phonetic_teacher),
                 "--phonetic", "replace", "--reader-fit-steps", "0", "--iterations", "1", *TRAIN]) == 0
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path / "f"), "--init",
                 str(tmp_path / "r" / "teacher.json"), "--phonetic", "fuse", "--iterations", "1", *TRAIN]) == 2
    assert "cannot become --phonetic fuse" in capsys.readouterr().err


def test_training_windows_say_which_phones_were_aligned():
    from types import SimpleNamespace

    from diffusiontalker.batches import clip_items, window

    clip = SimpleNamespace(name="a", speaker="s", audio=speechlike(1.0), vertices=np.zeros((30, 4, 3), np.float32),
                           template=np.zeros((4, 3), np.float32), fps=30.0, phonemes=None)
    rows = {"a": {"recognised": [[0.1, 0.4, "aa"]], "aligned": [[0.1, 0.4, "m"]]}}
    item = clip_items([clip], ["s"], 1.0, heard=rows)[0]
    assert not item.recognised[:, -1].any() and (item.aligned[:, -1] == 1).all()
    rng = np.random.default_rng(0)
    flags = {window(item, 30, 30.0, rng, aligned_share=0.5)[-1][0, -1] for _ in range(40)}
    assert flags == {0.0, 1.0}  # both kinds reach training, each marked as what it is
