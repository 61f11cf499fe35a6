"""Any character in real Blender: Fit Head on a remeshed head, takes on it, and an
ARKit-keyed head driven through its own keys (tests/blender/targets_scenarios.py runs
in its own fresh Python, as tests/test_blender_extension.py explains, with the bundled
model on a second of speech)."""

import re

import pytest
from test_blender_extension import observe, package, pytestmark  # noqa: F401 - a fixture and the skip
from test_blender_extension import scenario as run


@pytest.fixture(scope="module")
def observed(package, tmp_path_factory) -> dict:  # noqa: F811 - package is the fixture imported above
    return observe("targets_scenarios.py", package, tmp_path_factory, timeout=900)


def test_a_remeshed_head_is_fitted_once_and_takes_land_on_it(observed):
    head = run(observed, "remeshed_head")
    assert "has not been fitted yet: run Fit Head on it first" in head["unfitted"]
    assert head["stored"] and head["stored_after_reload"]  # the fit saves with the .blend
    assert head["preview"] == [5023, "WIRE"]  # the fitted template shown over the head
    assert head["take_keys"] > 10 and head["second_take_keys"] == 4
    assert head["moved_mm"] > 0.5
    assert head["lower_third_moves_mm"] < head["moved_mm"]
    assert head["mine_kept"]
    assert re.search(r"'Remeshed' fitted: \d+ of 20018 vertices follow the face, which the template meets "
                     r"within 0\.\d mm", observed["stdout"])
    chin, teeth = head["teeth_chin_mm"]  # separate lower teeth follow the chin of a fitted head too
    assert chin > 1.0 and 0.7 < teeth / chin < 1.4 and head["teeth_chin_r"] > 0.95


def test_an_arkit_head_gets_its_own_keys_keyed(observed):
    rig = run(observed, "arkit_head")
    assert rig["names_unchanged"] and rig["kept"]  # no take keys; the user's key and animation untouched
    keyed = rig["keyed"]
    assert "mouthPucker" in keyed and keyed["mouthPucker"][0] == 1  # the user's one keyframe, alone
    assert keyed["jawOpen"][0] > 10 and 0.0 <= keyed["jawOpen"][1] and keyed["jawOpen"][2] <= 1.0
    assert keyed["jawOpen"][2] > 0.05
    assert "keyed on" in rig["report"]
    assert "Lower Teeth 'Teeth' has none of the head's ARKit or viseme shape keys" in rig["teeth_no_keys"]
    teeth = rig["teeth_keyed"]  # keyed as the head's keys of the same meaning, whatever their spelling
    assert teeth == {"Jaw_Open": keyed["jawOpen"], "mouthClose": keyed["mouthClose"]}
    assert rig["teeth_again"] == {}
    again = rig["again"]  # a second rig take replaces the first: only jawOpen, at half strength
    assert set(again) == {"Mine", "mouthPucker", "jawOpen"}
    assert again["jawOpen"][0] == rig["full_jaw"][0]
    assert again["jawOpen"][2] == pytest.approx(0.5 * rig["full_jaw"][2], abs=1e-4)
    assert rig["kept_again"]
    assert "no ARKit or viseme shape key named cheekPuff" in rig["unknown"]
    assert "animated already (mouthPucker)" in rig["busy"]


def test_selected_strips_key_a_rig_with_every_line_and_rest_between(observed):
    if not observed["audio"]:
        pytest.skip("this Blender is built without audio (Audaspace), so it cannot hold sound strips")
    run_ = run(observed, "arkit_dialogue")
    assert run_["error"] is None and run_["report"].startswith("2 of 2 takes written")
    jaw = {int(frame): value for frame, value in run_["at"].items()}
    frames = run_["frames"]
    for start, _ in run_["ends"].values():
        assert max(jaw[f] for f in range(start, start + frames)) > 0.05  # each line opens the jaw where it plays
        assert jaw[start - 1] == 0.0 and jaw[start + frames] == 0.0  # at rest the frame before and after it
    (_, a_end), (b_start, _) = sorted(run_["ends"].values())
    assert all(jaw[f] == 0.0 for f in range(a_end, b_start))  # and between the lines, not drifting


def test_rig_keys_are_read_as_blender_shows_them(observed):
    """Keys relative to another key than the reference, or limited by a vertex group."""
    rig = run(observed, "rig_keys_as_blender_shows_them")
    assert rig["same_keys"] and rig["jaw_peak"] > 0.05 and rig["hidden"] > 1000
    assert rig["largest_difference"] < 1e-3


def test_separate_lower_teeth_move_in_the_world_as_the_chin_does(observed):
    teeth = run(observed, "lower_teeth_follow_the_chin")
    assert "Lower Teeth: no object named 'Nope'" in teeth["missing"]
    assert "Lower Teeth 'Head' is the head's own mesh" in teeth["itself"]
    assert teeth["untouched"]
    assert "Lower Teeth 'Head.001' is the head's own mesh" in teeth["twin"]
    assert "Lower Teeth 'Empty Teeth' has no vertices in its mesh" in teeth["empty"]
    assert "Lower Teeth 'Far Teeth' is not inside 'Head': are they another character's?" in teeth["far"]
    assert teeth["still_untouched"]
    assert teeth["teeth_keys"] == ["Basis", "T.pc00", "T.pc01", "T.pc02"]
    assert teeth["chin_mm"] > 1.0
    assert teeth["apart_mm"] < 0.1 and teeth["rigid_mm"] < 0.01
    assert teeth["after_new_take"] == "muted" and teeth["after_solo"] == "playing"
    assert teeth["teeth_muted_alone"] == ["muted", False]  # the head's sound strip is the head's
    assert teeth["after_delete"] == "gone" and teeth["after_remade_without"] == "gone"


def test_bad_input_is_one_clear_message_and_changes_nothing(observed):
    refused = run(observed, "refusals")
    assert "the active object must be a mesh" in refused["not_a_mesh"]
    assert "unknown landmark chin" in refused["bad_landmark"]
    assert "landmark nose_tip is given twice" in refused["twice"]
    assert "choose FLAME_sample.ply" in refused["no_template"]
    assert "vertex group mouth_left of 'Plain' holds no vertex" in refused["empty_group"]
    assert "no shape keys with ARKit or viseme names" in refused["no_rig"]
    assert refused["unchanged"]
