"""Heads that are not FLAME's topology, and speech-like FLAME motion, built from the
template in ../shared/flame for the registration tests and bench/bench_any_head.py."""

import json

import numpy as np

from diffusiontalker.mesh import read_mesh
from diffusiontalker.registration import load_template
from diffusiontalker.synthtalk.articulation import animate, build_rig, coarticulate_classes
from diffusiontalker.synthtalk.regions import find_regions
from diffusiontalker.synthtalk.speakers import Style

SENTENCE = ("bilabial", "open", "bilabial", "mid_round", "alveolar", "open_front", "bilabial", "close_front",
            "labiodental", "open", "bilabial", "mid", "velar", "open_round", "bilabial")


def flame(flame_dir):
    """(mesh, masks, Template) of FLAME_sample.ply."""
    mesh = read_mesh(flame_dir / "FLAME_sample.ply")
    masks = json.loads((flame_dir / "FLAME_masks.json").read_text(encoding="utf-8"))
    return mesh, masks, load_template(mesh.vertices, mesh.faces, masks)


def remeshed(vertices, faces, widen=1.3, slide=0.35, seed=0):
    """Another topology of the same head: every triangle split in four, every vertex slid
    up to ``slide`` of the way to a random neighbour (so none sits on a FLAME vertex),
    then widened. Vertex i < len(vertices) began as FLAME vertex i."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces)
    halves = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), 1)
    pairs, inverse = np.unique(halves, axis=0, return_inverse=True)
    ab, bc, ca = len(v) + inverse.ravel().reshape(3, -1)
    a, b, c = f.T
    tris = np.concatenate([np.stack(t, 1) for t in ([a, ab, ca], [ab, b, bc], [ca, bc, c], [ab, bc, ca])])
    split = np.concatenate([v, v[pairs].mean(1)])
    rng = np.random.default_rng(seed)
    ends = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])[rng.permutation(3 * len(tris))]
    neighbour = np.empty(len(split), np.int64)
    neighbour[ends[:, 0]] = ends[:, 1]
    moved = split + rng.uniform(0, slide, (len(split), 1)) * (split[neighbour] - split)
    moved[:, 0] *= widen
    return moved, tris.tolist()


def speech_motion(vertices, faces, masks, fps=30.0, phone_s=0.12):
    """(T, V, 3) offsets of SynthTalk's articulation saying SENTENCE, with a blink."""
    rig = build_rig(vertices, find_regions(vertices, faces, masks))
    phones = [(0.2 + i * phone_s, 0.2 + (i + 1) * phone_s, (c,)) for i, c in enumerate(SENTENCE)]
    duration = phones[-1][1] + 0.2
    n = int(duration * fps)
    style = Style("test", "en")
    controls = coarticulate_classes(phones, duration, n, fps, style)
    controls["brow"] = np.zeros(n)
    controls["blink"] = np.exp(-((np.arange(n) - n // 2) / 2.0) ** 2)
    return animate(rig, controls, style) - rig.template[None].astype(np.float32)


def arkit_keys(vertices, faces, masks):
    """ARKit-named shape keys for a FLAME head, made from SynthTalk's articulation rig: each
    key one control at full strength (split into left and right halves where ARKit
    splits it), and mouthClose the corrective that shuts the lips on an open jaw."""
    rig = build_rig(vertices, find_regions(vertices, faces, masks))
    style = Style("test", "en")
    rest = {k: np.zeros(1) for k in ("active", "close", "labiodental", "compress", "lips", "round", "spread",
                                     "jaw", "brow", "blink")}

    def pose(**controls):
        return animate(rig, {**rest, **{k: np.full(1, v) for k, v in controls.items()}}, style)[0] - rig.template

    left, right = (1 + rig.side)[:, None] / 2, (1 - rig.side)[:, None] / 2
    lips = rig.fields["lips"]
    up, down = np.where(lips > 0, lips, 0.0), np.where(lips < 0, lips, 0.0)
    keys = {"jawOpen": pose(jaw=1.0), "mouthClose": pose(jaw=1.0, close=1.0) - pose(jaw=1.0),
            "mouthFunnel": rig.fields["round"], "mouthRollLower": rig.fields["labiodental"],
            "mouthPucker": rig.fields["pout"]}
    for name, field in (("mouthStretch", rig.fields["spread"]), ("mouthSmile", rig.fields["smile"]),
                        ("mouthUpperUp", up), ("mouthLowerDown", down), ("eyeBlink", rig.fields["blink"])):
        keys[f"{name}_L"], keys[f"{name}_R"] = field * left, field * right
    return {name: delta.astype(np.float32) for name, delta in keys.items()}
