"""SynthTalk's articulation checked against articulatory phonetics, for every speaker.

Driven by hand-made ARPAbet timings (bench/phones/harvard.json), not by espeak-ng, so
the articulation is judged on timings of the kind an aligner gives for real speech.
"""

import json
from pathlib import Path

import numpy as np
import pytest

FLAME = Path(__file__).resolve().parents[1].parent / "shared" / "flame"
pytestmark = pytest.mark.skipif(not (FLAME / "FLAME_sample.ply").is_file(), reason=f"FLAME template not found in {FLAME}")

from diffusiontalker.synthtalk.articulate import (aperture, articulate, jaw_drop, per_phone, read_phones,  # noqa: E402
                                                  style_distance)
from diffusiontalker.synthtalk.articulation import coarticulate_classes  # noqa: E402
from diffusiontalker.synthtalk.build import load_rig  # noqa: E402
from diffusiontalker.synthtalk.phones import to_classes  # noqa: E402
from diffusiontalker.synthtalk.speakers import STYLES  # noqa: E402

PHONES = Path(__file__).resolve().parents[1] / "bench" / "phones" / "harvard.json"
FPS = 100.0  # fine enough to time a 50 ms closure
OPEN, MID = "aa ae ah ao aw ay".split(), "eh er ey ow oy ax".split()
CLOSE_AND_APPROXIMANTS = "iy ih uw uh w y r".split()


@pytest.fixture(scope="module")
def rig():
    return load_rig(FLAME / "FLAME_sample.ply")


@pytest.fixture(scope="module")
def takes(rig):
    """Per speaker, the few vertices the tests look at (whole takes of every speaker
    would not fit a CI machine's memory at 100 fps)."""
    phones, alphabet = read_phones(PHONES)
    assert alphabet == "arpabet"
    raw = [tuple(row) for row in json.loads(PHONES.read_text())]
    r = rig.regions
    chin = np.flatnonzero((rig.jaw_weight > 0.99) & (rig.lower_lip == 0))
    needed = np.unique(np.concatenate([[r.upper_mid, r.lower_mid], r.corners, chin, r.mouth]))
    return raw, {s.name: _measured(rig, articulate(rig, s, phones, FPS, only=needed), needed) for s in STYLES}


def _measured(rig, part, needed):
    take = np.zeros((len(part), len(rig.template), 3), np.float32)  # untouched pages cost nothing
    take[:, needed] = part
    r = rig.regions
    return {"gap": aperture(rig, take), "jaw": jaw_drop(rig, take), "mouth": np.abs(take[:, r.mouth]).max(axis=(1, 2)),
            "width": take[:, r.corners[0], 0] - take[:, r.corners[1], 0], "forward": take[:, r.upper_mid, 2],
            "lower_back": take[:, r.lower_mid, 2]}


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.name)
def test_vowel_openness_orders_the_lip_aperture(rig, takes, style):
    raw, offsets = takes
    gap = per_phone(offsets[style.name]["gap"], FPS, raw)
    assert min(gap[p] for p in OPEN) > max(gap[p] for p in MID)
    assert min(gap[p] for p in MID) > max(gap[p] for p in CLOSE_AND_APPROXIMANTS)
    # rounding narrows and protrudes; it never opens the lips more than the unrounded vowel of its height
    assert gap["uw"] <= gap["iy"] and gap["ow"] <= gap["eh"]


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.name)
def test_the_jaw_is_highest_for_s_and_z_and_high_for_alveolars(rig, takes, style):
    raw, offsets = takes
    jaw = per_phone(offsets[style.name]["jaw"], FPS, raw)
    sz = max(jaw["s"], jaw["z"])
    assert all(sz <= v for p, v in jaw.items() if p not in ("s", "z", "sil"))
    alveolar = np.mean([jaw[p] for p in "s z t d n l sh ch jh".split()])
    assert alveolar < np.mean([jaw[p] for p in MID]) < np.mean([jaw[p] for p in OPEN])


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.name)
def test_bilabials_close_on_their_silence_and_labiodentals_tuck_the_lower_lip(rig, takes, style):
    raw, offsets = takes
    take = offsets[style.name]
    gap = take["gap"]
    t = np.arange(len(gap)) / FPS
    unrounded = "aa ae ah ay eh ey ax iy ih".split()  # after a rounded vowel the lips are nearly shut already
    for (_, _, before), (start, end, phone) in zip(raw, raw[1:]):
        if phone in ("P", "B", "M") and before.rstrip("012").lower() in unrounded:
            during = gap[(t >= start) & (t < end)]
            assert during.min() < 0.0004, (phone, start)  # shut to within 0.4 mm
            shut = t[(gap < 0.0004) & (t > start - 0.1) & (t < end)]
            assert shut.min() >= start - 0.05, (phone, start)  # ahead of the silence by the face's lead at most
        if phone in ("F", "V") and end - start > 0.06:
            assert abs(gap[int(round(0.5 * (start + end) * FPS))]) < 0.0015  # lips nearly together...
    back = per_phone(take["lower_back"], FPS, raw)  # ...the lower lip drawn back under the upper teeth
    assert max(back["f"], back["v"]) < back["iy"] - 0.0015


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.name)
def test_pauses_rest_and_rounding_protrudes(rig, takes, style):
    raw, offsets = takes
    take = offsets[style.name]
    for start, end, phone in raw:
        if phone == "sil" and end - start > 0.3:
            # at rest, but for the rounding of an utterance-initial /w/ that may start in the pause
            assert take["mouth"][int(round(0.5 * (start + end) * FPS))] < 0.0008
    wide, ahead = per_phone(take["width"], FPS, raw), per_phone(take["forward"], FPS, raw)
    assert wide["uw"] < wide["iy"] - 0.002 and wide["w"] < wide["y"] - 0.002
    assert ahead["uw"] > ahead["iy"] + 0.0005


def test_rounding_is_anticipated_across_consonants_but_closure_is_not():
    style = STYLES[6]  # the crispest speaker: the shortest reach of all
    phones, _ = to_classes([(0.0, 0.3, "sil"), (0.3, 0.45, "iy"), (0.45, 0.55, "s"), (0.55, 0.62, "k"),
                            (0.62, 0.68, "l"), (0.68, 0.85, "uw"), (0.85, 0.95, "p"), (0.95, 1.3, "sil")])
    c = coarticulate_classes(phones, 1.3, 1300, 1000.0, style)
    at = lambda seconds: int(round((seconds - style.lead_s) * 1000))  # noqa: E731
    assert c["round"][at(0.68 - 0.11)] > 0.3 * c["round"][at(0.77)]  # rounding under way 110 ms early
    assert c["close"][at(0.85 - 0.05)] < 0.05 and c["close"][at(0.9)] > 0.9


def test_every_pair_of_speakers_moves_visibly_differently(rig):
    phones, _ = read_phones(PHONES)
    short = [p for p in phones if p[1] <= 8.0]  # the first three sentences
    lips = np.asarray(json.loads((FLAME / "FLAME_masks.json").read_text())["lips"])
    takes = [articulate(rig, s, short, 30.0) for s in STYLES]
    closest = min(style_distance(takes[i], takes[j], lips)
                  for i in range(len(takes)) for j in range(i + 1, len(takes)))
    assert closest >= 0.0012
    assert all(s.lead_s <= 0.04 for s in STYLES)  # the whole face never leads the sound by more than 40 ms


def test_data_articulate_writes_what_generate_writes_and_refuses_bad_input(tmp_path, capsys):
    from diffusiontalker.cli import main

    arpabet = tmp_path / "take.json"
    arpabet.write_text(json.dumps([[0, 0.2, "pau"], [0.2, 0.3, "b"], [0.3, 0.5, "AA1"], [0.5, 0.6, "sp"]]))
    espeak = tmp_path / "espeak.json"
    espeak.write_text(json.dumps([[0, 0.2, "_"], [0.2, 0.3, "b"], [0.3, 0.5, "A:"], [0.5, 0.6, "_"]]))
    assert main(["data", "articulate", str(arpabet), str(espeak), "--speaker", "spk07", "-o", str(tmp_path / "out"),
                 "--fps", "60"]) == 0
    with np.load(tmp_path / "out" / "take.npz") as npz:
        offsets, fps = npz["offsets"], float(npz["fps"])
    assert offsets.shape == (36, 5023, 3) and offsets.dtype == np.float32 and fps == 60.0
    with np.load(tmp_path / "out" / "espeak.npz") as npz:
        np.testing.assert_allclose(npz["offsets"], offsets, atol=1e-7)  # the same phones in either alphabet

    assert main(["data", "speakers"]) == 0
    assert capsys.readouterr().out.split()[-len(STYLES):] == [s.name for s in STYLES]
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps([[0, 0.2, "sil"], [0.2, 0.3, "xx"]]))
    broken = tmp_path / "broken.json"
    broken.write_text("[[0, 0.2, ")
    backwards = tmp_path / "backwards.json"
    backwards.write_text(json.dumps([[0.3, 0.2, "aa"]]))
    for args, message in (([str(unknown), "--speaker", "spk01"], "unknown phone 'xx' at 0.2 s"),
                          ([str(broken), "--speaker", "spk01"], "broken.json: not JSON"),
                          ([str(backwards), "--speaker", "spk01"], "start_s < end_s"),
                          ([str(arpabet), "--speaker", "spk99"], "no SynthTalk speaker 'spk99'")):
        assert main(["data", "articulate", *args, "-o", str(tmp_path / "refused")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()
