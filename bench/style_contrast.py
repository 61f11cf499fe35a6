"""Are a checkpoint's talking styles visible in its output, beyond sampling noise?

    .venv/bin/python bench/style_contrast.py [--checkpoint CK] [--audio A.wav [B.wav]] [--seeds 0 1]
                                             [--variation V] [--guidance A,S] [--json OUT]

Issue 28's target: on the same audio and seed, every pair of training styles differs by
at least 3x the lip-vertex distance between two seeds of one style. A style the reader
cannot tell from another's is no style, and a gap that only matches the spread between
seeds is noise, so the seed spread is the yardstick rather than a fixed number of mm.

Distances are mean lip-vertex L2 (the VOCASET 'lve' region) over all frames of all the
clips, in mm. Seed distance of a style: between its takes at the given seeds (mean over
seed pairs). Style distance of a pair: between the two styles at the first seed. The
strict ratio divides the closest pair by the largest seed distance (every pair against
every style's noise); the mean ratio divides by the mean seed distance. PASS needs the
strict ratio at 3 or more. The results go to docs/results.md with the machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

from diffusiontalker.argtypes import add_guidance_flag, add_variation_flag
from diffusiontalker.audio import SAMPLE_RATE, load_audio
from diffusiontalker.checkpoint import BUNDLED
from diffusiontalker.pipeline import Generator
from diffusiontalker.regions import default_region_file, load_regions
from diffusiontalker.synthtalk.articulate import style_distance

TARGET = 3.0


def lip_region(path, num_vertices: int) -> np.ndarray:
    """The 'lve' lip vertices the evaluation uses, so these mm compare with its numbers."""
    path = path or default_region_file("vocaset_eval_regions.json")
    if path is None:
        raise SystemExit("no ../shared/flame/vocaset_eval_regions.json: pass --regions with an 'lve' list")
    return load_regions(path, num_vertices, ("lve",))["lve"]


def takes_by_style(gen: Generator, waves: list[np.ndarray], seeds: list[int], lips: np.ndarray,
                   variation: float, guidance=None) -> dict:
    """(style, seed) -> lip vertices of every clip end to end: one array per take, so a
    distance over it weights each clip by its frames."""
    return {(name, seed): np.concatenate([gen.generate(w, SAMPLE_RATE, style=name, seed=seed,
                                                       variation=variation, guidance=guidance).offsets[:, lips]
                                          for w in waves])
            for name in gen.model.bank.names for seed in seeds}


def ratio(distance: float, noise: float) -> float:
    """How many times the seeds' spread a distance is; at variation 0 seeds do not differ."""
    return float(distance / noise) if noise > 0 else math.inf


def contrast(takes: dict, names: list[str], seeds: list[int]) -> dict:
    every = np.arange(next(iter(takes.values())).shape[1])  # takes hold only lip vertices already

    def mm(a, b):
        return style_distance(a, b, every) * 1000

    seed_mm = {n: float(np.mean([mm(takes[n, s], takes[n, t]) for s, t in itertools.combinations(seeds, 2)]))
               for n in names}
    pair_mm = {f"{a}/{b}": mm(takes[a, seeds[0]], takes[b, seeds[0]]) for a, b in itertools.combinations(names, 2)}
    values = np.array(list(pair_mm.values()))
    # per pair, against the noisier of its own two styles: which pairs would fail on their own
    own = {p: ratio(d, max(seed_mm[a], seed_mm[b])) for (a, b), (p, d) in
           zip(itertools.combinations(names, 2), pair_mm.items())}
    strict = ratio(values.min(), max(seed_mm.values()))
    return {"seed_mm": seed_mm, "pair_mm": pair_mm,
            "pair_min_mm": float(values.min()), "pair_median_mm": float(np.median(values)),
            "pair_max_mm": float(values.max()),
            "closest_pairs": sorted(pair_mm, key=pair_mm.get)[:5],
            "ratio_strict": strict, "ratio_mean": ratio(values.min(), np.mean(list(seed_mm.values()))),
            "pairs_below_target_own_seeds": sorted(p for p, r in own.items() if r < TARGET),
            "target": TARGET, "pass": strict >= TARGET}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="checkpoint .json (default: the bundled demo)")
    parser.add_argument("--audio", nargs="+", default=[str(BUNDLED.parent / "example.wav")])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--regions", default=None, help="JSON with an 'lve' list (default: ../shared/flame)")
    add_variation_flag(parser)
    add_guidance_flag(parser, "of every take (default: 1,1, none)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    if len(args.seeds) < 2:
        parser.error("--seeds needs at least two seeds: their spread is the yardstick")
    torch.set_num_threads(args.threads)
    gen = Generator.load(args.checkpoint)
    names = list(gen.model.bank.names)  # training styles only, not a library's
    lips = lip_region(args.regions, gen.num_vertices)
    waves = [load_audio(a) for a in args.audio]
    started = time.perf_counter()
    result = contrast(takes_by_style(gen, waves, args.seeds, lips, args.variation, args.guidance), names, args.seeds)
    elapsed = time.perf_counter() - started
    result.update({"checkpoint": gen.checkpoint_id(), "audio": args.audio,
                   "audio_seconds": sum(len(w) for w in waves) / SAMPLE_RATE, "seeds": args.seeds,
                   "variation": args.variation, "guidance": args.guidance,
                   "steps": gen.default_steps, "lip_vertices": int(len(lips)), "seconds": elapsed,
                   "device": gen.device, "machine": f"{platform.processor() or platform.machine()}, "
                                                    f"{torch.get_num_threads()} torch threads"})

    print(f"{gen.checkpoint_id()}; {len(names)} styles; audio {', '.join(Path(a).name for a in args.audio)} "
          f"({result['audio_seconds']:.1f} s); seeds {args.seeds} at variation {args.variation:g}; "
          f"{len(lips)} lip vertices; {elapsed:.0f} s")
    print("\n| style | seed distance mm |\n| --- | ---: |")
    for n in names:
        print(f"| {n} | {result['seed_mm'][n]:.3f} |")
    seeds = list(result["seed_mm"].values())
    print(f"\nseed distance: min {min(seeds):.3f}, mean {np.mean(seeds):.3f}, max {max(seeds):.3f} mm")
    print(f"style distance over {len(result['pair_mm'])} pairs at seed {args.seeds[0]}: "
          f"min {result['pair_min_mm']:.3f}, median {result['pair_median_mm']:.3f}, max {result['pair_max_mm']:.3f} mm")
    print("closest pairs: " + ", ".join(f"{p} {result['pair_mm'][p]:.3f}" for p in result["closest_pairs"]))
    print(f"ratio min pair / max seed = {result['ratio_strict']:.2f}; "
          f"min pair / mean seed = {result['ratio_mean']:.2f}")
    below = result["pairs_below_target_own_seeds"]
    print(f"pairs under {TARGET:g}x the larger seed distance of their own two styles: {len(below)}"
          + (f" ({', '.join(below[:6])}{', ...' if len(below) > 6 else ''})" if below else ""))
    print(f"{'PASS' if result['pass'] else 'FAIL'}: target min pair >= {TARGET:g} x max seed distance")
    if args.json:
        # at variation 0 the seeds do not differ: an infinite ratio, which JSON writes as null
        args.json.write_text(json.dumps({k: None if v == math.inf else v for k, v in result.items()}, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
