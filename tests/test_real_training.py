"""bench/real_training.py's merge, on a two-speaker SynthTalk folder made here, with an
espeak voice SynthTalk does not use standing in for a real recording (no network).

The merged folder must load as SynthTalk, carry the new clip in its train split under a
training speaker, and that clip's mouth must close on the aligned bilabials and open
on the vowels: a misplaced shift (the rest padding) or a wrong phone alphabet shows
there. ``Counterfactuals`` must accept the folder and recompute the clip's mouth.
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

FLAME = Path(__file__).resolve().parents[1].parent / "shared" / "flame"
pytestmark = pytest.mark.skipif(not (FLAME / "FLAME_sample.ply").is_file(), reason=f"FLAME template not found in {FLAME}")
pytest.importorskip("pocketsphinx")

from diffusiontalker.data import load_synthtalk  # noqa: E402
from diffusiontalker.synthtalk import build  # noqa: E402
from diffusiontalker.synthtalk.articulate import aperture  # noqa: E402
from diffusiontalker.synthtalk.speakers import STYLES  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "real_training.py"
TEXT = "leave me alone, mom"


def _module():
    spec = importlib.util.spec_from_file_location("real_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("real_training", module)  # its dataclass looks its module up there
    spec.loader.exec_module(sys.modules["real_training"])
    return sys.modules["real_training"]


@pytest.fixture(scope="module")
def rig():
    return build.load_rig(FLAME / "FLAME_sample.ply")


@pytest.fixture(scope="module")
def base(tmp_path_factory, rig):
    """A generator-2 folder with two training speakers and one held-out one, a clip each."""
    root = tmp_path_factory.mktemp("synthtalk")
    styles = [s for s in STYLES if s.voice.startswith("en")][:3]
    splits = {"train": [], "val": [], "test": [], "test_unseen": []}
    for sub in ("motion", "wav", "phonemes"):
        (root / sub).mkdir()
    clips = {}
    for i, style in enumerate(styles):
        name = build.clip_name(style.name, 1)
        job = build.Job(name, "the cat sat", style, i, str(root))
        build._init_worker(rig)
        _, seconds, frames = build._run_job(job)
        clips[name] = {"text": job.text, "seconds": round(seconds, 4), "frames": frames}
        splits["test_unseen" if i == 2 else "train"].append(name)
    build.write_npz(root / "templates.npz", {s.name: build.neutral_of(rig, s) for s in styles})
    np.save(root / "moving.npy", rig.moving)
    (root / "synthtalk.json").write_text(json.dumps({
        "dataset": "SynthTalk", "generator_version": build.GENERATOR_VERSION, "seed": 0, "fps": build.FPS,
        "sample_rate": build.SAMPLE_RATE, "template": "FLAME_sample.ply",
        "train_speakers": [s.name for s in styles[:2]], "unseen_speakers": [styles[2].name],
        "speakers": {s.name: s.as_json() for s in styles}, "splits": splits, "clips": clips}))
    return root


def _recording(text):
    """An espeak voice none of the test's speakers has, at 16 kHz, as a line would load."""
    import soxr

    from diffusiontalker.synthtalk.espeak import speak

    utt = speak(text, "en-us+m4", 150, 40, 60, 0)
    return soxr.resample(utt.audio, utt.sample_rate, 16000).astype(np.float32)


def test_merge_adds_aligned_train_clips(base, rig, tmp_path):
    rt = _module()
    wave = _recording(TEXT)
    lines = [rt.Line("test", "espeak", "a.ogg", TEXT, wave),
             rt.Line("test", "espeak", "b.ogg", TEXT, wave[:4000])]  # a quarter second: refused as short
    out = tmp_path / "merged"
    result = rt.add_real(base, out, lines, rig, merge=True, log=lambda s: None)
    assert [k["source"] for k in result["kept"]] == ["test:a.ogg"]
    assert result["refused"] == {"short": ["test:b.ogg"]}

    before = json.loads((base / "synthtalk.json").read_text())
    after = json.loads((out / "synthtalk.json").read_text())
    assert after["speakers"] == before["speakers"] and after["generator_version"] == before["generator_version"]
    assert {k: v for k, v in after["splits"].items() if k != "train"} == \
        {k: v for k, v in before["splits"].items() if k != "train"}
    name = "spk01_sentence_real0000"
    assert after["splits"]["train"] == before["splits"]["train"] + [name]
    assert after["clips"][name]["text"] == TEXT

    train = {c.name: c for c in load_synthtalk(out, "train")}
    clip = train[name]
    assert clip.speaker == before["train_speakers"][0]
    seconds = len(wave) / 16000 + build.LEAD_SILENCE_S + build.TRAIL_SILENCE_S
    assert len(clip.vertices) == after["clips"][name]["frames"] == int(round(seconds * build.FPS))
    assert abs(len(clip.audio) / 16000 - seconds) < 1e-3

    opening = aperture(rig, clip.vertices - clip.template[None])
    at = [(s, e, p) for s, e, p in clip.phonemes]
    bilabials = [(s, e) for s, e, p in at if p == "m"]
    vowels = [(s, e) for s, e, p in at if p in ("i:", "oU", "A:", "V")]
    assert len(bilabials) >= 3 and vowels, at  # "me", "mom": the aligner placed them
    assert all(s >= build.LEAD_SILENCE_S - 1e-6 for s, _, p in at if p != "_")
    widest = max(opening[int(s * build.FPS):int(np.ceil(e * build.FPS))].max() for s, e in vowels)
    for s, e in bilabials:
        closed = opening[max(0, int(s * build.FPS) - 1):int(np.ceil(e * build.FPS)) + 1].min()
        assert closed < 0.35 * widest, (s, e, closed, widest)

    from diffusiontalker.synthtalk.counterfactual import Counterfactuals

    truth = Counterfactuals(out, FLAME / "FLAME_sample.ply").offsets(clip, clip.speaker)
    lips = rig.regions.mouth
    assert np.abs(truth[:, lips] - (clip.vertices - clip.template[None])[:, lips]).max() < 2e-4


def test_real_clips_alone(base, rig, tmp_path):
    rt = _module()
    out = tmp_path / "alone"
    rt.add_real(base, out, [rt.Line("test", "espeak", "a.ogg", TEXT, _recording(TEXT))], rig, merge=False,
                log=lambda s: None)
    manifest = json.loads((out / "synthtalk.json").read_text())
    assert manifest["splits"]["train"] == ["spk01_sentence_real0000"] and not manifest["splits"]["test_unseen"]
    assert [c.speaker for c in load_synthtalk(out, "train")] == ["spk01"]
    with pytest.raises(SystemExit):  # never written over
        rt.add_real(base, out, [], rig, merge=False, log=lambda s: None)


def test_espeak_mnemonics_keep_the_aligners_classes():
    from diffusiontalker.synthtalk.phones import arpabet_class, espeak_class

    rt = _module()
    differ = {a for a, e in rt.ARPABET_TO_ESPEAK.items() if arpabet_class(a) != espeak_class(e)}
    assert differ == {"ae"}  # espeak's English has no open-front vowel; SynthTalk's "a" is "open"


def test_speech_the_transcript_lacks_is_refused():
    """A line saying more than its transcript must not train: the face would rest, or
    crawl, while the unsaid 'mom' is heard."""
    rt = _module()
    reason, _, _ = rt.aligned(rt.Line("test", "espeak", "a.ogg", "leave me alone", _recording(TEXT)))
    assert reason is not None
    t = np.arange(16000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    share, longest = rt.loud_in_silence(tone, [(0.0, 0.3, "aa"), (0.3, 0.5, "sil"), (0.5, 0.6, "m"), (0.6, 1.0, "sil")])
    assert share == pytest.approx(0.6, abs=0.02) and longest == pytest.approx(0.4, abs=0.02)


def test_a_line_that_says_other_words_than_its_transcript_is_refused(monkeypatch):
    """A file name that is not what is said ("incoming" for "this is going to hurt")
    must not train: its few phones would be spread over the longer phrase."""
    rt = _module()
    recording = _recording(TEXT)
    heard = rt.heard(recording)
    assert rt.unsaid(TEXT, heard) <= rt.MAX_UNSAID < rt.unsaid("incoming", heard)
    assert rt.unsaid("leave me alone", "Leave me alone!") == 0 and rt.unsaid("oops", "whoops") == 1
    assert rt.unsaid("enemy down", "Hey, I got him!") == 2  # 4 words for 2: two swapped, two added
    assert rt.aligned(rt.Line("test", "espeak", "a.ogg", TEXT, recording))[0] is None
    monkeypatch.setattr(rt, "heard", lambda wave: "this is going to hurt")
    assert rt.aligned(rt.Line("test", "espeak", "a.ogg", TEXT, recording))[0] == "unsaid"


def test_prompt_list_and_per_voice_limit(base, rig, tmp_path):
    import gzip

    rt = _module()
    listing = tmp_path / "prompts.txt.gz"
    with gzip.open(listing, "wt", encoding="utf-8") as fh:
        fh.write("; Core sounds\n\nagent-pass: Agent password.\ndigits/1: One.\nsilence/1:\n")
    assert rt.transcripts(listing) == {"agent-pass": "Agent password.", "digits/1": "One."}

    wave = _recording(TEXT)
    lines = [rt.Line("test", "espeak", f"{n}.ogg", TEXT, wave, limit=1) for n in range(2)]
    result = rt.add_real(base, tmp_path / "limited", lines, rig, merge=False, log=lambda s: None)
    assert len(result["kept"]) == 1 and result["refused"] == {"enough": ["test:1.ogg"]}
    assert result["refused_by_voice"] == {"test/espeak": 1}
