"""A take on a head of another topology: does it open and close with FLAME's, and how
long does fitting take?

    .venv/bin/python bench/bench_any_head.py [--checkpoint CK] [--audio WAV] [--seed 0]

The bundled model animates the audio (core/assets/example.wav by default) on FLAME.
The heads are FLAME_sample.ply remeshed (every triangle split in four or nine, or in
four twice, every vertex slid up to a third of the way to a neighbour, so no vertex is
FLAME's) and widened by 30%: 20k, 45k and 80k vertices. Each is registered from
scratch with automatic landmarks, the take carried across in both modes, and the lip
aperture (mid upper lip over mid lower lip) compared frame by frame: its correlation
with FLAME's, and how far it stays from FLAME's at the frames where FLAME's lips are
back together (p, b, m). The take also drives a FLAME head carrying ARKit-named keys
(tests/heads.py), and the lips rebuilt from the solved weights are compared with the
take's. Last, the 20k head is fitted with a cap joined to it, leaning, nodding, looking up, and facing backwards. Times are wall clock and process CPU time on this machine, which may be
shared. The results go to docs/benchmarks.md.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from heads import arkit_keys, flame, remeshed  # noqa: E402

from diffusiontalker.checkpoint import BUNDLED  # noqa: E402
from diffusiontalker.pipeline import Generator  # noqa: E402
from diffusiontalker.regions import SHARED_FLAME  # noqa: E402
from diffusiontalker.rig_solve import flame_basis, solve_weights  # noqa: E402
from diffusiontalker.transfer import lip_pair, register, transfer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(BUNDLED))
    parser.add_argument("--audio", default=str(ROOT / "core" / "assets" / "example.wav"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    mesh, masks, template = flame(SHARED_FLAME)
    take = Generator.load(args.checkpoint, device="cpu").generate(args.audio, seed=args.seed)
    offsets = take.offsets
    up, low = template.landmarks["upper_lip"], template.landmarks["lower_lip"]
    flame_gap = offsets[:, up, 1] - offsets[:, low, 1]
    closed = flame_gap < flame_gap.min() + 0.0005
    print(f"take: {len(offsets)} frames, FLAME aperture {1000 * flame_gap.min():.2f}..{1000 * flame_gap.max():.2f} mm,"
          f" {closed.sum()} frames closed (within 0.5 mm of its tightest)")

    keys = arkit_keys(mesh.vertices, mesh.faces, masks)
    start = time.perf_counter()
    weights = solve_weights(offsets, flame_basis(keys, template), template)
    solved = time.perf_counter() - start
    rebuilt = sum(weights[name][:, None, None] * keys[name][None] for name in weights)
    lips = template.masks["lips"]
    print(f"ARKit rig ({len(keys)} keys from SynthTalk's articulation): solved in {solved:.2f} s, lip vertices "
          f"{1000 * np.linalg.norm(rebuilt[:, lips] - offsets[:, lips], axis=-1).mean():.3f} mm mean error "
          f"(the take moves them {1000 * np.linalg.norm(offsets[:, lips], axis=-1).mean():.3f} mm on average)")

    heads = [remeshed(mesh.vertices, mesh.faces, parts=parts) for parts in (2, 3)]
    heads.append(remeshed(*heads[0], widen=1.0, seed=1))  # split and slid twice
    for vertices, faces in heads:
        start, cpu = time.perf_counter(), time.process_time()
        registration = register(template, vertices, faces)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        upper, lower = lip_pair(registration, template)
        for mode in ("deformation", "offsets"):
            moved = transfer(offsets, registration, template, mode)
            gap = moved[:, upper, 1].mean(1) - moved[:, lower, 1].mean(1)
            print(f"{len(vertices)} vertices, registered in {seconds:.1f} s ({cpu:.1f} s CPU); {mode}: "
                  f"aperture correlation "
                  f"{np.corrcoef(flame_gap, gap)[0, 1]:.4f}, at FLAME's closures within "
                  f"{1000 * np.abs(gap - flame_gap)[closed].max():.2f} mm (max), range "
                  f"{1000 * gap.min():.2f}..{1000 * gap.max():.2f} mm")
    harder_heads(template, *heads[0])


def harder_heads(template, vertices, faces) -> None:
    """What the 20k head costs to fit with a cap joined to it (each large piece offers a
    nose, each costs a global fit); leaning to a side or turned about its vertical
    (straightened by its symmetry first); to refuse when it faces backwards (a poor
    upright fit is tried turned four ways, to name the one it stands in); nodding or
    looking up (none of the turns fits clearly, then four small tilts are tried). Vertex
    i < 5023 of each began as FLAME vertex i, so the fitted template's face is compared
    with where it should be."""
    from heads import cap, with_pieces

    from diffusiontalker.registration import RegistrationError, fit, rotation

    upright = np.asarray(vertices)
    heads = {"a cap joined": with_pieces(vertices, faces, cap(template)),
             "leaning 20°": (upright @ rotation(2, 20), faces),
             "turned 20° about its vertical": (upright @ rotation(1, -20), faces),
             "nodding 30°": (upright @ rotation(0, 30), faces), "looking up 15°": (upright @ rotation(0, -15), faces),
             "facing backwards": (upright * [-1.0, 1.0, -1.0], faces)}
    face = template.masks["face"]
    for name, (head, tris) in heads.items():
        start, cpu = time.perf_counter(), time.process_time()
        try:
            fitted = fit(template, head, tris)
            error = 1000 * np.linalg.norm(fitted.flame - head[:len(fitted.flame)], axis=1)
            what = (f"fitted, nose tip {error[template.landmarks['nose_tip']]:.1f} mm off, the face's median "
                    f"{np.median(error[face]):.1f} mm")
        except RegistrationError as exc:
            what = f"refused: {str(exc).split(':')[0]}"
        print(f"{len(head)} vertices, {name}: {what} in {time.perf_counter() - start:.1f} s "
              f"({time.process_time() - cpu:.1f} s CPU)")


if __name__ == "__main__":
    main()
