"""Loaders on tiny fabricated datasets in the processed VOCASET / BIWI layouts."""

import os
import pickle

import numpy as np
import pytest
import soundfile as sf

from diffusiontalker.data import (Clip, DataError, load_biwi, load_pickle, load_vocaset, speakers_of)

V = 6  # tiny "meshes": the loaders must not assume 5023 or 23370 vertices


def _fabricate(root, names, templates, frames, rate=22050):
    (root / "vertices_npy").mkdir(parents=True)
    (root / "wav").mkdir()
    rng = np.random.default_rng(0)
    for name in names:
        subject = name.rsplit("_", 1)[0]
        motion = templates[subject][None] + 0.001 * rng.standard_normal((frames, V, 3))
        np.save(root / "vertices_npy" / f"{name}.npy", motion.reshape(frames, -1).astype(np.float32))
        sf.write(root / "wav" / f"{name}.wav", 0.1 * rng.standard_normal(rate).astype(np.float32), rate)
    with open(root / "templates.pkl", "wb") as fh:
        pickle.dump(templates, fh, protocol=2)


def _templates(subjects):
    return {s: np.full((V, 3), i, dtype=np.float64) for i, s in enumerate(subjects)}


def test_vocaset_split_fps_and_sample_structure(tmp_path):
    subjects = ["FaceTalk_170728_03272_TA", "FaceTalk_170809_00138_TA"]
    names = ["FaceTalk_170728_03272_TA_sentence01", "FaceTalk_170728_03272_TA_sentence40",
             "FaceTalk_170809_00138_TA_sentence05", "FaceTalk_170809_00138_TA_sentence21"]
    _fabricate(tmp_path, names, _templates(subjects), frames=12)
    train = load_vocaset(tmp_path, "train")
    assert [c.name for c in train] == names[:2]
    clip = train[0]
    assert isinstance(clip, Clip) and clip.fps == 30.0 and clip.phonemes is None
    assert clip.vertices.shape == (6, V, 3) and clip.vertices.dtype == np.float32  # 60 -> 30 fps
    raw = np.load(tmp_path / "vertices_npy" / f"{names[0]}.npy").reshape(12, V, 3)
    np.testing.assert_array_equal(clip.vertices, raw[::2])
    assert clip.audio.dtype == np.float32 and abs(len(clip.audio) - 16000) <= 1  # 22.05 kHz resampled
    np.testing.assert_array_equal(clip.template, np.zeros((V, 3), np.float32))
    # test uses sentences 21-40 only: sentence05 of a test subject is not in it
    assert [c.name for c in load_vocaset(tmp_path, "test")] == [names[3]]
    assert speakers_of(tmp_path)["train"][0] == "FaceTalk_170728_03272_TA"
    with pytest.raises(DataError, match="no VOCASET clips of split 'val'"):
        load_vocaset(tmp_path, "val")


def test_biwi_splits_keep_25_fps(tmp_path):
    subjects = ["F2", "M3", "F1"]
    names = ["F2_e01", "F2_e33", "M3_e37", "F1_e37", "F1_e01"]
    _fabricate(tmp_path, names, _templates(subjects), frames=10, rate=16000)
    assert [c.name for c in load_biwi(tmp_path, "train")] == ["F2_e01"]
    assert [c.name for c in load_biwi(tmp_path, "val")] == ["F2_e33"]
    assert [c.name for c in load_biwi(tmp_path, "test_a")] == ["M3_e37"]
    test_b = load_biwi(tmp_path, "test_b")
    assert [c.name for c in test_b] == ["F1_e37"]
    assert test_b[0].fps == 25.0 and test_b[0].vertices.shape == (10, V, 3) and test_b[0].speaker == "F1"
    np.testing.assert_array_equal(test_b[0].template, np.full((V, 3), 2, np.float32))
    with pytest.raises(DataError, match="unknown split 'test'"):
        load_biwi(tmp_path, "test")


def test_vertices_that_do_not_fit_the_template_are_refused(tmp_path):
    _fabricate(tmp_path, ["F2_e01"], _templates(["F2"]), frames=4)
    np.save(tmp_path / "vertices_npy" / "F2_e01.npy", np.zeros((4, 7), np.float32))
    with pytest.raises(DataError, match=r"does not fit a 6-vertex template"):
        load_biwi(tmp_path, "train")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_restricted_unpickler_refuses_code_and_admits_arrays(tmp_path):
    evil = tmp_path / "templates.pkl"
    evil.write_bytes(pickle.dumps({"F2": _Exploit()}))
    with pytest.raises(DataError, match="refused"):
        load_pickle(evil)
    good = tmp_path / "ok.pkl"
    data = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [1, 2.5, "x"], "c": np.float64(3.0)}
    for protocol in (2, 4):
        good.write_bytes(pickle.dumps(data, protocol=protocol))
        back = load_pickle(good)
        np.testing.assert_array_equal(back["a"], data["a"])
        assert back["b"] == [1, 2.5, "x"] and back["c"] == 3.0


def test_not_a_dataset_folder(tmp_path):
    with pytest.raises(DataError, match="no vertices_npy"):
        load_vocaset(tmp_path, "train")
