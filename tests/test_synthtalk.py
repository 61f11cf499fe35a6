"""SynthTalk: phoneme-grounded articulation checked with lip landmarks, and the writer's determinism."""

import ctypes.util
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

FLAME = Path(__file__).resolve().parents[1].parent / "shared" / "flame"
pytestmark = [
    pytest.mark.skipif(not (FLAME / "FLAME_sample.ply").is_file(), reason=f"FLAME template not found in {FLAME}"),
    pytest.mark.skipif(ctypes.util.find_library("espeak-ng") is None, reason="libespeak-ng is not installed"),
]

from diffusiontalker.data import load_synthtalk, speakers_of  # noqa: E402
from diffusiontalker.mesh import read_mesh  # noqa: E402
from diffusiontalker.synthtalk.articulation import phoneme_class  # noqa: E402
from diffusiontalker.synthtalk.build import FPS, SAMPLE_RATE, build_dataset, load_rig, make_clip  # noqa: E402
from diffusiontalker.synthtalk.regions import find_regions  # noqa: E402
from diffusiontalker.synthtalk.speakers import STYLES  # noqa: E402

TEXT = ("Bob, please pass me the map. Who knew two blue moons would loom above us? "
        "Father saw a large bar. She sees the green tree, Pam.")


@pytest.fixture(scope="module")
def spoken():
    mesh = read_mesh(FLAME / "FLAME_sample.ply")
    regions = find_regions(mesh.vertices, mesh.faces, json.loads((FLAME / "FLAME_masks.json").read_text()))
    style = STYLES[0]  # neutral proportions: its neutral face is the template itself
    audio, frames, phonemes = make_clip(load_rig(FLAME / "FLAME_sample.ply"), TEXT, style, seed=1)
    v0 = mesh.vertices
    gap = np.linalg.norm(frames[:, regions.upper_mid] - frames[:, regions.lower_mid], axis=1)
    gap -= np.linalg.norm(v0[regions.upper_mid] - v0[regions.lower_mid])
    width = np.linalg.norm(frames[:, regions.corners[0]] - frames[:, regions.corners[1]], axis=1)
    neutral_width = np.linalg.norm(v0[regions.corners[0]] - v0[regions.corners[1]])

    def at(cls):
        """Frames showing the middle of each phoneme of a class (the face runs `lead_s` ahead)."""
        return np.array([int(round((0.5 * (s + e) - style.lead_s) * FPS))
                         for s, e, p in phonemes if phoneme_class(p) == cls])

    return dict(audio=audio, frames=frames, phonemes=phonemes, gap=gap, width=width,
                neutral_width=neutral_width, at=at, regions=regions, template=v0)


def test_bilabials_close_the_lips(spoken):
    closed = spoken["gap"][spoken["at"]("bilabial")]
    assert len(closed) >= 8
    assert np.median(closed) < 0.0005 and closed.max() < 0.0015  # metres: shut to within a millimetre or so
    assert spoken["gap"].max() > 0.006  # while the mouth does open elsewhere


def test_open_vowels_open_the_jaw_more_than_close_vowels(spoken):
    gap, at = spoken["gap"], spoken["at"]
    open_ = gap[at("open")].mean()
    close = gap[np.concatenate([at("close_front"), at("close_round")])].mean()
    assert open_ > close + 0.002
    assert 0.004 < gap.max() < 0.02  # jaw opening of mm to ~1.5 cm, not decimetres


def test_rounded_vowels_narrow_the_mouth(spoken):
    width, at = spoken["width"], spoken["at"]
    rounded, spread = width[at("close_round")].mean(), width[at("close_front")].mean()
    assert rounded < spoken["neutral_width"] - 0.003
    assert rounded < spread - 0.004


def test_silence_returns_to_neutral(spoken):
    mouth = spoken["regions"].mouth
    first, last = spoken["frames"][0, mouth], spoken["frames"][-1, mouth]
    assert np.abs(first - spoken["template"][mouth]).max() < 0.0003
    assert np.abs(last - spoken["template"][mouth]).max() < 0.0003


def test_phoneme_times_line_up_with_audio_energy(spoken):
    audio, phonemes = spoken["audio"], spoken["phonemes"]
    hop = SAMPLE_RATE // 100  # 10 ms energy frames
    energy = np.array([np.sqrt(np.mean(audio[i:i + hop] ** 2)) for i in range(0, len(audio) - hop, hop)])
    speech_onset = np.argmax(energy > 0.05 * energy.max()) / 100.0
    assert abs(phonemes[0][0] - speech_onset) < 0.06
    vowels = {"open", "mid", "close_front", "close_round", "mid_round"}

    def level(pick):
        idx = [i for s, e, p in phonemes if pick(p) for i in range(int(s * 100), int(e * 100))]
        return energy[np.array(idx)].mean()

    loud = level(lambda p: phoneme_class(p) in vowels)
    assert loud > 3 * level(lambda p: p in ("p", "b"))  # lips shut on a stop: quiet; vowels: loud
    assert loud > 20 * energy[: int(phonemes[0][0] * 100) - 2].mean()


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_dataset_is_deterministic_and_speakers_differ(tmp_path):
    a = build_dataset(tmp_path / "a", speakers=5, sentences=5, seed=7, progress=False)
    build_dataset(tmp_path / "b", speakers=5, sentences=5, seed=7, workers=1, progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")  # byte-identical, whatever the workers
    assert a["splits"]["train"] == ["spk01_sentence01", "spk01_sentence02", "spk01_sentence03"]
    assert a["splits"]["test"] == ["spk01_sentence05"]
    assert speakers_of(tmp_path / "a") == {"train": ["spk01"], "unseen": ["spk25", "spk26", "spk27", "spk28"]}

    clips = {c.name: c for c in load_synthtalk(tmp_path / "a", "test") + load_synthtalk(tmp_path / "a", "test_unseen")}
    one, two = clips["spk01_sentence05"], clips["spk26_sentence05"]  # both in English
    assert a["clips"][one.name]["text"] == a["clips"][two.name]["text"]
    assert one.fps == 30.0 and one.vertices.shape[1:] == (5023, 3) and one.phonemes
    assert abs(len(one.audio) / SAMPLE_RATE - len(one.vertices) / one.fps) < 1.0 / one.fps
    motion = [c.vertices - c.template for c in (one, two)]
    n = min(len(m) for m in motion)
    mouth_motion = np.linalg.norm(motion[0][:n] - motion[1][:n], axis=2).max(axis=1).mean()
    assert mouth_motion > 0.001  # the same words, moved measurably differently
    assert not np.allclose(one.template, two.template)  # own neutral proportions


def test_other_seed_other_data(tmp_path):
    build_dataset(tmp_path / "a", speakers=5, sentences=5, seed=1, progress=False)
    build_dataset(tmp_path / "b", speakers=5, sentences=5, seed=2, progress=False)
    da, db = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert da.keys() == db.keys()
    assert sum(da[k] != db[k] for k in da if k.startswith("wav/")) == len([k for k in da if k.startswith("wav/")])


def test_counterfactual_truth_reproduces_every_clip_and_tells_speakers_apart(tmp_path, capsys):
    from diffusiontalker.evaluate import nearest_speaker, style_references
    from diffusiontalker.regions import default_region_file, load_regions
    from diffusiontalker.synthtalk.counterfactual import Counterfactuals

    build_dataset(tmp_path, speakers=6, sentences=5, seed=3, progress=False)
    lips = load_regions(default_region_file("vocaset_eval_regions.json"), 5023)["lve"]
    truth = Counterfactuals(tmp_path)
    kind, references = style_references("synthtalk", tmp_path, lips)
    assert kind == "counterfactual" and truth.speakers == ["spk01", "spk02", "spk25", "spk26", "spk27", "spk28"]
    for clip in load_synthtalk(tmp_path, "test") + load_synthtalk(tmp_path, "test_unseen"):
        recorded = (clip.vertices - clip.template)[:, lips]
        # to within the millisecond rounding of the stored phoneme times
        np.testing.assert_allclose(truth.offsets(clip, clip.speaker)[:, lips], recorded, atol=1e-5)
        for other in set(truth.speakers) - {clip.speaker}:
            assert np.abs(truth.offsets(clip, other)[:, lips] - recorded).max() > 0.001
        # the recording itself is judged its own speaker's, among every speaker's version of it
        assert set(references(clip)) == set(truth.speakers)
        assert nearest_speaker(clip.vertices - clip.template, references(clip), lips) == clip.speaker

    manifest = json.loads((tmp_path / "synthtalk.json").read_text())
    (tmp_path / "synthtalk.json").write_text(json.dumps({**manifest, "generator_version": "0"}))
    assert style_references("synthtalk", tmp_path, lips)[0] == "same sentence"
    assert "same sentence" in capsys.readouterr().err


def test_cross_speaker_targets_swap_the_mouth_and_keep_the_recorded_face(tmp_path):
    from diffusiontalker.batches import batch_sampler, clip_items
    from diffusiontalker.cli import main
    from diffusiontalker.errors import DiffusionTalkerError
    from diffusiontalker.synthtalk.counterfactual import Counterfactuals, CrossSpeakerTargets

    build_dataset(tmp_path, speakers=6, sentences=5, seed=4, progress=False)
    clips = load_synthtalk(tmp_path, "train")
    speakers = list(dict.fromkeys(c.speaker for c in clips))
    truth, scale = Counterfactuals(tmp_path), 1e-3
    items = clip_items(clips, speakers, scale)
    restyle = CrossSpeakerTargets(truth, clips, speakers, scale, share=1.0)
    clip, own = clips[0], speakers.index(clips[0].speaker)
    style, target = restyle(0, 0, items[0].motion, own, np.random.default_rng(0))
    assert style != own
    target = target.reshape(len(clip.vertices), -1, 3) * scale
    recorded = clip.vertices - clip.template
    wanted, spoken_own = truth.offsets(clip, speakers[style]), truth.offsets(clip, clip.speaker)
    speech = (np.abs(wanted).max(axis=(0, 2)) > 0) | (np.abs(spoken_own).max(axis=(0, 2)) > 0)
    np.testing.assert_allclose(target[:, speech], wanted[:, speech], atol=5e-5)  # float16 store
    assert np.abs(target[:, speech] - recorded[:, speech]).max() > 1e-3
    # brows and blinks are the recording's own, untouched
    assert np.abs(recorded[:, ~speech]).max() > 1e-4
    np.testing.assert_allclose(target[:, ~speech], recorded[:, ~speech], atol=1e-7)

    batch = next(batch_sampler(items, 6, 0.5, FPS, seed=0, restyle=restyle))
    voice, style = batch.voice, batch.style
    assert (voice != style).all()
    kept = CrossSpeakerTargets(truth, clips, speakers, scale, share=0.0)
    assert kept(0, 0, items[0].motion, own, np.random.default_rng(0))[1] is items[0].motion
    with pytest.raises(DiffusionTalkerError, match="within 0-1"):
        CrossSpeakerTargets(truth, clips, speakers, scale, share=1.5)

    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path), "--out", str(out), "--iterations", "2", "--d-model", "16",
                 "--layers", "1", "--heads", "2", "--d-identity", "8", "--diffusion-steps", "16",
                 "--batch-size", "2", "--window", "0.5", "--cross-speaker", "1"]) == 0
    assert json.loads((out / "teacher.json").read_text())["card"]["training"]["cross_speaker"] == 1.0
    assert main(["distill", "--teacher", str(out / "teacher.json"), "--data", str(tmp_path), "--out", str(out),
                 "--iterations", "1", "--batch-size", "2", "--window", "0.5", "--cross-speaker", "1"]) == 0
    assert json.loads((out / "student.json").read_text())["card"]["distillation"]["cross_speaker"] == 1.0


def test_a_cancelled_build_leaves_no_half_dataset(tmp_path, monkeypatch):
    from diffusiontalker.synthtalk import build

    def cancelled(*_):  # the user presses Ctrl-C once the folders exist
        raise KeyboardInterrupt

    monkeypatch.setattr(build.multiprocessing, "get_context", cancelled)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(tmp_path / "new", speakers=5, sentences=5, progress=False)
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("the user's own")
    with pytest.raises(KeyboardInterrupt):
        build_dataset(tmp_path / "mine", speakers=5, sentences=5, progress=False)
    assert (tmp_path / "mine" / "notes.txt").is_file()  # a folder it did not make is not removed


def test_every_speaker_has_a_voice_espeak_knows_and_sentences_in_its_language():
    from diffusiontalker.synthtalk.espeak import speak
    from diffusiontalker.synthtalk.text import LANGUAGES, sentence

    for style in STYLES:
        assert style.language in LANGUAGES, style.name
        assert len({sentence(0, f"{style.name}/{n}", style.language) for n in range(1, 201)}) >= 190
        assert speak("Mama.", style.voice).phonemes, style.voice
