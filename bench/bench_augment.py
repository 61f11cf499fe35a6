"""What training-time audio augmentation (core/augment.py) costs on this machine.

    .venv/bin/diffusiontalker data synth --out /tmp/st --speakers 5 --sentences 6
    .venv/bin/python bench/bench_augment.py --data /tmp/st [--steps 8] [--repeats 3] [--probabilities 0 0.3 1]

First each augmentation alone, applied to every one of a few hundred training windows
(CPU milliseconds per window, median and 90th percentile): the augmentation runs in
the training loop's own thread, so this is what a step waits for. Then what the batch
sampler spends on a batch of 8 windows at each ``--augment P``, and whole training steps
of the default model (batch 8, 3 s windows) with ``train --augment P``, as the run itself
times its loop (the fastest of a few runs; on shared cores, only an idle machine makes
these comparable). The results go to docs/benchmarks.md.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

from diffusiontalker.augment import KINDS, Augmenter
from diffusiontalker.batches import batch_sampler, clip_items, load_split, window


def training_windows(data: str):
    """The training clips as the batch sampler's items, and their frame rate."""
    clips = load_split("synthtalk", data, "train")
    return clip_items(clips, sorted({c.speaker for c in clips}), 1.0), float(clips[0].fps)


def per_kind(data: str, windows: int, seconds: float) -> None:
    items, fps = training_windows(data)
    rng = np.random.default_rng(0)
    drawn = [window(items[rng.integers(len(items))], round(seconds * fps), fps, rng)[1:4] for _ in range(windows)]
    print(f"| augmentation | ms per {seconds:g} s window, median | 90th percentile |\n|---|---|---|")
    for kind in KINDS:
        only = Augmenter(1.0, fps, kinds=(kind,))
        costs = []
        for i, (wave, motion, phones) in enumerate(drawn):
            began = time.process_time()
            only(wave, motion, phones, np.random.default_rng(i))
            costs.append(1000 * (time.process_time() - began))
        print(f"| {kind} | {np.median(costs):.1f} | {np.percentile(costs, 90):.1f} |")


def per_batch(data: str, seconds: float, probabilities: list[float], batches: int = 20) -> None:
    """What the batch sampler spends making one batch of 8 windows (CPU time, which other
    work on shared cores does not inflate as it does wall time)."""
    items, fps = training_windows(data)
    print("\n| --augment | CPU s per batch of 8 windows | frames of the longest window, mean |\n|---|---|---|")
    for p in probabilities:
        sampler = batch_sampler(items, 8, seconds, fps, seed=0, augment=Augmenter(p, fps) if p else None)
        began = time.process_time()
        longest = [next(sampler).motion.shape[1] for _ in range(batches)]
        print(f"| {p:g} | {(time.process_time() - began) / batches:.3f} | {np.mean(longest):.0f} |")


def per_step(data: str, steps: int, probabilities: list[float], repeats: int) -> None:
    """Through the command, as a user runs it (with its allocator setting); the values
    taken in turn and the fastest run of each kept, since other work on shared cores
    only ever slows a run down."""
    best = {p: float("inf") for p in probabilities}
    for _ in range(repeats):
        for p in probabilities:
            with tempfile.TemporaryDirectory() as out:
                result = subprocess.run([sys.executable, "-m", "diffusiontalker.cli", "train", "--data", data,
                                         "--out", out, "--iterations", str(steps), "--augment", str(p),
                                         "--save-every", str(10 * steps), "--device", "cpu"],
                                        capture_output=True, text=True)
            found = re.search(r"trained (\d+) steps in (\d+) s", result.stderr)
            if result.returncode or not found:
                sys.exit(result.stderr[-2000:])
            best[p] = min(best[p], int(found[2]) / int(found[1]))
    print(f"\n| --augment | s per training step (fastest of {repeats}) |\n|---|---|")
    for p, seconds in best.items():
        print(f"| {p:g} | {seconds:.2f} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a SynthTalk folder ('diffusiontalker data synth')")
    p.add_argument("--windows", type=int, default=200, help="windows per augmentation (default: 200)")
    p.add_argument("--seconds", type=float, default=3.0, help="window length, as train --window (default: 3)")
    p.add_argument("--steps", type=int, default=8, help="training steps per run; 0 leaves whole steps out (default: 8)")
    p.add_argument("--probabilities", type=float, nargs="+", default=[0.0, 0.3, 1.0])
    p.add_argument("--repeats", type=int, default=3, help="runs per --augment value, taken in turn (default: 3)")
    args = p.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start\n")
    per_kind(args.data, args.windows, args.seconds)
    per_batch(args.data, args.seconds, args.probabilities)
    if args.steps:
        per_step(args.data, args.steps, args.probabilities, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
