"""SynthTalk's articulation measured on phone timings that did not come from espeak-ng.

    .venv/bin/python bench/synthtalk_styles.py [--phones bench/phones/harvard.json]

Prints two markdown tables for docs/synthtalk.md: per speaker, the mean vertical lip
aperture (mm) over each phone class, and the pairwise style distance (mean
lip-vertex distance between two speakers articulating the same phones, FLAME
``lips`` mask): its minimum, mean and the closest pairs.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from diffusiontalker.synthtalk.articulate import aperture, articulate, jaw_drop, per_phone, read_phones, style_distance
from diffusiontalker.synthtalk.build import default_template, load_rig
from diffusiontalker.synthtalk.speakers import STYLES

GROUPS = {"open": "aa ae ah ao aw ay", "mid": "eh er ey ow oy ax", "close": "iy ih uw uh",
          "approximant": "w y r", "alveolar": "t d n l sh ch jh", "s z": "s z", "rounded": "uw w ow",
          "f v": "f v", "p b m": "p b m"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=Path, default=Path(__file__).with_name("phones") / "harvard.json")
    parser.add_argument("--fps", type=float, default=100.0)
    args = parser.parse_args()
    rig = load_rig(default_template())
    phones, alphabet = read_phones(args.phones)
    if alphabet != "arpabet":
        raise SystemExit("the class table groups ARPAbet phones; give an ARPAbet file")
    raw = json.loads(args.phones.read_text())
    lips = np.asarray(json.loads(default_template().with_name("FLAME_masks.json").read_text())["lips"])
    print(f"Mean vertical lip aperture (mm) per phone class, {args.phones.name}, {args.fps:g} fps; "
          "last column: mean jaw drop on s z (mm) and the phone whose jaw is highest\n")
    print("| speaker | " + " | ".join(GROUPS) + " | jaw s z | highest jaw |")
    print("| --- |" + " ---: |" * len(GROUPS) + " ---: | --- |")
    takes = {}
    for style in STYLES:
        offsets = articulate(rig, style, phones, args.fps)
        gap = per_phone(aperture(rig, offsets) * 1000, args.fps, raw)
        jaw = per_phone(jaw_drop(rig, offsets) * 1000, args.fps, raw)
        row = [np.mean([gap[p] for p in group.split() if p in gap]) for group in GROUPS.values()]
        highest = min((p for p in jaw if p != "sil"), key=jaw.get)
        print(f"| {style.name} | " + " | ".join(f"{v:.1f}" for v in row)
              + f" | {np.mean([jaw['s'], jaw['z']]):.1f} | {highest} |")
        takes[style.name] = offsets[::int(round(args.fps / 30)), lips]
    names = list(takes)
    pairs = {(a, b): style_distance(takes[a], takes[b], np.arange(len(lips))) * 1000
             for a, b in itertools.combinations(names, 2)}
    closest = sorted(pairs.items(), key=lambda kv: kv[1])[:5]
    print(f"\nPairwise style distance over {len(pairs)} pairs: min {min(pairs.values()):.2f} mm, "
          f"mean {np.mean(list(pairs.values())):.2f} mm; closest: "
          + ", ".join(f"{a}/{b} {d:.2f}" for (a, b), d in closest))


if __name__ == "__main__":
    main()
