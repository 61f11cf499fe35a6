"""Writing a SynthTalk dataset in the processed-VOCASET layout.

Each clip is made in a fresh worker process: libespeak-ng keeps state between
utterances (its output for a sentence depends on what it said before), so a clip
made in a fresh process depends only on the seed and its own parameters, and the
dataset is byte-identical whatever the number of workers. The forkserver context
gives fresh processes even when the parent has already used espeak.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DiffusionTalkerError
from ..mesh import read_mesh
from .articulation import Rig, animate, build_rig, coarticulate, upper_face
from .regions import find_regions
from .speakers import HELD_OUT, Style, select_styles
from .text import sentence

GENERATOR_VERSION = "2"  # 1: the demo checkpoint's data (10 speakers); 2: phonetics-checked, 28 speakers
FPS = 30.0
SAMPLE_RATE = 16000
LEAD_SILENCE_S, TRAIL_SILENCE_S = 0.25, 0.45  # VOCASET-like rest before and after speaking
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2].parent / "shared" / "flame" / "FLAME_sample.ply"


@dataclass(frozen=True)
class Job:
    name: str
    text: str
    style: Style
    seed: int
    out: str


def clip_name(speaker: str, number: int) -> str:
    return f"{speaker}_sentence{number:02d}"


def plan(styles: list[Style], sentences: int, seed: int) -> tuple[dict[str, list[str]], list[tuple[str, str, Style, int]]]:
    """Splits and the (name, text, style, clip seed) of every clip.

    Training speakers say sentences 1..n_train in words of their own; the held-out
    sentence numbers are the same words for every speaker of a language, so test
    clips compare identities on identical text, and the unseen speakers say only those.
    """
    if sentences < 5:
        raise DiffusionTalkerError(f"--sentences must be at least 5 to leave validation and test sentences (got {sentences})")
    n_test = max(1, round(0.1 * sentences))
    n_val = n_test
    n_train = sentences - n_val - n_test
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": [], "test_unseen": []}
    clips = []
    unseen = styles[-HELD_OUT:]
    for s_index, style in enumerate(styles):
        for number in range(1, sentences + 1):
            held = number > n_train
            if style in unseen and not held:
                continue
            key = f"shared/{number}" if held else f"{style.name}/{number}"
            name = clip_name(style.name, number)
            split = "test_unseen" if style in unseen else "train" if not held else "val" if number <= n_train + n_val else "test"
            splits[split].append(name)
            clips.append((name, sentence(seed, key, style.language), style, seed * 1000003 + s_index * 1009 + number))
    return splits, clips


def default_template() -> Path:
    if DEFAULT_TEMPLATE.is_file():
        return DEFAULT_TEMPLATE
    raise DiffusionTalkerError(f"no --template given and {DEFAULT_TEMPLATE} does not exist; "
                               "pass --template FLAME_sample.ply (with FLAME_masks.json beside it)")


def load_rig(template_path: Path) -> Rig:
    if not template_path.is_file():
        raise DiffusionTalkerError(f"template not found: {template_path}")
    masks_path = template_path.with_name("FLAME_masks.json")
    if not masks_path.is_file():
        raise DiffusionTalkerError(f"{masks_path} not found: SynthTalk needs FLAME_masks.json beside the template")
    mesh = read_mesh(template_path)
    with open(masks_path, encoding="utf-8") as fh:
        masks = json.load(fh)
    return build_rig(mesh.vertices, find_regions(mesh.vertices, mesh.faces, masks))


def _proportioned(rig: Rig, style: Style, points: np.ndarray) -> np.ndarray:
    """`points` of the template's face on `style`'s face: stretched a few per cent about the centre."""
    centre = 0.5 * (rig.template.min(0) + rig.template.max(0))
    return (centre + (points - centre) * np.asarray(style.face_scale)).astype(np.float32)


def neutral_of(rig: Rig, style: Style) -> np.ndarray:
    """A speaker's own neutral face."""
    return _proportioned(rig, style, rig.template)


def make_clip(rig: Rig, text: str, style: Style, seed: int):
    """(audio at 16 kHz, (T, V, 3) vertices, phonemes) for one sentence."""
    import ctypes

    import soxr

    from .espeak import speak

    ctypes.CDLL(None).srand(seed & 0x7FFFFFFF)  # espeak draws noise from libc's rand()
    utt = speak(text, style.voice, style.rate, style.pitch, style.pitch_range, style.wordgap)
    audio = soxr.resample(utt.audio, utt.sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    audio = np.concatenate([np.zeros(int(LEAD_SILENCE_S * SAMPLE_RATE), np.float32), audio,
                            np.zeros(int(TRAIL_SILENCE_S * SAMPLE_RATE), np.float32)])
    phonemes = [(s + LEAD_SILENCE_S, e + LEAD_SILENCE_S, p) for s, e, p in utt.phonemes]
    n_frames = int(round(len(audio) / SAMPLE_RATE * FPS))
    upper = upper_face(audio, SAMPLE_RATE, phonemes, n_frames, FPS, style, np.random.default_rng(seed))
    return audio, speaker_frames(rig, style, phonemes, len(audio) / SAMPLE_RATE, n_frames, upper), phonemes


def speaker_frames(rig: Rig, style: Style, phonemes, duration: float, n_frames: int,
                   upper: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """(T, V, 3) float32: `style`'s own face articulating `phonemes`. `upper` holds the
    brow and blink curves; without it the upper face stays still (the mouth is unaffected)."""
    controls = coarticulate(phonemes, duration, n_frames, FPS, style)
    controls.update(upper or {"brow": np.zeros(n_frames), "blink": np.zeros(n_frames)})
    return _proportioned(rig, style, animate(rig, controls, style))


_RIG: Rig | None = None


def _init_worker(rig: Rig) -> None:
    global _RIG
    _RIG = rig


def _run_job(job: Job) -> tuple[str, float, int]:
    import soundfile as sf

    audio, frames, phonemes = make_clip(_RIG, job.text, job.style, job.seed)
    out = Path(job.out)
    moving = _RIG.moving
    offsets = frames[:, moving] - neutral_of(_RIG, job.style)[moving]
    np.save(out / "motion" / f"{job.name}.npy", offsets.astype(np.float16))
    sf.write(out / "wav" / f"{job.name}.wav", audio, SAMPLE_RATE, subtype="PCM_16")
    with open(out / "phonemes" / f"{job.name}.tsv", "w", encoding="utf-8") as fh:
        fh.write("start\tend\tphoneme\n")
        fh.writelines(f"{s:.3f}\t{e:.3f}\t{p}\n" for s, e, p in phonemes)
    return job.name, len(audio) / SAMPLE_RATE, len(frames)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez stamps the current time into the zip; this one is byte-identical per content."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for key, value in arrays.items():
            buf = io.BytesIO()
            np.save(buf, value, allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue())


def build_dataset(out: str | os.PathLike, speakers: int = 28, sentences: int = 40, seed: int = 0,
                  template: str | os.PathLike | None = None, workers: int | None = None,
                  progress: bool = True) -> dict:
    """Write the dataset under `out` and return its manifest (also written as synthtalk.json).
    A run that fails or is cancelled removes the folder if it made it, so no half-written
    dataset is left to be mistaken for one."""
    styles = select_styles(speakers)
    template_path = Path(template) if template else default_template()
    rig = load_rig(template_path)
    splits, clips = plan(styles, sentences, seed)
    out = Path(out)
    made = not out.exists()
    try:
        return _write(out, styles, rig, template_path, splits, clips, seed, workers, progress)
    except BaseException:
        if made:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _write(out: Path, styles, rig, template_path: Path, splits, clips, seed: int, workers: int | None,
           progress: bool) -> dict:
    from tqdm import tqdm

    for sub in ("motion", "wav", "phonemes"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    jobs = [Job(name, text, style, clip_seed, str(out)) for name, text, style, clip_seed in clips]
    workers = workers or min(2, os.cpu_count() or 1)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["numpy", "soxr", "soundfile"])
    results = []
    with ctx.Pool(workers, initializer=_init_worker, initargs=(rig,), maxtasksperchild=1) as pool:
        for result in tqdm(pool.imap(_run_job, jobs), total=len(jobs), desc="SynthTalk clips",
                           file=sys.stderr, disable=not progress):
            results.append(result)
    write_npz(out / "templates.npz", {s.name: neutral_of(rig, s) for s in styles})
    np.save(out / "moving.npy", rig.moving)
    texts = {name: text for name, text, _, _ in clips}
    manifest = {
        "dataset": "SynthTalk",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "fps": FPS,
        "sample_rate": SAMPLE_RATE,
        "template": template_path.name,
        "train_speakers": [s.name for s in styles[:-HELD_OUT]],
        "unseen_speakers": [s.name for s in styles[-HELD_OUT:]],
        "speakers": {s.name: s.as_json() for s in styles},
        "splits": splits,
        "clips": {name: {"text": texts[name], "seconds": round(sec, 4), "frames": frames}
                  for name, sec, frames in results},
    }
    with open(out / "synthtalk.json", "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1)
    return manifest
