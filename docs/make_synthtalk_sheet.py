"""Regenerate docs/images/synthtalk_styles.png: every SynthTalk speaker on the same phonemes.

    PYTHONPATH=.shim python docs/make_synthtalk_sheet.py [--template ../shared/flame/FLAME_sample.ply]

Rows are speakers, columns the frames where each says the middle of the same
phoneme of one sentence, so the styles (jaw versus lips, rounding, asymmetry,
smile, brows) can be compared at a glance. Rendered with matplotlib, no GPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from diffusiontalker.mesh import read_mesh  # noqa: E402
from diffusiontalker.synthtalk.build import FPS, default_template, load_rig, make_clip  # noqa: E402
from diffusiontalker.synthtalk.speakers import STYLES  # noqa: E402

SENTENCE = "Bob saw two blue moons, she said."
COLUMNS = [("b", "b (closed)"), ("O:", "O: (open, round)"), ("u:", "u: (round)"), ("i:", "i: (spread)")]


def draw(ax, verts: np.ndarray, faces: np.ndarray) -> None:
    """Front view, Lambert-shaded, back to front (painter's algorithm)."""
    tri = verts[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    keep = (normal[:, 2] > 0) & (tri[:, :, 2].mean(1) > -0.02)
    order = np.argsort(tri[keep][:, :, 2].mean(1))
    shade = np.clip(normal[keep][order] @ np.array([0.3, 0.4, 0.87]), 0.05, 1.0)
    colours = np.outer(shade, [0.93, 0.78, 0.68])
    ax.add_collection(PolyCollection(tri[keep][order][:, :, :2], facecolors=colours, edgecolors=colours, linewidths=0.3))
    ax.set_xlim(-0.05, 0.05)  # the lower face: mouth, jaw and cheeks
    ax.set_ylim(-0.095, -0.01)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("0.15")  # the open mouth shows as dark, as a mouth does


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "images" / "synthtalk_styles.png")
    args = parser.parse_args()
    template = args.template or default_template()
    rig = load_rig(template)
    faces = np.array([f for f in read_mesh(template).faces if len(f) == 3])
    fig, axes = plt.subplots(len(STYLES), len(COLUMNS), figsize=(2.2 * len(COLUMNS) + 1.2, 2.0 * len(STYLES)))
    for row, style in enumerate(STYLES):
        _, frames, phonemes = make_clip(rig, SENTENCE, style, seed=0)
        for col, (phoneme, title) in enumerate(COLUMNS):
            start, end = next((s, e) for s, e, p in phonemes if p == phoneme)
            frame = min(len(frames) - 1, int(round((0.5 * (start + end) - style.lead_s) * FPS)))
            draw(axes[row, col], frames[frame].astype(np.float64), faces)
            if row == 0:
                axes[row, col].set_title(title, fontsize=10)
        axes[row, 0].set_ylabel(f"{style.name}\n{style.voice}", fontsize=8)
    fig.suptitle(f'SynthTalk speakers saying "{SENTENCE}"', fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
