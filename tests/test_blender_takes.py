"""Managing takes in real Blender: the list, solo and mute, delete, bake, layering.

The Blender side (tests/blender/takes_scenarios.py) runs in its own fresh Python for
the reasons tests/test_blender_extension.py gives, and uses a tiny random model on a
second of speech so that it takes seconds, not minutes.
"""

import pytest
from test_blender_extension import observe, package, pytestmark  # noqa: F401 - a fixture and the skip
from test_blender_extension import scenario as run

TOLERANCE = 1e-5  # metres


@pytest.fixture(scope="module")
def observed(package, tmp_path_factory) -> dict:  # noqa: F811 - package is the fixture imported above
    return observe("takes_scenarios.py", package, tmp_path_factory, timeout=600)


def sounds(observed, strips: dict) -> dict:
    """The sound strips a take operator should leave: none in a Blender without audio
    (tests/test_blender_extension.py's has_audio says which one that may be)."""
    return strips if observed["audio"] else {}


def test_three_takes_are_listed_and_only_the_latest_plays(observed):
    three = run(observed, "three_takes")
    frames = three["per_frame_keys"]
    assert frames > 10
    assert [(t["name"], t["mode"], t["style"], t["seed"], t["start"], t["frames"]) for t in three["listed"]] == [
        ("A", "BASIS", "anna", 1, 1, frames), ("B", "PER_FRAME", "ben", 2, 1, frames),
        ("C", "BASIS", "cleo", 3, 1, frames)]
    assert [t["keys"] for t in three["listed"]] == [6, frames, 6]
    assert three["rows"] == ["A.pc00", "B.00000", "C.pc00"]  # the list shows one row per take
    assert [t["muted"] for t in three["listed"]] == [True, True, False]
    assert three["strips"] == sounds(observed, {"A.audio": True, "B.audio": True, "C.audio": False})
    assert three["others"] > 100 * TOLERANCE  # the earlier takes would show if they played
    assert three["latest_alone"] < TOLERANCE


def test_solo_mute_and_unmute_change_what_the_mesh_shows(observed):
    switching = run(observed, "switching")
    assert switching["solo_a_muted"] == {"A": False, "B": True, "C": True}
    assert switching["solo_a_strips"] == sounds(observed, {"A.audio": False, "B.audio": True, "C.audio": True})
    for shows in ("solo_a", "none", "b", "b_and_c"):
        assert switching[shows] < TOLERANCE, shows
    assert switching["smile_kept"]


def test_bad_input_is_one_clear_message_and_changes_nothing(observed):
    switching = run(observed, "switching")
    for name, message in switching["refusals"].items():
        assert message is not None, name
    for name in ("take_solo", "take_mute", "take_delete", "take_bake"):
        assert "'Head' has no take named 'Nope' (its takes: A, B, C)" in switching["refusals"][name]
    assert "object 'Missing' must be a mesh" in switching["refusals"]["no_object"]
    assert "the active object must be a mesh" in switching["refusals"]["not_a_mesh"]
    assert switching["unchanged"]


def test_delete_removes_exactly_the_take(observed):
    deleted = run(observed, "delete")
    assert deleted["b_keys"] > 10 and deleted["b_left"] == [] and deleted["b_curves_left"] == []
    assert deleted["kept"] == {"Smile": True, "A": True, "C": True}  # bit-identical keys and curves
    assert set(deleted["names"]) == {"Basis", "Smile", "A", "C"}
    assert deleted["listed"] == ["A", "C"] and deleted["records"] == ["A", "C"]
    assert deleted["strips"] == sounds(observed, {"A.audio": True, "C.audio": False})


def test_bake_moves_a_take_into_its_own_action_that_plays_the_same(observed):
    baked = run(observed, "bake")
    assert baked["motion"] > 100 * TOLERANCE
    assert baked["changed"] < 1e-6
    assert baked["tracks"] == [["C", [["C", "C"]]]]
    assert baked["action_curves"] == baked["c_paths"] and len(baked["c_paths"]) == 6
    assert baked["left_in_shared"] == [] and baked["smile_in_shared"] and baked["smile_kept"]
    assert [t["name"] for t in baked["listed"]] == ["A", "C"] and baked["listed"][1]["style"] == "cleo"
    assert "no curves in the action of 'Head'" in baked["again"]
    assert baked["solo_a"] < TOLERANCE


def test_a_baked_take_made_again_or_deleted_leaves_no_action_behind(observed):
    baked = run(observed, "bake")
    remade = baked["remade"]
    assert remade["tracks"] == [] and not remade["action"]
    assert remade["alone"] < TOLERANCE
    assert [(t["name"], t["style"], t["seed"], t["keys"]) for t in remade["listed"]] == [
        ("A", "anna", 1, 6), ("C", "ben", 4, 5)]
    deleted = baked["deleted"]
    assert deleted["tracks"] == [] and not deleted["action"] and deleted["keys"] == []
    assert deleted["listed"] == ["A"] and deleted["smile_kept"]


def test_mute_other_takes_off_keeps_layering(observed):
    layering = run(observed, "layering")
    assert layering["x_size"] > 100 * TOLERANCE
    assert layering["both"] < TOLERANCE
    assert layering["layered"] == {"X": False, "Y": False, "Z": False}
    assert layering["last"] == {"X": True, "Y": True, "Z": True, "W": False}


def test_layered_lines_rest_outside_their_frames_and_the_range_holds_them_all(observed):
    """A keyframed basis once held its first and last pose beyond its keys (a line cut
    mid-word kept the mouth open for good), and the range shrank to the last line."""
    lines = run(observed, "lines_laid_side_by_side")
    for mode in ("BASIS", "PER_FRAME"):
        assert lines[mode]["moves"] > 100 * TOLERANCE
        assert lines[mode]["outside"] < TOLERANCE
        assert lines[mode]["range"] == [1, lines[mode]["end"]]


def test_fit_frame_range_off_keeps_a_shots_own_range(observed):
    shot = run(observed, "shot_range_kept")
    assert shot["kept"] == [1, 500]
    assert shot["fitted"] == [200, shot["end"]] and shot["end"] > 200


def test_a_flame_head_stood_up_in_centimetres_moves_as_flames_does(observed):
    standing = run(observed, "standing_head")
    assert standing["moves_mm"] > 0.5
    assert standing["error_share"] < 0.01, standing  # the lips open down, not into the face, and 100 times as far
