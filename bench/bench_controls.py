"""Do the controls leave marks? Speed and acceleration where a style blend changes and
around key poses, against the same frames without the control; error at key frames.

    .venv/bin/python bench/bench_controls.py [--checkpoint CK] [--seconds 10]

A blend that switches style, or a pose forced onto a frame, must not make the face jump:
the mean vertex acceleration in the frames around the change is compared with the
same frames of the take made without it (same audio, seed and style), so what is
said there does not count. A ratio near 1 means no visible mark. "change imposed" is how far the
control moves the face there (mean vertex distance between the two styles, or between
the pose and the free take), so a small ratio is not a small change in disguise. The
results go to docs/benchmarks.md.
"""

import argparse
import sys

import numpy as np

from diffusiontalker.audio import SAMPLE_RATE, load_audio
from diffusiontalker.checkpoint import BUNDLED
from diffusiontalker.pipeline import Generator


def speed(x: np.ndarray) -> np.ndarray:
    """Mean vertex speed per frame step (m per frame)."""
    return np.linalg.norm(np.diff(x, axis=0), axis=-1).mean(-1)


def accel(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(x, 2, axis=0), axis=-1).mean(-1)


def around(frame: int, radius: int) -> slice:
    return slice(max(0, frame - radius - 1), frame + radius)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="default: the bundled checkpoint")
    p.add_argument("--seconds", type=float, default=10.0, help="audio length (the example clip repeated)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    gen = Generator.load(args.checkpoint, "cpu")
    clip = load_audio(str(BUNDLED.parent / "example.wav"))
    audio = np.tile(clip, int(np.ceil(args.seconds * SAMPLE_RATE / len(clip))))[: int(args.seconds * SAMPLE_RATE)]
    a, b = gen.identity_names[:2]
    base = gen.generate(audio, SAMPLE_RATE, style=a, seed=args.seed).offsets
    other = gen.generate(audio, SAMPLE_RATE, style=b, seed=args.seed).offsets
    frames, mid, radius = len(base), len(base) // 2, 6
    print(f"checkpoint {gen.checkpoint_path}, {args.seconds:g} s of audio, styles {a} -> {b}, seed {args.seed}")
    print("| control | frames compared | change imposed mm | accel. / without | speed / without | "
          "error at key frame mm |\n|---|---|---|---|---|---|")

    def row(name, take, reference, window, change, error="–"):
        acc = accel(take)[window].mean() / accel(reference)[window].mean()
        spd = speed(take)[window].mean() / speed(reference)[window].mean()
        print(f"| {name} | {window.start}–{window.stop} | {change * 1000:.2f} | {acc:.2f} | {spd:.2f} | {error} |")

    # Style blends: the reference is the mean of the two pure styles at the same frames.
    both = (base + other) / 2
    for name, ramp in (("blend switched in one frame", 0), ("blend ramped over 0.5 s", int(0.5 * gen.fps))):
        weights = np.clip((np.arange(frames) - mid) / max(1, ramp), 0, 1) if ramp else (np.arange(frames) >= mid)
        take = gen.generate(audio, SAMPLE_RATE, style=a, blend_style=b, blend=weights.astype(np.float32),
                            seed=args.seed).offsets
        window = around(mid, radius + ramp)
        change = np.linalg.norm(other[window] - base[window], axis=-1).mean()
        row(f"{name} ({a} -> {b})", take, both, window, change)
    # Key poses: a pose from elsewhere in the other style's take, forced onto the middle frame.
    for distance in (1, 2):
        pose = other[min(frames - 1, mid + distance * int(gen.fps))]
        take = gen.generate(audio, SAMPLE_RATE, style=a, key_poses={mid: pose}, seed=args.seed).offsets
        error = np.linalg.norm(take[mid] - pose, axis=-1).max() * 1000
        change = np.linalg.norm(pose - base[mid], axis=-1).mean()
        row(f"key pose from {distance} s later ({b})", take, base, around(mid, radius), change, f"{error:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
