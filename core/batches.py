"""Training windows: clips in memory, random fixed-length windows out.

Clips are short (seconds) and the datasets small (minutes to hours), so everything
is held in memory as NumPy arrays and a window is a slice: no data-loader workers,
which keeps runs deterministic by seed and cheap on two-core machines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from .audio import SAMPLE_RATE, normalise
from .errors import DiffusionTalkerError

SILENCE = "_"  # espeak-ng's pause mnemonic; the frames no timed phoneme covers
# Default share of windows whose front-end phones come from forced alignment of the
# clip's text rather than recognition of its sound (``train --aligned-share``):
# a transcript is optional at generation, so the model must know both.
ALIGNED_SHARE = 0.3


@dataclass
class Item:
    wave: np.ndarray  # (N,) float32, 16 kHz, normalised like inference audio
    motion: np.ndarray  # (T, V*3) float32 offsets in model units
    speaker: int
    phones: np.ndarray  # (T,) int64 index into the model's phoneme list per frame, -1 where unknown
    # the phonetic front-end's phones (T, phonetics.CHANNELS) from the clip's sound, and from its
    # transcript when alignment worked; None for a model that does not read them
    recognised: np.ndarray | None = None
    aligned: np.ndarray | None = None


class Batch(NamedTuple):
    wave: torch.Tensor  # (B, N)
    motion: torch.Tensor  # (B, T, D)
    mask: torch.Tensor  # (B, T) True on real frames
    voice: torch.Tensor  # (B,) who speaks the audio
    style: torch.Tensor  # (B,) whose motion the target is: the voice unless a restyle swapped it
    phones: torch.Tensor  # (B, T) frame phoneme labels, -1 where unknown or padded
    heard: torch.Tensor  # (B, T, phonetics.CHANNELS) front-end phones, zero where padded; (B, T, 0) without

    def to(self, device) -> "Batch":
        return Batch(*(t.to(device) for t in self))


def load_split(dataset: str, root, split: str):
    from . import data

    loader = {"synthtalk": data.load_synthtalk, "vocaset": data.load_vocaset, "biwi": data.load_biwi}[dataset]
    clips = loader(root, split)
    if not clips:
        raise DiffusionTalkerError(f"{root}: no '{split}' clips found for dataset {dataset}")
    return clips


def phoneme_list(clips) -> list[str]:
    """Every phoneme the clips' timings name, silence first: the labels of a model's
    phoneme head."""
    return [SILENCE] + sorted({p for c in clips for _, _, p in c.phonemes or []} - {SILENCE})


def frame_phonemes(phonemes, n_frames: int, fps: float, labels: list[str]) -> np.ndarray:
    """(n_frames,) index into ``labels`` of what is heard at each frame's time: silence
    between and around the timed phonemes, -1 for the whole clip when it has no timings
    and for phonemes ``labels`` lacks."""
    if not phonemes:
        return np.full(n_frames, -1, dtype=np.int64)
    index = {name: i for i, name in enumerate(labels)}
    out = np.full(n_frames, index[SILENCE], dtype=np.int64)
    times = np.arange(n_frames) / fps
    for start, end, name in phonemes:
        out[(times >= start) & (times < end)] = index.get(name, -1)
    return out


def clip_items(clips, speakers: list[str], motion_scale: float, phonemes: list[str] = (),
               heard: dict | None = None) -> list[Item]:
    """``phonemes``: the model's phoneme labels, for its phoneme head's targets; ``heard``:
    the front-end's phone rows of each clip by name (``clip_phones.heard_in``), for a
    model that reads them."""
    from .phonetics import features

    def frames_of(rows, clip, aligned=False):
        return None if rows is None else features(rows, clip.fps, len(clip.vertices), aligned)

    index = {name: i for i, name in enumerate(speakers)}
    return [Item(normalise(c.audio), ((c.vertices - c.template[None]) / motion_scale).reshape(len(c.vertices), -1)
                 .astype(np.float32), index[c.speaker],
                 frame_phonemes(c.phonemes if phonemes else None, len(c.vertices), c.fps, list(phonemes)),
                 *((frames_of(heard[c.name]["recognised"], c), frames_of(heard[c.name]["aligned"], c, aligned=True))
                   if heard else ()))
            for c in clips]


def window(item: Item, frames: int, fps: float, rng: np.random.Generator, aligned_share: float):
    """A random window of ``frames`` frames (the whole clip if shorter): (first frame,
    audio, motion, phoneme labels, front-end phones (frames, P), P = 0 when the item has none)."""
    start = int(rng.integers(0, max(1, len(item.motion) - frames + 1)))
    motion = item.motion[start:start + frames]
    a0 = int(round(start / fps * SAMPLE_RATE))
    a1 = a0 + int(round(len(motion) / fps * SAMPLE_RATE))
    wave = item.wave[a0:a1]
    heard = item.recognised
    if item.aligned is not None and rng.random() < aligned_share:
        heard = item.aligned
    heard = np.zeros((len(motion), 0), np.float32) if heard is None else heard[start:start + frames]
    return start, np.pad(wave, (0, a1 - a0 - len(wave))), motion, item.phones[start:start + frames], heard


def collate(windows: list[tuple[np.ndarray, ...]], voices: list[int], styles: list[int]) -> Batch:
    """(wave, motion, phoneme labels, front-end phones) windows padded to the longest."""
    T = max(len(m) for _, m, _, _ in windows)
    N = max(len(w) for w, _, _, _ in windows)
    wave = torch.zeros(len(windows), N)
    motion = torch.zeros(len(windows), T, windows[0][1].shape[1])
    mask = torch.zeros(len(windows), T, dtype=torch.bool)
    phones = torch.full((len(windows), T), -1, dtype=torch.long)
    heard = torch.zeros(len(windows), T, windows[0][3].shape[1])
    for i, (w, m, ph, h) in enumerate(windows):
        wave[i, :len(w)] = torch.from_numpy(w)
        motion[i, :len(m)] = torch.from_numpy(m)
        mask[i, :len(m)] = True
        phones[i, :len(ph)] = torch.from_numpy(ph)
        heard[i, :len(h)] = torch.from_numpy(h)
    return Batch(wave, motion, mask, torch.tensor(voices), torch.tensor(styles), phones, heard)


def batch_sampler(items: list[Item], batch_size: int, seconds: float, fps: float, seed: int, start: int = 0,
                  restyle=None, augment=None, aligned_share: float | None = None):
    """Endless batches, deterministic by (seed, step): resuming at ``start`` continues the
    same sequence a run without interruption would have seen. ``restyle(index, first
    frame, motion, speaker, rng) -> (style, motion)`` may give a window another
    speaker's motion (SynthTalk's cross-speaker targets). ``augment(wave, motion,
    phones, rng) -> (wave, motion, phones)`` may change a window's audio (augment.py);
    it draws from a generator of its own, so the windows are those of a run without it.
    ``aligned_share``: see ``ALIGNED_SHARE`` (None: that default)."""
    aligned_share = ALIGNED_SHARE if aligned_share is None else aligned_share
    frames = max(2, int(round(seconds * fps)))
    step = start
    while True:
        rng = np.random.default_rng([seed, step])
        sound = np.random.default_rng([seed, step, 1])
        chosen = rng.integers(0, len(items), batch_size)
        windows, voices, styles = [], [], []
        for i in chosen:
            first, wave, motion, phones, heard = window(items[i], frames, fps, rng, aligned_share)
            style = items[i].speaker
            if restyle is not None:
                style, motion = restyle(int(i), first, motion, style, rng)
            if augment is not None:  # the front-end's phones ride with the motion: a tempo change re-times both
                wave, both, phones = augment(wave, np.concatenate([motion, heard], axis=1), phones, sound)
                motion, heard = both[:, :motion.shape[1]], both[:, motion.shape[1]:]
            windows.append((wave, motion, phones, heard))
            voices.append(items[i].speaker)
            styles.append(style)
        yield collate(windows, voices, styles)
        step += 1
