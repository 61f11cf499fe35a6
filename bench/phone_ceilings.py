"""What the phones allow: how far a take's mouth can follow the phones it is scored on.

    .venv/bin/python bench/phone_ceilings.py [--data data/synthtalk2_real] [--every 6] [--limit N]

Two numbers bound the openness r of bench/real_voices.py, and this prints both:

1. Each training style's own articulation of the scored lines' aligned phones (SynthTalk's
   rig, that speaker's gains, reach and lead), scored like a take: a model that rendered
   a style perfectly would score this, not the neutral phone-timed reference.
2. The training clips' true motion scored against the phones the front-end gives the
   model for them (aligned to the clip's text, and recognised): how closely the targets
   follow the model's input. Where they follow it loosely, the model learns to hedge.

Real voice lines come from bench/real_voices.py's table (``--limit`` per speaker);
training clips are every ``--every``-th of the folder's train split, with its
front-end cache (``frontend.json``, made by training on the folder once).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT / "data" / "synthtalk2_real",
                   help="SynthTalk generator-2 folder with its front-end cache")
    p.add_argument("--every", type=int, default=6, help="score every N-th train clip (default: 6)")
    p.add_argument("--limit", type=int, default=None, help="at most N real lines per speaker (default: all)")
    args = p.parse_args(argv)

    import real_training
    import real_voices

    from diffusiontalker.clip_phones import CACHE
    from diffusiontalker.data import load_synthtalk, synthtalk_manifest
    from diffusiontalker.evaluate import phone_timed_reference, phonetic_scores
    from diffusiontalker.synthtalk.build import FPS

    rig, template, lips = real_voices.scoring_rig()

    def r_of(offsets, phones, fps=FPS):
        return phonetic_scores(offsets, template, fps, phones, lips)["openness_r"]

    manifest = synthtalk_manifest(args.data)
    styles = {"neutral": None} | {name: style for name, style in real_training.styles_of(manifest).items()
                                  if name in manifest["train_speakers"]}
    per_style, lines = defaultdict(list), 0
    for *_, wave, phones in real_voices.scorable(real_voices.DEFAULT_CACHE, args.limit):
        frames = int(len(wave) / 16000 * FPS)
        for name, style in styles.items():
            r = r_of(phone_timed_reference(rig, phones, FPS, frames, style), phones)
            if r is not None:
                per_style[name].append(r)
        lines += 1
    print(f"1. each style articulating the aligned phones of {lines} real lines: openness r")
    print("| style | " + " | ".join(per_style) + " |\n|---|" + "---|" * len(per_style))
    print("| r | " + " | ".join(f"{np.mean(v):.3f}" for v in per_style.values()) + " |")

    cache = json.loads((args.data / CACHE).read_text(encoding="utf-8"))["clips"]
    following = defaultdict(list)
    for clip in load_synthtalk(args.data, "train")[::args.every]:
        heard = cache.get(clip.name)
        if heard is None:
            continue
        kind = "real voice lines" if "_real" in clip.name else "espeak clips"
        for source in ("aligned", "recognised"):
            if heard[source]:
                r = r_of(clip.vertices - clip.template[None], heard[source], clip.fps)
                if r is not None:
                    following[(kind, source)].append(r)
    print(f"\n2. training motion of {args.data.name} scored against the model's input phones: openness r")
    print("| clips | aligned phones | recognised phones |\n|---|---|---|")
    for kind in ("espeak clips", "real voice lines"):
        cells = [following[(kind, s)] for s in ("aligned", "recognised")]
        print(f"| {kind} | " + " | ".join(f"{np.mean(c):.3f} ({len(c)})" if c else "–" for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
