"""Render a strip of frames of the generated head, headless, for docs/images/.

Usage: python bench/render_blender_frames.py [--audio core/assets/example.wav] [--out docs/images/blender_frames.png]
Runs the real operator (batch path) on ../shared/flame/FLAME_sample.ply with the
bundled checkpoint, renders a few frames with Cycles on the CPU (no display or
GPU needed) and tiles them side by side.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

import extension_package

ROOT = extension_package.ROOT
FLAME = ROOT.parent / "shared" / "flame" / "FLAME_sample.ply"


def stage(scene, head) -> None:
    """Camera in front of the face (+z), a key and a fill light, a grey studio world."""
    import bpy

    head.data.polygons.foreach_set("use_smooth", np.ones(len(head.data.polygons), dtype=bool))
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.location, camera.rotation_euler = (0.0, -0.01, 0.55), (0.0, 0.0, 0.0)
    camera.data.lens = 70
    scene.collection.objects.link(camera)
    scene.camera = camera
    for name, location, energy in (("Key", (0.3, 0.3, 0.5), 30.0), ("Fill", (-0.4, 0.0, 0.4), 10.0)):
        light = bpy.data.objects.new(name, bpy.data.lights.new(name, "AREA"))
        light.data.energy, light.data.size = energy, 0.4
        light.location = location
        light.rotation_euler = (math.atan2(-location[1], location[2]), math.atan2(location[0], location[2]), 0.0)
        scene.collection.objects.link(light)
    world = bpy.data.worlds.new("Studio")
    world.color = (0.05, 0.05, 0.06)
    scene.world = world
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 16
    scene.render.resolution_x = scene.render.resolution_y = 360


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, default=ROOT / "core" / "assets" / "example.wav")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "blender_frames.png")
    parser.add_argument("--frames", type=int, default=4)
    args = parser.parse_args()
    if not FLAME.is_file():
        print(f"needs {FLAME}", file=sys.stderr)
        return 1
    addon = extension_package.load("diffusiontalker_addon")
    addon.register()
    try:
        return render(args)
    finally:
        addon.unregister()  # Blender unregisters installed add-ons at exit; without it, exit deadlocks


def render(args) -> int:
    import bpy
    from PIL import Image

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.ply_import(filepath=str(FLAME))
    head = bpy.context.active_object
    bpy.ops.diffusiontalker.generate(audio=str(args.audio), seed=0, device="cpu")
    scene = bpy.context.scene
    stage(scene, head)
    picks = np.linspace(scene.frame_start, scene.frame_end, args.frames + 2)[1:-1].round().astype(int)
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for frame in picks:
            scene.frame_set(int(frame))
            scene.render.filepath = f"{tmp}/frame_{frame:04d}.png"
            bpy.ops.render.render(write_still=True)
            tiles.append(Image.open(scene.render.filepath).convert("RGB"))
    strip = Image.new("RGB", (sum(t.width for t in tiles), tiles[0].height))
    for i, tile in enumerate(tiles):
        strip.paste(tile, (i * tile.width, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    strip.save(args.out, optimize=True)
    print(f"wrote {args.out} (frames {', '.join(map(str, picks))}; {scene.diffusiontalker.last_report})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
