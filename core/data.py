"""Training data: one sample structure for SynthTalk, processed VOCASET and BIWI.

The three datasets share FaceFormer's processed layout (``vertices_npy/``, ``wav/``,
templates), so one reader serves all; they differ in frame rate, subjects and splits.
VOCASET and BIWI ship their templates as pickles, which can run code when loaded,
so they go through a restricted unpickler that admits NumPy arrays and plain
builtins only. Our own data never uses pickles.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .argtypes import positive_int, random_seed
from .audio import load_audio
from .errors import DiffusionTalkerError

# FaceFormer's splits; the VOCASET training order is also the one-hot identity order.
VOCASET_SPLITS = {
    "train": (["FaceTalk_170728_03272_TA", "FaceTalk_170904_00128_TA", "FaceTalk_170725_00137_TA",
               "FaceTalk_170915_00223_TA", "FaceTalk_170811_03274_TA", "FaceTalk_170913_03279_TA",
               "FaceTalk_170904_03276_TA", "FaceTalk_170912_03278_TA"], range(1, 41)),
    "val": (["FaceTalk_170811_03275_TA", "FaceTalk_170908_03277_TA"], range(21, 41)),
    "test": (["FaceTalk_170809_00138_TA", "FaceTalk_170731_00024_TA"], range(21, 41)),
}
_BIWI_SEEN = ["F2", "F3", "F4", "M3", "M4", "M5"]
BIWI_SPLITS = {
    "train": (_BIWI_SEEN, range(1, 33)),
    "val": (_BIWI_SEEN, range(33, 37)),
    "test_a": (_BIWI_SEEN, range(37, 41)),
    "test_b": (["F1", "F5", "F6", "F7", "F8", "M1", "M2", "M6"], range(37, 41)),
}


class DataError(DiffusionTalkerError):
    """A dataset folder that is missing files, malformed, or holds a refused pickle."""


@dataclass
class Clip:
    name: str               # e.g. "spk03_sentence12"
    speaker: str            # e.g. "spk03"
    audio: np.ndarray       # float32 mono, 16 kHz, level-normalised like inference audio
    vertices: np.ndarray    # (T, V, 3) float32, absolute positions at `fps`
    template: np.ndarray    # (V, 3) float32 neutral of this speaker
    fps: float              # 30 for SynthTalk/VOCASET, 25 for BIWI
    phonemes: list[tuple[float, float, str]] | None   # (start_s, end_s, phoneme) or None


class _ArraysOnly(pickle.Unpickler):
    """Rebuilds NumPy arrays and builtin containers; any other class is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
        *(("builtins", n) for n in ("dict", "list", "tuple", "set", "frozenset", "bytes", "bytearray",
                                    "str", "int", "float", "complex", "bool")),
        *(("__builtin__", n) for n in ("dict", "list", "tuple", "set", "frozenset", "str", "int", "float",
                                       "bool", "unicode")),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused {module}.{name}")


def load_pickle(path: str | os.PathLike):
    """Load a dataset pickle (Python 2 ones too) without letting it run code."""
    try:
        with open(path, "rb") as fh:
            return _ArraysOnly(io.BytesIO(fh.read()), encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"{path} not found") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DataError(f"{path}: not loaded ({exc}); only NumPy arrays and builtins are accepted") from None


def _read_phonemes(path: Path) -> list[tuple[float, float, str]] | None:
    if not path.is_file():
        return None
    rows = path.read_text(encoding="utf-8").splitlines()[1:]
    return [(float(s), float(e), p) for s, e, p in (row.split("\t") for row in rows if row)]


def _read_clip(root: Path, name: str, speaker: str, template: np.ndarray, fps: float, step: int = 1) -> Clip:
    npy = root / "vertices_npy" / f"{name}.npy"
    flat = np.load(npy, allow_pickle=False)
    if flat.ndim != 2 or flat.shape[1] != template.size:
        raise DataError(f"{npy}: shape {flat.shape} does not fit a {len(template)}-vertex template "
                        f"(expected (T, {template.size}))")
    vertices = np.ascontiguousarray(flat[::step].reshape(-1, len(template), 3), dtype=np.float32)
    return Clip(name, speaker, load_audio(root / "wav" / f"{name}.wav", max_seconds=float("inf")), vertices, template, fps,
                _read_phonemes(root / "phonemes" / f"{name}.tsv"))


def _check_split(split: str, known) -> None:
    if split not in known:
        raise DataError(f"unknown split {split!r} (choose from {', '.join(known)})")


def _root(root: str | os.PathLike) -> Path:
    path = Path(root)
    if not (path / "vertices_npy").is_dir():
        raise DataError(f"{path} is not a processed dataset folder (no vertices_npy/ inside)")
    return path


def synthtalk_manifest(root: str | os.PathLike) -> dict:
    """synthtalk.json of a SynthTalk folder: splits, speakers and their parameters."""
    path = Path(root) / "synthtalk.json"
    if not path.is_file():
        raise DataError(f"{path} not found: not a SynthTalk folder (make one with 'diffusiontalker data synth'; "
                        "for processed VOCASET or BIWI pass --dataset vocaset or biwi)")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def synthtalk_speaker(name: str) -> str:
    """The speaker of a SynthTalk clip from its name: 'spk03_sentence12' -> 'spk03'."""
    return name.rsplit("_sentence", 1)[0]


def load_synthtalk(root: str | os.PathLike, split: str) -> list[Clip]:
    """Clips of `split` ("train", "val", "test", "test_unseen") in the order synthtalk.json lists them.

    Generator 2 stores each clip compactly: float16 offsets (under 0.01 mm of rounding) of
    the vertices that move (``moving.npy``), since the rest of the head is its neutral;
    generator 1's full ``vertices_npy/`` load as before."""
    root = Path(root)
    manifest = synthtalk_manifest(root)
    _check_split(split, manifest["splits"])
    with np.load(root / "templates.npz", allow_pickle=False) as npz:
        templates = {k: npz[k].astype(np.float32) for k in npz.files}
    compact = (root / "motion").is_dir()
    moving = np.load(root / "moving.npy", allow_pickle=False) if compact else None
    clips = []
    for name in manifest["splits"][split]:
        speaker = synthtalk_speaker(name)
        if not compact:
            clips.append(_read_clip(_root(root), name, speaker, templates[speaker], float(manifest["fps"])))
            continue
        vertices = np.repeat(templates[speaker][None], manifest["clips"][name]["frames"], axis=0)
        vertices[:, moving] += np.load(root / "motion" / f"{name}.npy", allow_pickle=False).astype(np.float32)
        clips.append(Clip(name, speaker, load_audio(root / "wav" / f"{name}.wav", max_seconds=float("inf")), vertices,
                          templates[speaker], float(manifest["fps"]), _read_phonemes(root / "phonemes" / f"{name}.tsv")))
    return clips


def _load_faceformer(root: str | os.PathLike, split: str, splits: dict, pattern: str, fps: float,
                     step: int, what: str) -> list[Clip]:
    root = _root(root)
    _check_split(split, splits)
    templates = load_pickle(root / "templates.pkl")
    subjects, numbers = splits[split]
    clips = []
    for subject in subjects:
        for number in numbers:
            name = pattern.format(subject=subject, number=number)
            if not (root / "vertices_npy" / f"{name}.npy").is_file():
                continue  # the released data lacks a few sequences; FaceFormer skips them too
            if subject not in templates:
                raise DataError(f"{root / 'templates.pkl'} has no template for {subject}")
            template = np.asarray(templates[subject], dtype=np.float32).reshape(-1, 3)
            clips.append(_read_clip(root, name, subject, template, fps, step))
    if not clips:
        raise DataError(f"no {what} clips of split {split!r} under {root} "
                        f"(expected vertices_npy/{pattern.format(subject=subjects[0], number=numbers[0])}.npy)")
    return clips


def load_vocaset(root: str | os.PathLike, split: str) -> list[Clip]:
    """Processed VOCASET (60 fps files, every second frame kept: 30 fps) with FaceFormer's split."""
    return _load_faceformer(root, split, VOCASET_SPLITS, "{subject}_sentence{number:02d}", 30.0, 2, "VOCASET")


def load_biwi(root: str | os.PathLike, split: str) -> list[Clip]:
    """Processed BIWI (25 fps, 23370 vertices) with the Test-A / Test-B splits."""
    return _load_faceformer(root, split, BIWI_SPLITS, "{subject}_e{number:02d}", 25.0, 1, "BIWI")


def splits_of(dataset: str, root: str | os.PathLike) -> list[str]:
    """The split names a dataset folder has."""
    if dataset == "synthtalk":
        return list(synthtalk_manifest(root)["splits"])
    return list(VOCASET_SPLITS if dataset == "vocaset" else BIWI_SPLITS)


def speakers_of(root: str | os.PathLike) -> dict[str, list[str]]:
    """Speaker lists of a dataset folder; "train" is the identity order a model is trained with."""
    root = Path(root)
    if (root / "synthtalk.json").is_file():
        manifest = synthtalk_manifest(root)
        return {"train": manifest["train_speakers"], "unseen": manifest["unseen_speakers"]}
    names = {p.stem for p in (_root(root) / "vertices_npy").glob("*.npy")}
    if any(n.startswith("FaceTalk_") for n in names):
        return {"train": VOCASET_SPLITS["train"][0], "val": VOCASET_SPLITS["val"][0],
                "test": VOCASET_SPLITS["test"][0]}
    return {"train": BIWI_SPLITS["train"][0], "unseen": BIWI_SPLITS["test_b"][0]}


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("data", help="make or inspect training data",
                                   description="Make the SynthTalk dataset (speech with known phoneme timing and "
                                               "the FLAME mouth motion it drives).")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True
    synth = sub.add_parser("synth", help="generate SynthTalk in the processed-VOCASET layout")
    synth.add_argument("--out", required=True, help="folder to write (created)")
    synth.add_argument("--speakers", type=positive_int, default=28,
                       help="speakers, the last four held out (5-28, default 28; see 'data speakers')")
    synth.add_argument("--sentences", type=positive_int, default=40, help="sentences per training speaker (default 40)")
    synth.add_argument("--seed", type=random_seed, default=0, help="same seed, same bytes (default 0)")
    synth.add_argument("--template", help="FLAME-topology .ply with FLAME_masks.json beside it "
                                          "(default ../shared/flame/FLAME_sample.ply when present)")
    synth.add_argument("--workers", type=positive_int, default=None,
                       help="processes (default 2); output does not depend on it")
    synth.set_defaults(run=_run_synth)
    from .synthtalk.cli import add_inspection_cli

    add_inspection_cli(sub)


def _run_synth(args) -> int:
    from .synthtalk.build import build_dataset

    manifest = build_dataset(args.out, args.speakers, args.sentences, args.seed, args.template, args.workers)
    seconds = sum(c["seconds"] for c in manifest["clips"].values())
    counts = ", ".join(f"{k} {len(v)}" for k, v in manifest["splits"].items())
    print(f"wrote {len(manifest['clips'])} clips ({seconds / 60:.1f} min of speech) to {args.out}: {counts}")
    return 0
