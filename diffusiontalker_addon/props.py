"""Generation settings, stored on the scene so they save with the .blend.

The operator takes the very same properties (built by ``generation_properties``),
so a batch call can set any of them while the panel just uses the scene's: an
operator property left unset falls back to the scene's value.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from ..core.argtypes import DEFAULT_VARIATION
from . import prefs
from .writer import BASIS, PER_FRAME

AUTO_STYLE = "auto"


def _style_search(self, context, edit_text):
    """Identity names for the style field, from the checkpoint's card (no model weights are
    loaded) and the personal style library."""
    from ..core.card import BUNDLED, library_card, read_card
    from ..core.errors import DiffusionTalkerError

    names = [AUTO_STYLE]
    try:
        names += list(read_card(prefs.checkpoint_path(context) or BUNDLED)["config"].get("identities", []))
        library = prefs.identity_library_path(context)
        names += library_card(library)["names"] if library else []
    except DiffusionTalkerError:
        pass  # the Generate button reports the file's problem; a search list cannot
    return [n for n in names if edit_text.lower() in n.lower()]


def generation_properties(options: set[str]) -> dict:
    """Fresh property definitions (one set per class that registers them)."""
    return {
        "audio_source": EnumProperty(
            name="Audio Source", options=options, default="FILE",
            items=[("FILE", "File", "Generate from an audio file; it is added to the sequencer as a sound strip"),
                   ("STRIP", "Sound Strip", "Generate from a sound strip already in the scene: what it plays, from where it plays it"),
                   ("SELECTED", "Selected Strips", "A take of each sound strip selected in the sequencer, named after "
                                                   "it, where it plays; the takes play side by side")],
            description="Where the speech comes from"),
        "audio": StringProperty(
            name="Audio", subtype="FILE_PATH", options=options,
            description="Speech recording (wav, flac, ogg …) to animate the face to"),
        "sound_strip": StringProperty(
            name="Sound Strip", options=options,
            description="Name of the scene's sound strip whose audio drives the face"),
        "transcript": StringProperty(
            name="Transcript", default="", options=options,
            description="What is said, so its phones are aligned, not guessed; empty = recognised from the audio"),
        "style": StringProperty(
            name="Talking Style", default=AUTO_STYLE, options=options, search=_style_search,
            description="Whose way of talking to imitate: a name from the checkpoint's identity library, "
                        "or 'auto' to infer a style from the audio itself"),
        "blend_style": StringProperty(
            name="Blend With", default="", options=options, search=_style_search,
            description="A second talking style mixed into the first by Blend Weight; empty for none"),
        # Animatable even on the scene (where ``options`` is empty, which would turn it
        # off): keying it is how a take drifts from one style to the other.
        "blend_weight": FloatProperty(
            name="Blend Weight", default=0.5, min=0.0, max=1.0, subtype="FACTOR", options=options | {"ANIMATABLE"},
            description="How much of Blend With to use: 0 is only Talking Style, 1 only Blend With; "
                        "key it (I over the field) to change the mix during the take"),
        "keep_key_poses": BoolProperty(
            name="Keep Key Poses", default=False, options=options,
            description="At frames marked with a 'Key Pose' timeline marker, the new take keeps the face "
                        "exactly as it looks now, and the motion around them leads into and out of it"),
        "seed": IntProperty(
            name="Seed", default=0, min=0, options=options,
            description="Random seed of the diffusion sampler: the same seed gives the same animation"),
        "variation": FloatProperty(
            name="Variation", default=DEFAULT_VARIATION, min=0.0, max=1.0, subtype="FACTOR", options=options,
            description="How much takes of different seeds differ: 0 gives the same take for every seed, 1 the "
                        "model's full spread, where the seed can change the mouth as much as the talking style"),
        "steps": IntProperty(
            name="Steps", default=0, min=0, max=1000, options=options,
            description="Denoising steps; 0 uses the checkpoint's own (8 for the distilled demo), as the "
                        "command line does. More is slower and rarely better"),
        "device": EnumProperty(
            name="Device", default="PREFS", options=options,
            items=[("PREFS", "Preferences", "Use the default device from the add-on preferences")] + prefs.DEVICES,
            description="Where inference runs; an unavailable GPU falls back to CPU with a warning"),
        "mode": EnumProperty(
            name="Output", default=BASIS, options=options,
            items=[(BASIS, "Keyframed Basis", "A few dozen basis shape keys keyed every frame: light, and editable "
                                              "in the Graph Editor and Dope Sheet like hand animation"),
                   (PER_FRAME, "Per-Frame Shape Keys", "One exact shape key per frame: heavy and not editable")],
            description="How the animation is written onto the mesh"),
        "basis_count": IntProperty(
            name="Basis Keys", default=32, min=1, max=256, options=options,
            description="Number of basis shape keys in Keyframed Basis mode: more is closer to the model's output"),
        "start_frame": IntProperty(
            name="Start Frame", default=1, options=options,
            description="Scene frame where the speech and the animation begin (a sound strip source starts where the strip plays)"),
        "take": StringProperty(
            name="Take", default="Take", options=options,
            description="Name prefix of the shape keys and sound strip; generating the same take again replaces it"),
        "target": EnumProperty(
            name="Target", default="FLAME", options=options,
            items=[("FLAME", "FLAME Mesh", "The head has FLAME's topology: the take is written as shape keys as it "
                                           "comes"),
                   ("MESH", "Any Head", "A head of any topology, fitted first (Fit Head): the take is carried onto "
                                        "its vertices and written as shape keys"),
                   ("SHAPE_KEYS", "Shape-Key Rig", "The head's own ARKit or viseme shape keys are keyed to follow "
                                                   "the take (fit the head first unless it has FLAME's topology)")],
            description="What the take lands on"),
        "rig_keys": StringProperty(
            name="Rig Keys", default="", options=options,
            description="With Target Shape-Key Rig: the keys to drive, comma-separated, each optionally times a "
                        "scale (jawOpen, mouthClose*0.8); empty drives every ARKit or viseme key"),
        "lower_teeth": StringProperty(
            name="Lower Teeth", default="", options=options,
            description="A separate mesh (the lower teeth, a tongue) that moves with the jaw: it gets the take "
                        "too, following the chin (on a Shape-Key Rig, its keys named like the head's are keyed "
                        "alike). Empty: none"),
        "mute_other_takes": BoolProperty(
            name="Mute Other Takes", default=True, options=options,
            description="Mute the head's other takes (shape keys and sound strips) when a take is written, so it "
                        "shows alone; off layers the new take on top of them"),
        "fit_frame_range": BoolProperty(
            name="Fit Frame Range", default=True, options=options,
            description="Set the scene's frame range to the takes that play on the head, so playback and renders "
                        "hold them and no more; off leaves the range as it is (a shot with a range of its own)"),
    }


class DiffusionTalkerSettings(bpy.types.PropertyGroup):
    __annotations__ = {
        **generation_properties(set()),
        # A pointer, not a name, so that renaming the Text keeps it chosen; operators cannot
        # hold one, so the generate operator names a Text instead (operators.py).
        "transcript_text": PointerProperty(
            type=bpy.types.Text, name="Transcript Text",
            description="A Text (Text Editor) holding what is said, for long dialogue; used instead of the "
                        "one-line Transcript"),
        "last_take": StringProperty(name="Last Take", description="Take written by the last generation"),
        "last_report": StringProperty(name="Last Result", description="What the last generation made"),
        "last_failed": BoolProperty(name="Last Failed", description="The last generation made nothing (its report says why)"),
    }


class DiffusionTalkerRuntime(bpy.types.PropertyGroup):
    """Live state of a running generation; on the window manager, so never saved."""

    running: BoolProperty(name="Running", description="A generation or a style is being made")
    progress: FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR",
                            description="Fraction of the running job done")
    status: StringProperty(name="Status", description="What the running job is doing")


def register():
    bpy.utils.register_class(DiffusionTalkerSettings)
    bpy.utils.register_class(DiffusionTalkerRuntime)
    bpy.types.Scene.diffusiontalker = PointerProperty(type=DiffusionTalkerSettings)
    bpy.types.WindowManager.diffusiontalker = PointerProperty(type=DiffusionTalkerRuntime)


def unregister():
    del bpy.types.WindowManager.diffusiontalker
    del bpy.types.Scene.diffusiontalker
    bpy.utils.unregister_class(DiffusionTalkerRuntime)
    bpy.utils.unregister_class(DiffusionTalkerSettings)
