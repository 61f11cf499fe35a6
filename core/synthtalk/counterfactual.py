"""What any SynthTalk speaker would have done with a clip's exact audio.

Style accuracy asks whether a take made with speaker k's identity moves like speaker k.
On captured data the nearest available truth is speaker k saying the same sentence, but
at k's own pace and with k's own pauses, so it also differs in everything the audio
dictates: against it, even the generator that made SynthTalk scores only 68.8% on its
test split (``research/style_metric_ceiling.py``), which no model can beat. SynthTalk is made by a
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
        return self.articulate(speaker, clip.phonemes, len(clip.audio) / SAMPLE_RATE, len(clip.vertices))

    def articulate(self, speaker: str, phonemes, seconds: float, frames: int) -> np.ndarray:
        style = self.styles[speaker]
        moved = speaker_frames(self.rig, style, phonemes, seconds, frames)
        return moved - neutral_of(self.rig, style)[None]


class CrossSpeakerTargets:
    """Training windows whose target is another training speaker's motion for the same audio.

    In recorded data a speaker's identity and voice always come together, so a network
    may learn a style from either; asked for speaker k on speaker j's voice (what an
    animator does, and 7 of every 8 takes style accuracy judges) it has never seen such
    a pair. SynthTalk can make the pair: k's articulation of j's phoneme timings. The
    recording's upper face (brows, blinks) is kept; only the speech-driven motion is
    swapped. A ``batches.batch_sampler`` restyle; possible on SynthTalk only.

    Articulating a clip costs about as much as a training step, so each (clip, speaker)
    is made once and kept: only the vertices that move (about a fifth of FLAME's), in
    float16 (under 0.01 mm of rounding), about 1.5 GB for the demo's 256 clips x 8 speakers.
    """

    def __init__(self, truth: Counterfactuals, clips, speakers: list[str], motion_scale: float, share: float):
        if not 0.0 <= share <= 1.0:
            raise DiffusionTalkerError(f"the share of cross-speaker windows must be within 0-1 (got {share})")
        if len(speakers) < 2:
            raise DiffusionTalkerError("cross-speaker targets need at least two training speakers")
        unknown = set(speakers) - set(truth.speakers)
        if unknown:
            raise DiffusionTalkerError(f"speakers {sorted(unknown)} are not in this SynthTalk dataset's manifest")
        missing = [c.name for c in clips if not c.phonemes]
        if missing:
            raise DiffusionTalkerError(f"cross-speaker targets need phoneme timings; {missing[0]} has none")
        # what articulate() needs of a clip; the vertices themselves are not kept
        self.timings = [(c.speaker, c.phonemes, len(c.audio) / SAMPLE_RATE, len(c.vertices)) for c in clips]
        self.truth, self.speakers, self.scale, self.share = truth, list(speakers), motion_scale, share
        self.made: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}

    def _motion(self, index: int, speaker: str) -> tuple[np.ndarray, np.ndarray]:
        """(moving vertex indices, their (T, n, 3) offsets in model units) of speaker on clip index."""
        if (index, speaker) not in self.made:
            _, phonemes, seconds, frames = self.timings[index]
            offsets = self.truth.articulate(speaker, phonemes, seconds, frames)
            moving = np.flatnonzero(np.abs(offsets).max(axis=(0, 2)) > 0)
            self.made[index, speaker] = moving, (offsets[:, moving] / self.scale).astype(np.float16)
        return self.made[index, speaker]

    def __call__(self, index: int, first: int, motion: np.ndarray, speaker: int, rng: np.random.Generator):
        if rng.random() >= self.share:
            return speaker, motion
        other = int(rng.integers(len(self.speakers) - 1))
        other += other >= speaker
        out = motion.reshape(len(motion), -1, 3).copy()
        for name, sign in ((self.speakers[other], 1.0), (self.timings[index][0], -1.0)):
            moving, offsets = self._motion(index, name)
            out[:, moving] += sign * offsets[first:first + len(motion)].astype(np.float32)
        return other, out.reshape(len(motion), -1)
