"""How well a checkpoint's audio encoder reads speech: linear probes on its frozen features.

    .venv/bin/python research/encoder_probe.py --data data/synthtalk \
        --checkpoint core/assets/demo.json --checkpoint runs/ph/B/demo.json

Two ridge-regression probes, fitted on training clips and scored on test clips:
- *class accuracy*: naming each frame's articulation class (SynthTalk's 14: bilabial,
  open vowel, rounded, ...) from that frame's features;
- *control R²*: SynthTalk's mouth is driven by control curves (jaw, lip closure,
  rounding, spreading, labiodental contact, speech activity) made from the phoneme
  timings by dominance-weighted coarticulation, which no linear map reproduces exactly.
  The first row says how far a linear reader gets even with the true classes of
  ±200 ms around the frame, the second with log-mel frames of ±100 ms (the encoder's
  input): an encoder far from the first and near the second has learnt little.
"""

import argparse
import sys

import numpy as np
import torch

from diffusiontalker.audio import SAMPLE_RATE, normalise
from diffusiontalker.batches import frame_phonemes, load_split, phoneme_list
from diffusiontalker.pipeline import Generator
from diffusiontalker.synthtalk.articulation import CLASS_NAMES, CONTROLS, coarticulate, phoneme_class
from diffusiontalker.synthtalk.counterfactual import Counterfactuals

CLASSES = list(CLASS_NAMES)


def context(rows: np.ndarray, at: np.ndarray, offsets) -> np.ndarray:
    """Each of ``rows[at]`` with its neighbours at ``offsets`` (clamped at the ends), side by side."""
    return np.concatenate([rows[np.clip(at + o, 0, len(rows) - 1)] for o in offsets], axis=1)


def clip_arrays(encoder, clip, style, fps: float):
    """(encoder features, log-mel context, true-class context, control curves, class labels), a row per frame."""
    frames = len(clip.vertices)
    wave = torch.from_numpy(normalise(clip.audio))[None]
    with torch.no_grad():
        features = encoder(wave, frames)[0].numpy()
        mel = encoder.log_mel(wave)[0].T.numpy()
    at = np.clip(np.round(np.arange(frames) / fps * 100).astype(int), 0, len(mel) - 1)  # 100 Hz mel grid
    curves = coarticulate(clip.phonemes, len(clip.audio) / SAMPLE_RATE, frames, fps, style)
    names = phoneme_list([clip])  # silence first, which phoneme_class calls a pause
    class_of = np.array([CLASSES.index(phoneme_class(n)) for n in names])
    labels = class_of[frame_phonemes(clip.phonemes, frames, fps, names)]
    own = np.arange(frames)
    return (features, context(mel, at, range(-10, 11, 2)), context(np.eye(len(CLASSES))[labels], own, range(-6, 7)),
            np.stack([curves[c] for c in CONTROLS], axis=1), labels)


def ridge(inputs: np.ndarray, targets: np.ndarray, lam: float = 1.0):
    mu, sd = inputs.mean(0), inputs.std(0) + 1e-6
    design = np.c_[(inputs - mu) / sd, np.ones(len(inputs))]
    w = np.linalg.solve(design.T @ design + lam * np.eye(design.shape[1]), design.T @ targets)
    return lambda x: np.c_[(x - mu) / sd, np.ones(len(x))] @ w


def probe(encoder, truth: Counterfactuals, train, test, fps: float) -> dict:
    def stack(clips):
        return [np.concatenate(a) for a in zip(*(clip_arrays(encoder, c, truth.styles[c.speaker], fps)
                                                for c in clips))]

    f_tr, m_tr, t_tr, y_tr, c_tr = stack(train)
    f_te, m_te, t_te, y_te, c_te = stack(test)
    out = {}
    for name, a, b in (("encoder", f_tr, f_te), ("log-mel", m_tr, m_te), ("classes", t_tr, t_te)):
        r2 = 1 - ((ridge(a, y_tr)(b) - y_te) ** 2).mean(0) / y_te.var(0)
        hits = ridge(a, np.eye(len(CLASSES))[c_tr])(b).argmax(1) == c_te
        out[name] = {**dict(zip(CONTROLS, r2.tolist())), "class": float(hits.mean())}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a SynthTalk folder")
    p.add_argument("--checkpoint", action="append", help="repeat to compare (default: the bundled checkpoint)")
    args = p.parse_args()
    truth = Counterfactuals(args.data)
    train = load_split("synthtalk", args.data, "train")[::2]
    test = load_split("synthtalk", args.data, "test")
    print(f"ridge probes fitted on {len(train)} train clips, scored on {len(test)} test clips\n")
    print("| features | " + " | ".join(f"{c} R²" for c in CONTROLS) + " | class accuracy |")
    print("|---|" + "---|" * (len(CONTROLS) + 1))
    for checkpoint in args.checkpoint or [None]:
        gen = Generator.load(checkpoint, "cpu")
        if not hasattr(gen.model.encoder, "log_mel"):
            p.error(f"{checkpoint}: not a log-mel encoder; this probe compares an encoder with its log-mel input")
        result = probe(gen.model.encoder.eval(), truth, train, test, gen.fps)
        first = checkpoint == (args.checkpoint or [None])[0]
        rows = [("true classes ±200 ms", result["classes"]), ("log-mel ±100 ms", result["log-mel"])] if first else []
        for label, r in rows + [(f"encoder of {checkpoint or 'bundled demo'}", result["encoder"])]:
            print(f"| {label} | " + " | ".join(f"{r[c]:.3f}" for c in CONTROLS) + f" | {r['class']:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
