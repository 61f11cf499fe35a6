"""The extension in a Blender whose Python has no torch (tests/blender/no_torch_scenarios.py):
it enables, the panel says what is missing and how to get it, and everything that
needs the model refuses with that one message instead of a traceback, changing nothing.
"""

import pytest
from test_blender_extension import observe, package, pytestmark  # noqa: F401 - a fixture and the skip


@pytest.fixture(scope="module")
def observed(package, tmp_path_factory) -> dict:  # noqa: F811 - package is the fixture imported above
    data = observe("no_torch_scenarios.py", package, tmp_path_factory, timeout=300)
    assert "crash" not in data, data.get("crash")
    return data


def missing(observed) -> str:
    return f"torch is not installed for this Blender's Python {observed['python']}"


def test_the_extension_enables_without_torch(observed):
    assert observed["enabled"] == ["bl_ext.user_default.diffusiontalker"]
    assert not observed["torch_imported"]


def test_the_panel_says_what_is_missing_instead_of_its_settings(observed):
    lip_sync = observed["panels"]["DIFFUSIONTALKER_PT_lip_sync"]
    text = " ".join(text for kind, text, *_ in lip_sync if kind == "label")
    assert text.startswith(missing(observed)) and "install the DiffusionTalker zip built for your platform" in text
    assert lip_sync[0][2] == "ERROR"
    assert ["operator", "diffusiontalker.generate"] not in lip_sync


def test_what_needs_the_model_refuses_with_one_message_and_changes_nothing(observed):
    for operator in ("generate", "style_from_audio", "style_from_animation"):
        refusal = observed[operator]
        assert refusal is not None and missing(observed) in refusal, operator
        assert "Traceback" not in refusal and "ModuleNotFoundError" not in refusal, operator
    assert observed["unchanged"] == {"mesh": True, "shape_keys": False, "strips": 0, "actions": 0}
