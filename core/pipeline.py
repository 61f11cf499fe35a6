"""Audio in, a take out: the one entry point the CLI and the Blender add-on share.

``Generator`` owns a loaded checkpoint and turns speech into per-frame vertex
offsets from the neutral face. It knows nothing about files it writes or meshes it
animates; the CLI and the add-on do that, each in its own way.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .argtypes import DEFAULT_VARIATION
from .audio import DEFAULT_MAX_SECONDS, SAMPLE_RATE, load_audio, num_frames
from .checkpoint import BUNDLED, load_checkpoint, paths_of
from .device import resolve_device
from .diffusion import GaussianDiffusion, SeedNoise
from .errors import DiffusionTalkerError, restated
from .factored import Factored
from .identity import nearest_identity, style_index
from .library import check_library_fits, load_library

AUTO = "auto"
WINDOW_SECONDS = 20.0  # longer audio is generated in overlapping windows of this length
OVERLAP_SECONDS = 2.0
CONTEXT = 15  # frames of audio context beyond a window's edges


@dataclass
class Take:
    offsets: np.ndarray  # (T, V, 3) float32, metres, from the neutral face
    fps: float
    style: str  # the identity used (for "auto": the one found)
    seed: int
    steps: int
    variation: float
    audio_seconds: float
    compute_seconds: float
    blend_style: str = ""  # the identity blended in (for "auto" or an index: the one it was), "" for none


@dataclass
class Generator:
    model: torch.nn.Module
    card: dict
    device: str
    checkpoint_path: str
    warnings: list[str] = field(default_factory=list)
    library: dict[str, torch.Tensor] = field(default_factory=dict)  # personalised identities
    _heard_last: tuple = ()  # (key, phones) of the last recording heard()

    @classmethod
    def load(cls, checkpoint: str | os.PathLike | None = None, device: str = "auto") -> "Generator":
        resolved, notes = resolve_device(device)  # said once, by whoever shows ``warnings`` (CLI, add-on)
        path = BUNDLED if checkpoint is None else checkpoint
        model, card = load_checkpoint(path, resolved)
        return cls(model, card, resolved, str(paths_of(path)[1]), notes)

    def said_warnings(self) -> list[str]:
        """The warnings since the last call, taken off the list: Blender keeps one generator
        for every take, and a word guessed, or a transcript's words left out, in one take
        must not be said again after every later one."""
        said, self.warnings = self.warnings, []
        return said

    @property
    def config(self) -> dict:
        return self.model.config

    @property
    def fps(self) -> float:
        return float(self.config["fps"])

    @property
    def num_vertices(self) -> int:
        return int(self.config["num_vertices"])

    @property
    def identity_names(self) -> list[str]:
        return list(self.model.bank.names) + list(self.library)

    @property
    def default_steps(self) -> int:
        """The checkpoint's own sampler; the regression baseline is a single pass."""
        return 1 if self.config["objective"] == "regression" else int(self.config["sampling_steps"])

    def checkpoint_id(self) -> str:
        """'name sha256' of the tensor file, recorded in every output for provenance (the
        hash loading verified, so no file is read again)."""
        return f"{paths_of(self.checkpoint_path)[0].name} sha256:{self.card['sha256']}"

    def add_library(self, path) -> None:
        """Make the identities of a library that ``new-style`` made for this checkpoint
        selectable (``check_library_fits``)."""
        names, embeddings, doc = load_library(path)
        check_library_fits(path, doc, self.card["sha256"])
        taken = [n for n in names if n in self.model.bank.names]
        if taken:  # picked by that name, which style would be meant?
            raise DiffusionTalkerError(f"{paths_of(path)[1]} names {', '.join(taken)}, a style of the checkpoint; "
                                       "rename it there")
        for name, row in zip(names, np.asarray(embeddings, dtype=np.float32)):
            self.library[name] = torch.from_numpy(row).to(self.device)

    def heard(self, wave: np.ndarray, transcript: str | None = None, phones=None, cancel=None,
              hearing=None) -> np.ndarray | None:
        """The front-end's phones of 16 kHz audio, (frames, phonetics.CHANNELS) at the model's fps:
        ``phones`` when the caller timed them already (``phonetics.timed``'s ``Timed``, same ``transcript``), else aligned
        to ``transcript`` when one is given, recognised otherwise; None for a model that
        does not read phones (a transcript then changes nothing). ``cancel`` and ``hearing``
        (its progress): ``phonetics.timed``'s ``cancel`` and ``progress``."""
        if not self.model.reads_phones:
            return None
        import hashlib

        from . import phonetics

        frames = num_frames(len(wave), self.fps)
        aligned = transcript is not None
        if phones is not None:
            return phones.features(self.fps, frames, aligned)
        # the last answer is kept: every style or seed of one recording (the style
        # browser, evaluation, takes) hears the same phones, and recognition costs more
        # than an 8-step take
        key = (hashlib.sha1(np.ascontiguousarray(wave).tobytes()).hexdigest(), transcript)
        if self._heard_last[:1] != (key,):
            timed = phonetics.timed(wave, transcript, warn=self.warnings.append, cancel=cancel, progress=hearing)
            self._heard_last = (key, timed.features(self.fps, frames, aligned))
        return self._heard_last[1]

    def features(self, wave: np.ndarray, start: int = 0, stop: int | None = None,
                 heard: np.ndarray | None = None) -> torch.Tensor:
        """Audio features (1, frames, d) of 16 kHz audio for frames [start, stop), encoded
        with up to CONTEXT frames of audio on either side so a window's edges hear what
        comes before and after. ``heard``: the whole audio's front-end phones
        (``heard()``), worked out here when the model reads them and none are given."""
        total = num_frames(len(wave), self.fps)
        stop = total if stop is None else stop
        a, b = max(0, start - CONTEXT), min(total, stop + CONTEXT)
        s0, s1 = (int(round(f / self.fps * SAMPLE_RATE)) for f in (a, b))
        chunk = torch.from_numpy(np.ascontiguousarray(wave[s0:s1]))[None].to(self.device)
        if heard is None and self.model.reads_phones:
            heard = self.heard(wave)
        phones = None if heard is None else torch.from_numpy(heard[a:b])[None].to(self.device)
        return self.model.encode_audio(chunk, b - a, heard=phones)[:, start - a: stop - a]

    def voice_style(self, wave: np.ndarray, frames: int | None = None, heard: np.ndarray | None = None):
        """The personaliser's embedding (1, d_identity) of the voice in the first ``frames``
        frames of 16 kHz audio (all of it by default)."""
        frames = num_frames(len(wave), self.fps) if frames is None else frames
        features = self.features(wave, 0, frames, heard)
        chunk = torch.from_numpy(np.ascontiguousarray(wave[:int(round(frames / self.fps * SAMPLE_RATE))]))
        return self.model.personalise(self.model.voice_features(chunk[None].to(self.device), frames, features))

    def _nearest_style(self, wave: np.ndarray, heard: np.ndarray | None = None) -> int:
        frames = min(num_frames(len(wave), self.fps), int(WINDOW_SECONDS * self.fps))
        return int(nearest_identity(self.voice_style(wave, frames, heard), self.model.bank.embeddings)[0])

    def _identity(self, style, wave: np.ndarray, heard: np.ndarray | None = None) -> tuple[str, torch.Tensor]:
        if isinstance(style, (np.ndarray, torch.Tensor)):  # an embedding made by the caller
            vector = torch.as_tensor(style, dtype=torch.float32, device=self.device).reshape(-1)
            if len(vector) != self.config["d_identity"]:
                raise DiffusionTalkerError(f"a style vector needs {self.config['d_identity']} values, "
                                           f"got {len(vector)}")
            return "custom", vector
        if isinstance(style, str) and style.lower() == AUTO:
            index = self._nearest_style(wave, heard)
        else:  # the checkpoint's styles, then the library's, by name or by index
            index = style_index(style, self.identity_names)
            name = self.identity_names[index]
            if name in self.library:
                return name, self.library[name]
        return self.identity_names[index], self.model.bank.embeddings[index]

    def guidance(self, guidance=None) -> tuple[float, float]:
        """The (audio, style) guidance scales a take runs at (``TalkerModel.guidance``)."""
        return self.model.guidance(guidance)

    def check_options(self, style: str | int = AUTO, steps: int | None = None, variation: float = DEFAULT_VARIATION,
                      blend_style: str | int | None = None, guidance=None) -> int:
        """Refuse what this checkpoint cannot take before the audio is heard, since hearing
        minutes of speech takes as long; returns the steps to run."""
        self.guidance(guidance)
        steps = self.default_steps if steps is None else int(steps)
        if not 0.0 <= float(variation) <= 1.0:
            raise DiffusionTalkerError(f"variation must be between 0 and 1, got {variation}")
        if not 1 <= steps <= self.config["diffusion_steps"]:
            raise DiffusionTalkerError(f"steps must be between 1 and {self.config['diffusion_steps']}, got {steps}")
        for named, which in ((style, ""), (blend_style, "blend style: ")):
            if isinstance(named, (str, int)) and str(named).lower() != AUTO:
                try:
                    style_index(named, self.identity_names)
                except DiffusionTalkerError as exc:  # say which of the two styles it is
                    raise restated(exc, f"{which}{exc}") from None
        return steps

    @torch.no_grad()
    def find_style(self, audio, sample_rate: int | None = None) -> int:
        """Index of the library identity whose embedding is closest to this voice's
        personaliser embedding (what ``style="auto"`` uses)."""
        return self._nearest_style(load_audio(audio, sample_rate))

    @torch.no_grad()
    def generate(self, audio, sample_rate: int | None = None, style: str | int = AUTO, seed: int = 0,
                 steps: int | None = None, progress=None, cancel=None, max_seconds: float = DEFAULT_MAX_SECONDS,
                 blend_style: str | int | None = None, blend=0.0, key_poses: dict | None = None,
                 key_radius: int = 6, span: tuple[float, float] | None = None,
                 transcript: str | None = None, phones=None, variation: float = DEFAULT_VARIATION,
                 hearing=None, guidance=None) -> Take:
        """Speech -> Take.

        ``style`` is an identity name, its index, "auto", or an embedding vector.
        ``steps`` None uses the checkpoint's own sampler (8 for the distilled student);
        ``steps`` equal to the training step count runs the full ancestral chain, fewer
        run deterministic DDIM on that grid. ``blend_style`` mixes a second identity in
        with weight ``blend`` (a number, or per-frame weights at the model's fps).
        ``key_poses`` maps model frames to (V, 3) offsets that the take must pass
        through (diffusion in-painting, eased over ``key_radius`` frames). Audio longer
        than WINDOW_SECONDS is generated in overlapping windows, each in-painted with
        the end of the one before, so memory stays flat and no seam shows.
        ``span`` (start, end) in seconds animates only that part of an audio file.
        ``transcript`` (what is said) times the phones by forced alignment instead of
        recognition, for a checkpoint that reads them; other checkpoints ignore it.
        ``phones``: the recording's timed phones, already worked out (``phonetics.timed``
        on the same audio and span), which then take the place of both.
        ``variation`` (0-1) is how far takes of different seeds fall from each other
        (``SeedNoise``): 0 gives one take for every seed, 1 the model's full spread;
        lower values let the style, not the seed, decide how the mouth moves.
        ``guidance`` (audio, style): classifier-free guidance scales (``denoiser.forward``),
        None for the checkpoint's own; above 1 each follows its condition more closely.
        ``progress(done, total)`` hears the denoising steps; ``hearing(what, seconds done,
        seconds in all)`` the phonetic front-end before them (``phonetics.timed``), which
        ``cancel`` stops too.
        """
        started = time.perf_counter()
        wave = load_audio(audio, sample_rate, max_seconds=max_seconds, span=span)
        frames = num_frames(len(wave), self.fps)
        steps = self.check_options(style, steps, variation, blend_style, guidance)
        guidance = self.guidance(guidance)
        diffusion = GaussianDiffusion(self.config["diffusion_steps"])
        heard = self.heard(wave, transcript, phones, cancel, hearing)
        name, identity = self._identity(style, wave, heard)
        track, blend_name = identity[None].expand(frames, -1), ""
        if blend_style is not None:
            weights = torch.from_numpy(frame_weights(blend, frames)).to(self.device)[:, None]
            blend_name, second = self._identity(blend_style, wave, heard)
            track = torch.lerp(track, second[None], weights)
        poses = self._key_pose_targets(key_poses or {}, frames)

        regression = self.config["objective"] == "regression"
        if regression:
            steps = 1
        ancestral = steps == diffusion.num_steps and not self.config["distilled"] and not regression
        scale = self.config["motion_scale"]
        # The take is the only buffer that grows with the audio: one float32 array, filled
        # window by window, so long audio costs its output and a window's working memory.
        motion = np.zeros((frames, self.num_vertices * 3), np.float32)
        noise = SeedNoise(int(seed), float(variation))
        spans = windows(frames, int(WINDOW_SECONDS * self.fps), int(OVERLAP_SECONDS * self.fps))
        for w, (a, b) in enumerate(spans):
            features = self.features(wave, a, b, heard)
            ident = track[a:b][None]
            k_known, k_weight = self._window_targets(poses, a, b, key_radius)
            if w > 0:  # continue from the previous window: its overlapping frames are known
                overlap = spans[w - 1][1] - a
                k_known[:overlap] = torch.from_numpy(motion[a:a + overlap] / scale).to(self.device)
                k_weight[:overlap] = torch.maximum(k_weight[:overlap], ease(overlap, self.device)[:, None])

            def model_fn(x_t, t, features=features, ident=ident, k_known=k_known[None], k_weight=k_weight[None]):
                return self.model.denoise(x_t, t, features, ident, guidance=guidance).lerp(k_known, k_weight)

            def step_progress(done, total, w=w):
                if progress:
                    progress(w * total + done, total * len(spans))

            shape = (1, b - a, self.num_vertices * 3)
            if regression:  # the deterministic baseline: one pass, no noise
                x = model_fn(torch.zeros(shape, device=self.device), torch.zeros(1, dtype=torch.long,
                                                                                 device=self.device))
                step_progress(1, 1)
            else:  # DDIM keeps the motion factored (factored.py); the ancestral chain adds new noise each step
                x = diffusion.sample(model_fn, shape, steps, noise if ancestral else factored(noise), self.device,
                                     step_progress, cancel, ancestral)
                x = x.dense() if isinstance(x, Factored) else x
            motion[a:b] = (x[0] * scale).float().cpu().numpy()
        return Take(motion.reshape(frames, -1, 3), self.fps, name, int(seed), steps, float(variation),
                    len(wave) / SAMPLE_RATE, time.perf_counter() - started, blend_name)

    def _key_pose_targets(self, key_poses: dict, frames: int) -> dict[int, torch.Tensor]:
        """Checked key poses: model frame -> (V*3,) target in model units."""
        targets = {}
        for frame, pose in sorted(key_poses.items()):
            frame = int(frame)
            if not 0 <= frame < frames:
                raise DiffusionTalkerError(f"key pose at frame {frame} is outside the take (0-{frames - 1})")
            pose = np.asarray(pose, dtype=np.float32)
            if pose.shape != (self.num_vertices, 3):
                raise DiffusionTalkerError(f"key pose at frame {frame} has shape {pose.shape}, "
                                           f"expected ({self.num_vertices}, 3)")
            targets[frame] = torch.from_numpy(pose.reshape(-1) / self.config["motion_scale"]).to(self.device)
        return targets

    def _window_targets(self, targets: dict[int, torch.Tensor], a: int, b: int, radius: int):
        """(known (b-a, V*3), weight (b-a, 1)) for frames [a, b): 1 at a key frame, easing to
        0 ``radius`` frames away, so the motion settles into the pose instead of jumping.
        Built per window, so a long take without key poses holds no take-sized buffer."""
        known = torch.zeros(b - a, self.num_vertices * 3, device=self.device)
        weight = torch.zeros(b - a, 1, device=self.device)
        for frame, target in targets.items():
            lo, hi = max(a, frame - radius), min(b, frame + radius + 1)
            if lo >= hi:
                continue
            dist = torch.arange(lo, hi, device=self.device) - frame
            w = 0.5 * (1 + torch.cos(torch.pi * dist.abs().float() / (radius + 1)))[:, None]
            take = w > weight[lo - a:hi - a]  # the nearer key pose wins where two overlap
            known[lo - a:hi - a] = torch.where(take, target[None], known[lo - a:hi - a])
            weight[lo - a:hi - a] = torch.where(take, w, weight[lo - a:hi - a])
        return known, weight


def windows(frames: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Spans [a, b) of at most ``size`` frames covering ``frames``, consecutive ones
    sharing ``overlap`` frames."""
    if frames <= size:
        return [(0, frames)]
    spans, a = [], 0
    while True:
        b = min(frames, a + size)
        spans.append((a, b))
        if b == frames:
            return spans
        a = b - overlap


def ease(n: int, device) -> torch.Tensor:
    """n weights going 1 -> 0: hold the first half, then a cosine fade."""
    hold = n // 2
    fade = 0.5 * (1 + torch.cos(torch.pi * (torch.arange(n - hold, device=device) + 1) / (n - hold + 1)))
    return torch.cat([torch.ones(hold, device=device), fade])


def frame_weights(blend, frames: int) -> np.ndarray:
    """A blend weight per frame from a number, or from per-frame values (the last one
    held past their end, as an animation curve holds its last key), clipped to [0, 1]."""
    values = np.atleast_1d(np.asarray(blend, dtype=np.float32))[:frames]
    values = np.concatenate([values, np.full(frames - values.size, values[-1], np.float32)])
    return np.clip(values, 0.0, 1.0)


def factored(noise: SeedNoise):
    """``noise`` whose draws start a ``Factored`` chain."""
    return lambda shape, device="cpu": Factored.of(noise(shape, device))
