"""The transcript in real Blender: from the panel's one-line field, from a Text, or from the
operator, it reaches Generator.generate; a bad one is one message and changes nothing.
(tests/blender/transcript_scenarios.py runs in its own fresh Python, as
tests/test_blender_extension.py explains, with the bundled model on a second of speech.)"""

import pytest
from test_blender_extension import observe, package, pytestmark  # noqa: F401 - a fixture and the skip
from test_blender_extension import scenario as run

NOT_GIVEN = "<not given>"


@pytest.fixture(scope="module")
def observed(package, tmp_path_factory) -> dict:  # noqa: F811 - package is the fixture imported above
    return observe("transcript_scenarios.py", package, tmp_path_factory, timeout=900)


def test_the_panel_field_reaches_the_generator_and_empty_means_recognise(observed):
    field = run(observed, "panel_field")
    assert field["heard"] == "Put the map back."
    assert field["recorded"] is True
    assert field["plain"] == NOT_GIVEN  # no keyword at all: a generator without transcripts still runs
    assert field["plain_recorded"] is False
    assert "empty = recognised from the audio" in field["tooltip"]


def test_a_chosen_text_is_read_whole_and_replaces_the_field(observed):
    block = run(observed, "text_block")
    assert block["heard"] == "Put the map back.\nThen sit down and wait."
    assert block["renamed"] == block["heard"]
    assert block["recorded"] is True


def test_the_operator_overrides_the_panel_and_leaves_it_as_it_was(observed):
    op = run(observed, "operator_property")
    assert op["words"] == "The operator's words."
    assert op["named_text"] == "Words from another Text."
    assert op["emptied"] == NOT_GIVEN
    assert op["scene_after"] == ["the panel's words", "Dialogue"]


def test_a_bad_transcript_is_one_clear_message_and_changes_nothing(observed):
    bad = run(observed, "refusals")
    assert "the Text 'Blank' chosen as the transcript is empty" in bad["empty_text"]
    assert "the Text 'Blank' chosen as the transcript is empty" in bad["empty_text_report"]  # the panel says it too
    assert "no Text named 'Nowhere' for the transcript (this file's Texts: Blank)" in bad["missing_text"]
    assert "both transcript and transcript_text are given" in bad["both"]
    assert "write numbers as words" in bad["digits"]
    assert "no words to align" in bad["no_words"]
    assert bad["unchanged"] and bad["no_generation"]
    assert bad["takes"] == ["Kept"]


def test_the_panel_draws_the_transcript_beside_the_audio_greyed_when_a_text_is_chosen(observed):
    drawn = run(observed, "panel_draw")
    for case, field_active in (("no_text", True), ("text", False)):
        names = [name for name, _ in drawn[case]]
        assert names.index("transcript_text") == names.index("start_frame") + 1, names
        assert names.index("transcript") == names.index("transcript_text") + 1
        assert dict(drawn[case])["transcript"] is field_active


def test_the_panel_says_how_far_recognition_is_and_cancel_stops_it_there(observed):
    run_ = run(observed, "cancel_while_recognising")
    assert run_["statuses"][:2] == ["Loading model…", "Recognising the words…"]
    assert run_["statuses"][2].startswith("Recognising the words… 0 of ")  # the clip's seconds
    assert not any(s.startswith("Denoising") for s in run_["statuses"])  # stopped before the first step
    assert run_["error"] == "Cancelled" and run_["unchanged"]


def test_a_takes_warnings_are_said_with_it_and_not_after_every_later_take(observed):
    said = run(observed, "warnings_said_once")
    assert said["errors"] == []
    assert "a warning of the take before" in said["first"]
    assert "a warning of the take before" not in said["second"]
