"""Regenerate docs/images/synthtalk_styles.png: every SynthTalk speaker on the same phones.

    .venv/bin/python docs/make_synthtalk_sheet.py [--template ../shared/flame/FLAME_sample.ply]

Rows are speakers, columns the frames where each says the middle of the same phone
of one sentence (the same hand-made ARPAbet timings for all, so only the style
differs), so jaw versus lips, rounding, asymmetry, smile and pout can be compared at a
glance. Rendered with matplotlib, headless, no GPU.
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
from diffusiontalker.synthtalk.articulate import articulate  # noqa: E402
from diffusiontalker.synthtalk.build import default_template, load_rig  # noqa: E402
from diffusiontalker.synthtalk.phones import to_classes  # noqa: E402
from diffusiontalker.synthtalk.speakers import STYLES  # noqa: E402

SENTENCE = "Bob saw two blue moons, she said."
FPS = 30.0
_WORDS = [("sil", 0.3), ("B", 0.07), ("AA1", 0.14), ("B", 0.07), ("S", 0.1), ("AO1", 0.16), ("T", 0.07),
          ("UW1", 0.14), ("B", 0.06), ("L", 0.06), ("UW1", 0.14), ("M", 0.07), ("UW1", 0.16), ("N", 0.06),
          ("Z", 0.08), ("sp", 0.2), ("SH", 0.11), ("IY1", 0.15), ("S", 0.1), ("EH1", 0.13), ("D", 0.06),
          ("sil", 0.4)]
PHONES = [(round(sum(d for _, d in _WORDS[:i]), 3), round(sum(d for _, d in _WORDS[:i + 1]), 3), p)
          for i, (p, _) in enumerate(_WORDS)]
COLUMNS = [(1, "b (closed)"), (2, "aa (open)"), (5, "ao (open, round)"), (12, "uw (round)"), (17, "iy (spread)")]


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
    phones, _ = to_classes(PHONES)
    fig, axes = plt.subplots(len(STYLES), len(COLUMNS), figsize=(1.5 * len(COLUMNS) + 2.6, 1.35 * len(STYLES)))
    for row, style in enumerate(STYLES):
        offsets = articulate(rig, style, phones, FPS)
        for col, (index, title) in enumerate(COLUMNS):
            start, end, _ = PHONES[index]
            frame = min(len(offsets) - 1, int(round(0.5 * (start + end) * FPS)))
            draw(axes[row, col], rig.template + offsets[frame], faces)
            if row == 0:
                axes[row, col].set_title(title, fontsize=9)
        axes[row, 0].set_ylabel(f"{style.name} {style.voice}\n{_wrapped(style.signature)}", fontsize=7.5,
                                rotation=0, ha="right", va="center")
    fig.suptitle(f'SynthTalk speakers on the same phones: "{SENTENCE}"', fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=60)
    print(f"wrote {args.out}")


def _wrapped(text: str, width: int = 26) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


if __name__ == "__main__":
    main()
