"""Blender-side half of tests/test_blender_transcript.py; run in a fresh Python.

usage: python transcript_scenarios.py EXTENSION_ZIP FLAME_PLY SPEECH_WAV WORK_DIR OUT_JSON
(BLENDER_USER_RESOURCES must already point at an empty folder.) Installs the built
extension and generates with the bundled model on a second of speech, the transcript
given by the panel's field, a Text, or the operator. What reaches ``Generator.generate``
is recorded at the worker's end of the chain and kept from the model, so the test holds
whether or not the checkpoint reads phones.
"""

import hashlib
import sys
from types import SimpleNamespace

import bpy

ZIP, PLY, WAV, WORK, OUT = sys.argv[1:6]
NOT_GIVEN = "<not given>"
scenarios = []


def scenario(fn):
    scenarios.append(fn)
    return fn


bpy.ops.extensions.package_install_files(filepath=ZIP, repo="user_default", enable_on_install=True)
from bl_ext.user_default.diffusiontalker.diffusiontalker_addon import panel, takes, worker  # noqa: E402
from harness import active_curves, coordinates, flame_head, refusal, run_all, short_clip  # noqa: E402 - beside it

heard = []  # the transcript keyword of every generate call, NOT_GIVEN where it was left out


class Listening:
    """The loaded generator, noting the transcript each generate call is given. It is not
    passed on: the clip does not say these words, so the bundled model's aligner would
    refuse them; alignment itself is tested in core (tests/test_phonetic_model.py)."""

    def __init__(self, generator):
        self._generator = generator

    def __getattr__(self, name):
        return getattr(self._generator, name)

    def generate(self, *args, **kwargs):
        heard.append(kwargs.pop("transcript", NOT_GIVEN))
        return self._generator.generate(*args, **kwargs)


_load = worker.load_generator
worker.load_generator = lambda *args, **kwargs: Listening(_load(*args, **kwargs))


CLIP = short_clip(WAV, WORK)


def new_head():
    return flame_head(PLY, 0.002)


def text(name, body):
    block = bpy.data.texts.new(name)
    block.write(body)
    return block


def generate(**settings):
    bpy.ops.diffusiontalker.generate(audio=CLIP, start_frame=1, device="cpu", **settings)
    return heard[-1]


def record(head, take):
    return bool(head.data.shape_keys[takes.RECORDS][take].to_dict().get("transcript"))


def state(head) -> str:
    """The head's keys, their shapes and animation, and the take records, hashed."""
    key = head.data.shape_keys
    curves = {path: [tuple(p.co) for p in fc.keyframe_points] for path, fc in active_curves(head).items()}
    shapes = [(kb.name, hashlib.sha256(coordinates(kb).tobytes()).hexdigest()) for kb in key.key_blocks]
    records = key[takes.RECORDS].to_dict() if takes.RECORDS in key else {}
    return hashlib.sha256(repr((shapes, sorted(curves.items()), records)).encode()).hexdigest()


@scenario
def panel_field():
    head = new_head()
    bpy.context.scene.diffusiontalker.transcript = "  Put the map back.  "
    got = generate(take="Line")
    bpy.context.scene.diffusiontalker.transcript = ""
    plain = generate(take="Plain")
    return {"heard": got, "recorded": record(head, "Line"), "plain": plain, "plain_recorded": record(head, "Plain"),
            "tooltip": bpy.context.scene.diffusiontalker.bl_rna.properties["transcript"].description}


@scenario
def text_block():
    head = new_head()
    settings = bpy.context.scene.diffusiontalker
    settings.transcript = "the one-line field, which a chosen Text replaces"
    settings.transcript_text = text("Dialogue", "Put the map back.\nThen sit down and wait.\n")
    got = generate(take="Scene")
    settings.transcript_text.name = "Renamed"  # a pointer: still chosen after a rename
    renamed = generate(take="Scene")
    return {"heard": got, "renamed": renamed, "recorded": record(head, "Scene")}


@scenario
def operator_property():
    new_head()
    settings = bpy.context.scene.diffusiontalker
    settings.transcript = "the panel's words"
    settings.transcript_text = text("Dialogue", "the panel's Text")
    text("Other", "Words from another Text.")
    return {"words": generate(take="A", transcript="The operator's words."),
            "named_text": generate(take="B", transcript_text="Other"),
            "emptied": generate(take="C", transcript=""),  # a script asks for recognition over the panel's Text
            "scene_after": [settings.transcript, settings.transcript_text.name]}


@scenario
def cancel_while_recognising():
    """The panel's status while the bundled model hears the words, and Cancel pressed then."""
    head = new_head()
    before = state(head)
    # a part of the clip no scenario heard before: the generator keeps the last recording's phones
    request = worker.Request(checkpoint="", identity_library="", device="cpu", audio=CLIP, span=(0.1, 1.1),
                             style="auto", seed=0, variation=0.3, steps=0, mesh_vertices=len(head.data.vertices),
                             mesh_label="Head")
    job, statuses = worker.generation_job([request]), []

    def progress(done, total, status):
        statuses.append(status)
        if " of " in status and not status.startswith("Denoising"):
            job.cancel()

    outcome = job.run(progress)
    return {"statuses": statuses, "error": type(outcome.error).__name__, "unchanged": state(head) == before}


@scenario
def refusals():
    head = new_head()
    settings = bpy.context.scene.diffusiontalker
    generate(take="Kept")
    before, calls = state(head), len(heard)
    settings.transcript_text = text("Blank", "  \n\n ")
    found = {"empty_text": refusal(bpy.ops.diffusiontalker.generate, audio=CLIP, take="New", device="cpu"),
             "empty_text_report": settings.last_report}
    settings.transcript_text = None
    call = dict(audio=CLIP, take="New", device="cpu")
    found["missing_text"] = refusal(bpy.ops.diffusiontalker.generate, transcript_text="Nowhere", **call)
    found["both"] = refusal(bpy.ops.diffusiontalker.generate, transcript="words", transcript_text="Blank", **call)
    found["digits"] = refusal(bpy.ops.diffusiontalker.generate, transcript="call 911 now", **call)
    found["no_words"] = refusal(bpy.ops.diffusiontalker.generate, transcript="... !", **call)
    found["unchanged"] = state(head) == before
    found["no_generation"] = len(heard) == calls
    found["takes"] = sorted(t.name for t in takes.takes_of(head))
    return found


@scenario
def warnings_said_once():
    """Blender keeps the generator for every take: a warning of one take (a word guessed,
    a transcript's words left out) is said with it and not again after the next."""
    head = new_head()
    worker.load_generator("", "cpu").warnings.append("a warning of the take before")
    outcomes = []
    for _ in range(2):
        request = worker.Request(checkpoint="", identity_library="", device="cpu", audio=CLIP, span=(0.2, 1.0),
                                 style="auto", seed=0, variation=0.3, steps=0, mesh_vertices=len(head.data.vertices),
                                 mesh_label="Head")
        outcomes.append(worker.generation_job([request]).run(lambda done, total, status: None))
    return {"errors": [str(o.error) for o in outcomes if o.error], "first": outcomes[0].warnings,
            "second": outcomes[1].warnings}


class Layout:
    """A stand-in for Blender's UI layout, which headless Blender cannot make: it keeps the
    properties the panel draws, and whether the row each sits in was greyed out."""

    def __init__(self, drawn, active=True):
        self.drawn, self.active, self.enabled = drawn, active, True

    def __getattr__(self, name):
        def item(*args, **kwargs):
            if name == "prop":
                self.drawn.append((args[1], self.active))
            return Layout(self.drawn)

        return item


@scenario
def panel_draw():
    new_head()
    settings = bpy.context.scene.diffusiontalker
    drawn = {}
    for case, chosen in (("no_text", None), ("text", text("Dialogue", "words"))):
        settings.transcript_text = chosen
        props = []
        panel.DIFFUSIONTALKER_PT_lip_sync.draw(SimpleNamespace(layout=Layout(props)), bpy.context)
        drawn[case] = props
    return drawn


run_all(scenarios, {}, OUT)
