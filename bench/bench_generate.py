"""Generation speed and memory: seconds, real-time factor and peak RSS per setting,
and whether the joins between long audio's windows show.

    .venv/bin/python bench/bench_generate.py [--checkpoint CK] [--durations 10 60 600] [--steps 8 full]

Each setting runs in a fresh process, so its peak resident memory is its own; the take
itself (frames x vertices x 3 float32) is reported beside it, since it is the one part
that must grow with the audio. Audio is the bundled example clip repeated to length
(speech, not silence or noise). At window joins the mean vertex speed and acceleration
are compared with the rest of the take: a seam would show as a ratio well above 1.
The results go to docs/benchmarks.md with the machine they came from.
"""

import argparse
import json
import os
import platform
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
from diffusiontalker.audio import SAMPLE_RATE, load_audio
from diffusiontalker.checkpoint import BUNDLED
from diffusiontalker.pipeline import OVERLAP_SECONDS, WINDOW_SECONDS, Generator, windows
ckpt, seconds, steps, device = sys.argv[1] or None, float(sys.argv[2]), sys.argv[3], sys.argv[4]
torch.set_num_threads(int(sys.argv[5]))
gen = Generator.load(ckpt, device)
steps = gen.config["diffusion_steps"] if steps == "full" else int(steps)
clip = load_audio(str(BUNDLED.parent / "example.wav"))
audio = np.tile(clip, int(np.ceil(seconds * SAMPLE_RATE / len(clip))))[: int(seconds * SAMPLE_RATE)]
gen.generate(audio[:SAMPLE_RATE], SAMPLE_RATE, style=0, steps=min(steps, 8))  # warm-up
if device.startswith("cuda"):
    torch.cuda.synchronize()
t0 = time.perf_counter()
take = gen.generate(audio, SAMPLE_RATE, style=0, seed=0, steps=steps, max_seconds=1e9)
if device.startswith("cuda"):
    torch.cuda.synchronize()
elapsed = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
x = take.offsets
speed = np.linalg.norm(np.diff(x, axis=0), axis=-1).mean(-1)  # per frame step
accel = np.linalg.norm(np.diff(x, 2, axis=0), axis=-1).mean(-1)
joins = np.zeros(len(x), bool)
overlap = int(OVERLAP_SECONDS * gen.fps)
for a, _ in windows(len(x), int(WINDOW_SECONDS * gen.fps), overlap)[1:]:
    joins[a:a + overlap] = True
ratio = lambda v: float(v[joins[:len(v)]].mean() / v[~joins[:len(v)]].mean()) if joins.any() else None
print(json.dumps({"seconds": seconds, "steps": take.steps, "compute_s": elapsed, "rtf": elapsed / seconds,
                  "peak_rss_mb": rss, "take_mb": x.nbytes / 2**20, "device": gen.device, "frames": len(x),
                  "joins": int(joins.sum() // max(1, overlap)), "join_speed": ratio(speed),
                  "join_accel": ratio(accel)}))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="", help="default: the bundled checkpoint")
    p.add_argument("--durations", type=float, nargs="+", default=[10.0, 60.0, 600.0])
    p.add_argument("--steps", nargs="+", default=["8", "full"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    args = p.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, threads {args.threads}")
    print("| audio s | steps | compute s | RTF | peak RSS MB | take MB | RSS - take MB | joins | speed at joins "
          "/ elsewhere | accel. at joins / elsewhere | device |\n" + "|---" * 11 + "|")
    for seconds in args.durations:
        for steps in args.steps:
            out = subprocess.run([sys.executable, "-c", CHILD, args.checkpoint, str(seconds), steps, args.device,
                                  str(args.threads)], capture_output=True, text=True)
            if out.returncode:
                print(out.stderr, file=sys.stderr)
                return out.returncode
            r = json.loads(out.stdout.strip().splitlines()[-1])
            ratios = [("–" if v is None else f"{v:.2f}") for v in (r["join_speed"], r["join_accel"])]
            print(f"| {r['seconds']:g} | {r['steps']} | {r['compute_s']:.2f} | {r['rtf']:.3f} | "
                  f"{r['peak_rss_mb']:.0f} | {r['take_mb']:.0f} | {r['peak_rss_mb'] - r['take_mb']:.0f} | "
                  f"{r['joins']} | {ratios[0]} | {ratios[1]} | {r['device']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
