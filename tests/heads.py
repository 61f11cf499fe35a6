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


def remeshed(vertices, faces, widen=1.3, slide=0.35, seed=0, parts=2):
    """Another topology of the same head: every triangle split into ``parts``² (its edges
    cut in ``parts``), every vertex slid up to ``slide`` of the way to a random neighbour
    (so none sits on a FLAME vertex), then widened. Vertex i < len(vertices) began as
    FLAME vertex i."""
    v, tris = split(np.asarray(vertices, np.float64), np.asarray(faces), parts)
    rng = np.random.default_rng(seed)
    ends = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])[rng.permutation(3 * len(tris))]
    neighbour = np.empty(len(v), np.int64)
    neighbour[ends[:, 0]] = ends[:, 1]
    moved = v + rng.uniform(0, slide, (len(v), 1)) * (v[neighbour] - v)
    moved[:, 0] *= widen
    return moved, tris.tolist()


def split(v, f, k):
    """Each triangle cut into k² along a barycentric grid; points on a shared edge are shared."""
    edge_ends = np.stack([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], 1)           # (F, 3, 2)
    pairs, inverse = np.unique(np.sort(edge_ends.reshape(-1, 2), 1), axis=0, return_inverse=True)
    edge_of = inverse.ravel().reshape(-1, 3)
    inner = [(p, q) for p in range(1, k) for q in range(1, k - p)]
    ids = {}
    for p in range(k + 1):
        for q in range(k + 1 - p):
            r = k - p - q  # weights (r, p, q) on corners (a, b, c)
            weights = {0: r, 1: p, 2: q}
            zero = [c for c in range(3) if weights[c] == 0]
            if len(zero) == 2:
                ids[p, q] = f[:, 3 - sum(zero)]
            elif len(zero) == 1:
                e = (zero[0] + 1) % 3  # the edge opposite the missing corner: (c0, c1) = edge e's ends
                c0 = e
                start = edge_ends[:, e, 0] == pairs[edge_of[:, e], 0]  # the edge runs from its smaller end
                step = np.where(start, k - weights[c0], weights[c0])
                ids[p, q] = len(v) + edge_of[:, e] * (k - 1) + step - 1
            else:
                ids[p, q] = len(v) + len(pairs) * (k - 1) + np.arange(len(f)) * len(inner) + inner.index((p, q))
    t = np.arange(1, k)[:, None] / k
    on_edges = (v[pairs[:, 0], None] * (1 - t) + v[pairs[:, 1], None] * t).reshape(-1, 3)
    corners = v[f]
    inside = [(corners[:, 0] * (k - p - q) + corners[:, 1] * p + corners[:, 2] * q) / k for p, q in inner]
    points = np.concatenate([v, on_edges] + ([np.stack(inside, 1).reshape(-1, 3)] if inner else []))
    cells = [((p, q), (p + 1, q), (p, q + 1)) for p in range(k) for q in range(k - p)]
    cells += [((p + 1, q), (p + 1, q + 1), (p, q + 1)) for p in range(k - 1) for q in range(k - 1 - p)]
    return points, np.concatenate([np.stack([ids[a], ids[b], ids[c]], 1) for a, b, c in cells])


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


def box(centre, size):
    """(8 corners, 12 triangles) of an axis-aligned box: a stand-in for a row of teeth."""
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) * np.asarray(size) / 2
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    return corners + centre, [t for q in quads for t in ([q[0], q[1], q[2]], [q[0], q[2], q[3]])]


def with_pieces(vertices, faces, pieces):
    """The head with loose pieces ((corners, triangles) each) joined into its mesh, as a
    modeller joins teeth into a head; the pieces' vertices come last, in order."""
    vertices, faces = [np.asarray(vertices)], list(faces)
    for corners, tris in pieces:
        n = sum(map(len, vertices))
        vertices.append(corners)
        faces += [[n + i for i in t] for t in tris]
    return np.concatenate(vertices), faces


def drooping_sheet(y, z_from, z_to, half_width, droop=0.02, n=20, facing_down=True):
    """A cap's peak modelled as one sheet (as modellers often make it), drooping ``droop``
    at its front edge; its triangles wound so its normals face down (or up)."""
    x, z = np.meshgrid(np.linspace(-half_width, half_width, n), np.linspace(z_from, z_to, n), indexing="ij")
    corners = np.stack([x, y - droop * ((z - z_from) / (z_to - z_from)) ** 2, z], -1).reshape(-1, 3)
    i = np.arange(n * n).reshape(n, n)
    a, b, c, d = (i[:-1, :-1].ravel(), i[1:, :-1].ravel(), i[1:, 1:].ravel(), i[:-1, 1:].ravel())
    tris = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    normal_y = np.cross(corners[tris[:, 1]] - corners[tris[:, 0]], corners[tris[:, 2]] - corners[tris[:, 0]])[:, 1]
    if (normal_y.mean() < 0) != facing_down:
        tris = tris[:, [0, 2, 1]]
    return corners, tris.tolist()


def cap(template, widen=(1.3, 1.0, 1.0), sheet=False):
    """A cap's two pieces for a head like the template (``widen``: how much wider it is):
    a peak 6 cm above the nose tip jutting 2 cm past the face (a slab, or one drooping
    sheet facing down), and a crown standing above the skull."""
    v, widen = template.vertices, np.asarray(widen)
    brow = v[template.landmarks["nose_tip"], 1] + 0.06
    peak = (drooping_sheet(brow, 0.03, v[:, 2].max() + 0.04, 0.13) if sheet else
            box(np.array([0, brow, v[:, 2].max() + 0.02]) * widen, [0.23, 0.01, 0.12]))
    return [peak, box(np.array([0, v[:, 1].max() + 0.02, -0.01]) * widen, [0.26, 0.08, 0.16])]


def lower_row(template, widen=(1.0, 1.0, 1.0), width=0.042):
    """A stand-in for the lower teeth: a box just below the lips' contact line, behind them."""
    centre = [0, template.mouth_line_y - 0.006, template.vertices[template.mouth, 2].max() - 0.014]
    return box(np.array(centre) * widen, [width, 0.008, 0.012])
