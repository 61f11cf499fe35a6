"""Time writing 60 s of animation at 30 fps onto the FLAME template, in both modes.

Usage: python bench/bench_blender_write.py [--seconds 60] [--fps 30] [--basis 32]
Needs the ``bpy`` module and ../shared/flame/FLAME_sample.ply. Offsets are synthetic
(smooth random mouth-like motion): the writer's cost does not depend on their values,
and the basis error it reports is for this synthetic motion, not a trained model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import extension_package

ROOT = Path(__file__).resolve().parents[1]
FLAME = ROOT.parent / "shared" / "flame" / "FLAME_sample.ply"


def synthetic_offsets(frames: int, vertices: int, seed: int = 0) -> np.ndarray:
    """Low-rank smooth motion plus a little noise: shaped like real lip-sync offsets."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 30.0
    shapes = rng.standard_normal((24, vertices, 3)).astype(np.float32) * 0.002
    weights = np.stack([np.sin(t * (1.3 + 0.9 * k) + k) * np.exp(-k / 6) for k in range(24)], 1)
    noise = rng.standard_normal((frames, vertices, 3)).astype(np.float32) * 2e-5
    return np.einsum("tk,kvc->tvc", weights.astype(np.float32), shapes) + noise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--basis", type=int, default=32)
    args = parser.parse_args()
    if not FLAME.is_file():
        print(f"skipped: {FLAME} not found", file=sys.stderr)
        return 1
    import bpy

    writer = extension_package.load("diffusiontalker_addon.writer")
    frames = int(args.seconds * args.fps)
    print(f"{frames} frames onto {FLAME.name}; bpy {bpy.app.version_string}; {os.cpu_count()} CPUs")
    for mode in (writer.PER_FRAME, writer.BASIS):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.wm.ply_import(filepath=str(FLAME))
        obj = bpy.context.active_object
        offsets = synthetic_offsets(frames, len(obj.data.vertices))
        start = time.perf_counter()
        summary = writer.write_take(obj, offsets, "Take", 1, mode, basis_count=args.basis)
        write_s = time.perf_counter() - start
        start = time.perf_counter()
        writer.write_take(obj, offsets, "Take", 1, mode, basis_count=args.basis)
        rewrite_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            blend = os.path.join(tmp, "bench.blend")
            bpy.ops.wm.save_as_mainfile(filepath=blend, compress=False)
            size = os.path.getsize(blend)
        extra = (f", basis error rms {summary.rms_error * 1000:.4f} mm max {summary.max_error * 1000:.4f} mm"
                 if mode == writer.BASIS else "")
        print(f"{mode:9s}: write {write_s:.2f} s, re-write (replace take) {rewrite_s:.2f} s, "
              f"{summary.shape_keys} shape keys, .blend {size / 1e6:.1f} MB{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
