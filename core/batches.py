"""Training windows: clips in memory, random fixed-length windows out.

Clips are short (seconds) and the datasets small (minutes to hours), so everything
is held in memory as NumPy arrays and a window is a slice: no data-loader workers,
which keeps runs deterministic by seed and cheap on two-core machines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .audio import SAMPLE_RATE, normalise
from .errors import DiffusionTalkerError


@dataclass
class Item:
    wave: np.ndarray  # (N,) float32, 16 kHz, normalised like inference audio
    motion: np.ndarray  # (T, V*3) float32 offsets in model units
    speaker: int


def load_split(dataset: str, root, split: str):
    from . import data

    loader = {"synthtalk": data.load_synthtalk, "vocaset": data.load_vocaset, "biwi": data.load_biwi}[dataset]
    clips = loader(root, split)
    if not clips:
        raise DiffusionTalkerError(f"{root}: no '{split}' clips found for dataset {dataset}")
    return clips


def clip_items(clips, speakers: list[str], motion_scale: float) -> list[Item]:
    index = {name: i for i, name in enumerate(speakers)}
    return [Item(normalise(c.audio), ((c.vertices - c.template[None]) / motion_scale).reshape(len(c.vertices), -1)
                 .astype(np.float32), index[c.speaker]) for c in clips]


def window(item: Item, frames: int, fps: float, rng: np.random.Generator):
    """A random window of ``frames`` frames (the whole clip if shorter): (first frame,
    audio, motion)."""
    start = int(rng.integers(0, max(1, len(item.motion) - frames + 1)))
    motion = item.motion[start:start + frames]
    a0 = int(round(start / fps * SAMPLE_RATE))
    a1 = a0 + int(round(len(motion) / fps * SAMPLE_RATE))
    wave = item.wave[a0:a1]
    return start, np.pad(wave, (0, a1 - a0 - len(wave))), motion


def collate(pairs: list[tuple[np.ndarray, np.ndarray]], voices: list[int], styles: list[int]):
    """Pad to the longest window: (wave (B,N), motion (B,T,D), mask (B,T), voice (B,), style (B,)).
    ``voice`` is who speaks the audio, ``style`` whose motion the target is: the same
    speaker unless a ``restyle`` swapped the target."""
    T = max(len(m) for _, m in pairs)
    N = max(len(w) for w, _ in pairs)
    wave = torch.zeros(len(pairs), N)
    motion = torch.zeros(len(pairs), T, pairs[0][1].shape[1])
    mask = torch.zeros(len(pairs), T, dtype=torch.bool)
    for i, (w, m) in enumerate(pairs):
        wave[i, :len(w)] = torch.from_numpy(w)
        motion[i, :len(m)] = torch.from_numpy(m)
        mask[i, :len(m)] = True
    return wave, motion, mask, torch.tensor(voices), torch.tensor(styles)


def batch_sampler(items: list[Item], batch_size: int, seconds: float, fps: float, seed: int, start: int = 0,
                  restyle=None):
    """Endless batches, deterministic by (seed, step): resuming at ``start`` continues the
    same sequence a run without interruption would have seen. ``restyle(index, first
    frame, motion, speaker, rng) -> (style, motion)`` may give a window another
    speaker's motion (SynthTalk's cross-speaker targets)."""
    frames = max(2, int(round(seconds * fps)))
    step = start
    while True:
        rng = np.random.default_rng([seed, step])
        chosen = rng.integers(0, len(items), batch_size)
        pairs, voices, styles = [], [], []
        for i in chosen:
            first, wave, motion = window(items[i], frames, fps, rng)
            style = items[i].speaker
            if restyle is not None:
                style, motion = restyle(int(i), first, motion, style, rng)
            pairs.append((wave, motion))
            voices.append(items[i].speaker)
            styles.append(style)
        yield collate(pairs, voices, styles)
        step += 1
