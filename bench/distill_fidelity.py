"""Does a distilled student move the mouth as far as its teacher does?

    .venv/bin/python bench/distill_fidelity.py runs/teacher.json@8 runs/student.json [more ...]
        [--data data/synthtalk2_retimed] [--split train] [--clips 12] [--aligned] [--variation V] [--json OUT]

Progressive distillation should hand the teacher's motion on, not change it; a student
that opens wider or narrower than its teacher changes every score downstream (real-voice
range, closure, LVE), and the cause is then hard to see. Each checkpoint (``PATH@STEPS``
samples a teacher in that many DDIM steps; without it, the checkpoint's own) animates
the same clips of the data it was distilled on: ``--clips`` espeak-ng sentences and as
many real voice lines (clips named ``*_real*``, bench/real_training.py's), evenly
chosen, each in its own speaker's style, seed 0, the default variation, with the
front-end's cached phones (``frontend.json``, what the model trained on). Printed per
checkpoint: the mouth range (95th minus 5th percentile of the lip gap, mm, mean over
clips) of the espeak and real clips, the range of the x0 estimate at each sampling step
on the espeak clips (where in the chain a student departs), the mean lip-vertex
distance from the first checkpoint's takes, and the openness r of the real lines
(``evaluate``'s per-phone score against their aligned phones, as bench/real_voices.py
scores lines never trained on). The data's own range and r are printed last.
``--aligned`` gives the models the phones aligned to each clip's text instead of the
recognised ones, as a transcript does: whether a model reaches, on lines it learnt
from, the r its targets have. To read how far short of them a model is, the data's r is
also printed with its lip gap blurred in time (a Gaussian of 1 and 2 frames) and moved
one frame earlier and later: the per-phone score asks for timing finer than a frame.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from diffusiontalker.argtypes import add_variation_flag
from diffusiontalker.audio import SAMPLE_RATE
from diffusiontalker.batches import load_split
from diffusiontalker.clip_phones import heard_in
from diffusiontalker.evaluate import mouth_opening, openness_correlation, opening_range_mm
from diffusiontalker.factored import Factored
from diffusiontalker.phonetics import Timed
from diffusiontalker.pipeline import Generator
from diffusiontalker.regions import lip_region_file, load_regions, mouth_landmarks
from diffusiontalker.synthtalk.articulate import style_distance


def spread_mm(offsets: np.ndarray, template: np.ndarray, upper, lower) -> float:
    """``evaluate``'s mouth range of (T, V, 3) offsets from ``template``."""
    return opening_range_mm(mouth_opening(offsets + template, template, upper, lower))


def chosen_clips(data: str, split: str, count: int):
    clips = load_split("synthtalk", data, split)
    real = [c for c in clips if "_real" in c.name]
    espeak = [c for c in clips if "_real" not in c.name]

    def even(xs):
        return [xs[i] for i in np.linspace(0, len(xs) - 1, min(count, len(xs))).astype(int)] if xs else []
    return even(espeak), even(real)


def takes(spec: str, clips, heard: dict, template, upper, lower, given: str = "recognised",
          variation: float | None = None) -> dict:
    """One checkpoint's takes of the clips, with the range of each step's x0 estimate."""
    path, _, steps = spec.partition("@")
    gen = Generator.load(path)
    scale = gen.config["motion_scale"]
    estimates = []
    denoise = gen.model.denoise

    def recording(*args, **kwargs):  # the sampler's x0 estimates, in the order it asks for them
        x0 = denoise(*args, **kwargs)
        estimates.append((x0.dense() if isinstance(x0, Factored) else x0)[0].detach() * scale)
        return x0
    gen.model.denoise = recording
    out = {"offsets": [], "steps": []}
    for clip in clips:
        estimates.clear()
        take = gen.generate(clip.audio, SAMPLE_RATE, style=clip.speaker, seed=0, variation=variation,
                            steps=int(steps) if steps else None,
                            phones=Timed(heard[clip.name][given] or heard[clip.name]["recognised"]))
        out["offsets"].append(take.offsets)
        out["steps"].append([spread_mm(x.view(len(take.offsets), -1, 3).numpy(), template, upper, lower)
                             for x in estimates])
    return out


def blurred(curve: np.ndarray, sigma: float) -> np.ndarray:
    """``curve`` through a Gaussian of ``sigma`` frames, its ends held."""
    reach = int(3 * sigma)
    kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) / sigma) ** 2)
    return np.convolve(np.pad(curve, reach, mode="edge"), kernel / kernel.sum(), mode="valid")


def real_r(offsets, clips, heard: dict, template, upper, lower, change=None) -> float | None:
    """Mean openness r of real lines' takes against their aligned phones, the truth
    bench/real_voices.py scores with; ``change`` is applied to each lip-gap curve first."""
    rs = [openness_correlation((change or (lambda x: x))(mouth_opening(o + template, template, upper, lower)),
                               heard[c.name]["aligned"], c.fps)
          for o, c in zip(offsets, clips) if heard[c.name]["aligned"]]
    rs = [r for r in rs if r is not None]
    return float(np.mean(rs)) if rs else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="PATH or PATH@STEPS; the first is the one the others are compared with")
    p.add_argument("--data", default="data/synthtalk2_retimed", help="the data the student was distilled on")
    p.add_argument("--split", default="train")
    p.add_argument("--clips", type=int, default=12, help="espeak clips, and as many real lines (default: 12)")
    p.add_argument("--aligned", action="store_true",
                   help="give the models each clip's phones aligned to its text (as a transcript does), not the "
                        "recognised ones")
    add_variation_flag(p)
    p.add_argument("--json", help="write the numbers here")
    args = p.parse_args()
    espeak, real = chosen_clips(args.data, args.split, args.clips)
    clips = espeak + real
    heard = heard_in("synthtalk", args.data, clips)  # what the model trained on, cached beside the data
    template = clips[0].template
    lips = load_regions(lip_region_file(None, len(template)), len(template), ("lips",))["lips"]
    upper, lower = mouth_landmarks(template, lips)
    results, first = {}, None
    for spec in args.checkpoints:
        started = time.perf_counter()
        got = takes(spec, clips, heard, template, upper, lower, "aligned" if args.aligned else "recognised",
                    args.variation)
        ranges = [spread_mm(o, template, upper, lower) for o in got["offsets"]]
        row = {"espeak_mm": float(np.mean(ranges[:len(espeak)])),
               "real_mm": float(np.mean(ranges[len(espeak):])) if real else None,
               "x0_mm_by_step": np.mean(got["steps"][:len(espeak)], axis=0).round(3).tolist(),
               "real_r": real_r(got["offsets"][len(espeak):], real, heard, template, upper, lower)}
        if first is None:
            first = got["offsets"]
        else:
            row["lip_mm_from_first"] = float(np.mean([style_distance(a, b, lips)
                                                      for a, b in zip(first, got["offsets"])])) * 1000
        results[spec] = row
        real_mm = f"{row['real_mm']:.2f} mm, r {row['real_r']:.3f}" if real else "-"
        print(f"{spec}: range espeak {row['espeak_mm']:.2f} mm, real {real_mm}; x0 by step "
              + " ".join(f"{v:.2f}" for v in row["x0_mm_by_step"])
              + (f"; {row['lip_mm_from_first']:.3f} mm from the first" if "lip_mm_from_first" in row else "")
              + f" ({time.perf_counter() - started:.0f} s)", flush=True)
    data_mm = [spread_mm(c.vertices - c.template, c.template, upper, lower) for c in clips]
    real_truth = [c.vertices - c.template for c in real]
    truth = {"espeak_mm": float(np.mean(data_mm[:len(espeak)])),
             "real_mm": float(np.mean(data_mm[len(espeak):])) if real else None,
             "real_r": real_r(real_truth, real, heard, template, upper, lower)}
    print(f"the data: range espeak {truth['espeak_mm']:.2f} mm"
          + (f", real {truth['real_mm']:.2f} mm, r {truth['real_r']:.3f}" if real else ""))
    if real:
        changed = {"blurred 1 frame": lambda x: blurred(x, 1.0), "blurred 2 frames": lambda x: blurred(x, 2.0),
                   "a frame early": lambda x: np.roll(x, -1), "a frame late": lambda x: np.roll(x, 1)}
        truth["real_r_changed"] = {name: real_r(real_truth, real, heard, template, upper, lower, change)
                                   for name, change in changed.items()}
        print("the data's real lines, r: " + ", ".join(f"{k} {v:.3f}" for k, v in truth["real_r_changed"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                               "clips": [c.name for c in clips], "checkpoints": results,
                                               "data": truth}, indent=1))


if __name__ == "__main__":
    main()
