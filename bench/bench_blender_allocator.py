"""What glibc's allocator setting buys the Blender operators that block Blender while they run.

    .venv/bin/python bench/bench_blender_allocator.py [--iterations 10]

The ``diffusiontalker`` command keeps the memory PyTorch frees (core/allocator.py);
inside Blender the add-on does so only around work Blender waits on: a synchronous
Generate (batch scripts, render farms) and New Style from This Animation's fit. Each
mode runs in a fresh process with Blender loaded (the ``bpy`` module), on the bundled
checkpoint and example clip: seconds per fit iteration and per generated take.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WAV = ROOT / "core" / "assets" / "example.wav"


def measure(kept: bool, iterations: int) -> dict:
    import bpy  # noqa: F401 - the allocator of a Blender process is what is measured

    from diffusiontalker.allocator import GLIBC_VARIABLES, freed_memory_kept
    from diffusiontalker.audio import load_audio
    from diffusiontalker.new_style import embed_from_audio, fit_to_motion
    from diffusiontalker.pipeline import Generator

    assert not any(name in os.environ for name in GLIBC_VARIABLES)
    gen = Generator.load(None, "cpu")
    wave = load_audio(WAV)
    start = embed_from_audio(gen, [wave])
    offsets = gen.generate(wave, 16000, style=0, seed=0).offsets  # warm-up, and a motion to fit
    with freed_memory_kept() if kept else contextlib.nullcontext():
        fit_to_motion(gen, [wave], [offsets], start, 1, seed=0)  # warm-up
        began = time.perf_counter()
        fit_to_motion(gen, [wave], [offsets], start, iterations, seed=0)
        fit = (time.perf_counter() - began) / iterations
        began = time.perf_counter()
        for seed in range(3):
            gen.generate(wave, 16000, style=0, seed=seed)
        take = (time.perf_counter() - began) / 3
    return {"fit_s_per_iteration": fit, "generate_s": take}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=10, help="fit iterations timed per mode")
    p.add_argument("--mode", choices=("plain", "kept"), help=argparse.SUPPRESS)  # one process per mode
    args = p.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode == "kept", args.iterations)))
        return 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    rows = {}
    for mode in ("plain", "kept"):
        out = subprocess.run([sys.executable, __file__, "--mode", mode, "--iterations", str(args.iterations)],
                             env=env, capture_output=True, text=True, check=True).stdout
        rows[mode] = json.loads(out.strip().splitlines()[-1])
    print(f"6.35 s clip, bundled checkpoint, {os.cpu_count()} CPU cores\n")
    print("| in a Blender process | fit, s per iteration | Generate, s per take |\n|---|---|---|")
    for mode, label in (("plain", "glibc's defaults"), ("kept", "freed memory kept (`freed_memory_kept`)")):
        print(f"| {label} | {rows[mode]['fit_s_per_iteration']:.2f} | {rows[mode]['generate_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
