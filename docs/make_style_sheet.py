"""Regenerate docs/images/style_sheet.png: a checkpoint's styles on the same audio and seed.

    .venv/bin/python docs/make_style_sheet.py [--checkpoint CK] [--audio A.wav] [--seed 0]

Rows are the checkpoint's training styles at one seed, then one style at other seeds, so
the two kinds of difference sit side by side: if styles were visible beyond sampling
noise, the style rows would differ from each other more than the seed rows do. Each
row's label gives its mean lip-vertex distance (mm, 'lve' region, whole clip) from the
first row, the number bench/style_contrast.py compares. Columns are the frames where the
styles on average open the mouth widest in speech, plus the p/b/m that PocketSphinx hears (allphone
recognition, no transcript) where they close it most: a closure is where missing
contact shows. Rendered on FLAME_sample.ply with make_synthtalk_sheet's shading.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from make_synthtalk_sheet import draw, plt  # one renderer for every sheet in docs/images

from diffusiontalker.audio import SAMPLE_RATE, load_audio
from diffusiontalker.checkpoint import BUNDLED
from diffusiontalker.evaluate import mouth_opening
from diffusiontalker.mesh import read_mesh
from diffusiontalker.phonetics import recognise
from diffusiontalker.pipeline import Generator
from diffusiontalker.regions import SHARED_FLAME, load_regions, mouth_landmarks
from diffusiontalker.synthtalk.articulate import style_distance

BILABIAL = {"p", "b", "m"}


def pick_frames(openings: np.ndarray, phones, fps: float, wide: int, gap: int) -> list[tuple[int, str]]:
    """``wide`` widest-open frames at least ``gap`` apart, then the most closed p/b/m
    middle: the poses where a style's jaw and its lip contact show."""
    mean = openings.mean(0)
    speech = np.zeros(len(mean), bool)  # a mouth open in a pause is the model's idling, not speech
    for a, b, p in phones:
        if p != "sil":
            speech[int(round(a * fps)):int(round(b * fps)) + 1] = True
    edge = int(0.2 * fps)  # the clip's first and last frames hear audio on one side only
    speech[:edge] = speech[len(speech) - edge:] = False
    picked: list[int] = []
    for f in np.argsort(np.where(speech, -mean, np.inf)):
        if all(abs(int(f) - p) >= gap for p in picked):
            picked.append(int(f))
        if len(picked) == wide:
            break
    columns = [(f, f"open {f / fps:.2f} s") for f in sorted(picked)]
    closures = [(min(len(mean) - 1, int(round(0.5 * (a + b) * fps))), p) for a, b, p in phones if p in BILABIAL]
    if closures:
        frame, phone = min(closures, key=lambda c: mean[c[0]])
        columns.append((frame, f"{phone} (closed) {frame / fps:.2f} s"))
    return columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="checkpoint .json (default: the bundled demo)")
    parser.add_argument("--audio", default=str(BUNDLED.parent / "example.wav"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seed-style", default=None, help="the style shown at other seeds (default: the first)")
    parser.add_argument("--other-seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--template", type=Path, default=SHARED_FLAME / "FLAME_sample.ply")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "images" / "style_sheet.png")
    args = parser.parse_args()
    torch.set_num_threads(2)
    gen = Generator.load(args.checkpoint)
    names = list(gen.model.bank.names)
    seed_style = args.seed_style or names[0]
    wave = load_audio(args.audio)
    rows = [(n, args.seed, gen.generate(wave, SAMPLE_RATE, style=n, seed=args.seed).offsets) for n in names]
    rows += [(seed_style, s, gen.generate(wave, SAMPLE_RATE, style=seed_style, seed=s).offsets)
             for s in args.other_seeds]

    mesh = read_mesh(args.template)
    template = np.asarray(mesh.vertices, dtype=np.float32)
    faces = np.array([f for f in mesh.faces if len(f) == 3])
    lips = load_regions(SHARED_FLAME / "FLAME_masks.json", len(template), ("lips",))["lips"]
    lve = load_regions(SHARED_FLAME / "vocaset_eval_regions.json", len(template), ("lve",))["lve"]
    upper, lower = mouth_landmarks(template, lips)
    openings = np.stack([mouth_opening(o + template, template, upper, lower) for _, _, o in rows[:len(names)]])
    columns = pick_frames(openings, recognise(wave), gen.fps, wide=3, gap=int(gen.fps // 3))
    reference = next(o for n, s, o in rows if n == seed_style and s == args.seed)

    fig, axes = plt.subplots(len(rows), len(columns), figsize=(1.7 * len(columns) + 1.6, 1.3 * len(rows)),
                             squeeze=False)
    for r, (name, seed, offsets) in enumerate(rows):
        for c, (frame, title) in enumerate(columns):
            ax = axes[r, c]
            draw(ax, template + offsets[frame], faces)
            ax.set_xlim(-0.035, 0.035)  # closer than the synthtalk sheet: the mouth is where styles differ
            ax.set_ylim(-0.072, -0.027)
            if r == 0:
                ax.set_title(title, fontsize=8)
        distance = style_distance(offsets, reference, lve) * 1000
        kind = "seed" if r >= len(names) else "style"
        axes[r, 0].set_ylabel(f"{name} seed {seed}\n{kind}: {distance:.2f} mm", fontsize=7.5, rotation=0,
                              ha="right", va="center", color="tab:blue" if kind == "seed" else "black")
    fig.suptitle(f"{Path(args.audio).name}, {gen.checkpoint_id()[:30]}: styles at seed {args.seed}, then "
                 f"{seed_style} at other seeds\n(mm: lip distance from {seed_style} seed {args.seed})",
                 fontsize=8.5)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=70)
    print(f"wrote {args.out}: columns " + ", ".join(t for _, t in columns))


if __name__ == "__main__":
    main()
