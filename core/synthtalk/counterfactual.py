"""What any SynthTalk speaker would have done with a clip's exact audio.

Style accuracy asks whether a take made with speaker k's identity moves like speaker k.
On captured data the nearest available truth is speaker k saying the same sentence, but
at k's own pace and with k's own pauses, so it also differs in everything the audio
dictates: against it, even the generator that made SynthTalk scores only 68.8% on its
test split (``bench/style_metric_ceiling.py``), which no model can beat. SynthTalk is made by a
known program from stored parameters, so the exact truth exists: speaker k's
articulation driven by this clip's own phoneme timings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import synthtalk_manifest
from ..errors import DiffusionTalkerError
from .build import GENERATOR_VERSION, SAMPLE_RATE, default_template, load_rig, neutral_of, speaker_frames
from .speakers import Style


class Counterfactuals:
    def __init__(self, root, template: str | Path | None = None):
        try:
            manifest = synthtalk_manifest(root)
        except ValueError as exc:  # not JSON
            raise DiffusionTalkerError(f"{root}/synthtalk.json: {exc}") from exc
        if manifest.get("generator_version") != GENERATOR_VERSION or "speakers" not in manifest:
            raise DiffusionTalkerError(f"{root} was not written by SynthTalk generator version {GENERATOR_VERSION}")
        template = Path(template) if template else default_template()
        if template.name != manifest.get("template"):
            raise DiffusionTalkerError(f"{root} was made on {manifest.get('template')}, not on {template.name}")
        self.rig = load_rig(template)
        self.styles = {name: Style(**{**params, "face_scale": tuple(params["face_scale"])})
                       for name, params in manifest["speakers"].items()}

    @property
    def speakers(self) -> list[str]:
        return list(self.styles)

    def offsets(self, clip, speaker: str) -> np.ndarray:
        """(T, V, 3) offsets from `speaker`'s neutral face, timed by `clip`'s phonemes.
        The mouth is the truth (to the millisecond rounding of the stored timings); brows
        and lids stay still, since blinks are random draws: use it for lip regions only."""
        if not clip.phonemes:
            raise DiffusionTalkerError(f"{clip.name} has no phoneme timings")
        style = self.styles[speaker]
        frames = speaker_frames(self.rig, style, clip.phonemes, len(clip.audio) / SAMPLE_RATE, len(clip.vertices))
        return frames - neutral_of(self.rig, style)[None]
