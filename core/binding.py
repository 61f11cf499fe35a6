"""Bind each vertex of a character's head to a point of the template fitted onto it.

The nearest point of the fitted template is the right anchor almost everywhere, but
not where two surfaces touch that must part: the lips, and the eyelids. A vertex on
the character's upper lip may lie nearer the template's lower lip (the lips touch,
and the fit is not exact), and bound there it would drop with the jaw and tear the
mouth open. So near the mouth and each eye, the character's vertices are first told
apart as upper or lower by their distance *along the character's own surface* from
clearly-upper and clearly-lower seeds (the two lips meet only at the corners, the
lids only at the eye's corners), and each may bind only to template triangles of its
own side. Character eyeballs (separate pieces that sit on the template's eyeballs)
bind to the template's eyeballs and nothing else binds there.

Teeth and a tongue modelled into the head (separate pieces inside the mouth, which
FLAME lacks) would otherwise bind to the nearest lip: a row of teeth across the lips'
contact line tore in two, and the lower row followed every lip gesture. Each such
piece moves as a whole instead: above the contact line it keeps still with the skull;
below it, it follows one point of the chin, which moves with the jaw and not with the lips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .registration import Fit, Template
from .surface import closest_on_triangles, components, edges, nearest, surface_distances, triangles

SIDES = ("free", "upper_lip", "lower_lip", "left_upper_lid", "left_lower_lid",
         "right_upper_lid", "right_lower_lid", "eyeball", "upper_teeth", "lower_teeth")
PAIRS = ((1, 2), (3, 4), (5, 6))
ZONE_M = 0.004      # a character vertex this near a split region (template metres) is split too
SEED_MARGIN_M = 0.004  # seeds lie at least this much nearer their own side
FULL_REACH_M, NO_REACH_M = 0.005, 0.025  # motion fades out between these distances from the template
CHUNK = 4096
LID_SEED_M = 0.006  # lid seeds lie this far above or below the eyeball's centre
# A piece is in the mouth when its centre (in the template's frame) lies at least
# BEHIND_LIPS_M behind the lips' front, within the mouth corners and MOUTH_HEIGHT_M of
# the contact line, and it is smaller than MOUTH_PIECE_M across (not a second head).
BEHIND_LIPS_M, MOUTH_HEIGHT_M, MOUTH_PIECE_M = 0.004, 0.025, 0.08
# FLAME's vertex at the chin's front, 15 mm below the middle of the lips: the jaw moves it
# (1 cm down on the widest opening), the lips barely do. What the lower teeth follow,
# joined into the head or apart (tests/test_registration.py finds it again).
CHIN = 3502


@dataclass
class Binding:
    triangles: np.ndarray  # (N, 3) template vertex ids of the triangle each character vertex is on
    weights: np.ndarray    # (N, 3) its barycentric weights there
    reach: np.ndarray      # (N,) 1 on the face, fading to 0 for parts far from the template (hair, shoulders)
    side: np.ndarray       # (N,) index into SIDES


def template_sides(template: Template) -> tuple[np.ndarray, np.ndarray]:
    """Per template vertex: its side (SIDES index) and whether it is a clear seed of it."""
    n = len(template.vertices)
    side = np.zeros(n, np.int64)
    seed = np.zeros(n, bool)
    mouth = template.mouth
    lw = template.lower_weight[mouth]
    side[mouth[lw < 0.3]], side[mouth[lw > 0.7]] = 1, 2
    seed[mouth[(lw < 0.05) | (lw > 0.95)]] = True  # ~6 mm nearer one lip than the other
    body = _non_eyeball_tris(template)
    body_edges = edges(body)
    for (up, down), eye in zip(PAIRS[1:], ("left", "right")):
        region = template.masks[f"{eye}_eye_region"]
        upper, lower = _eye_lid_seeds(template, region, eye)
        d_up = surface_distances(template.vertices, body_edges, upper)[region]
        d_down = surface_distances(template.vertices, body_edges, lower)[region]
        side[region] = np.where(d_up < d_down, up, down)
        seed[region] = np.abs(d_up - d_down) > SEED_MARGIN_M
    side[_eyeballs(template)] = SIDES.index("eyeball")
    return side, seed


def _eyeballs(template: Template) -> np.ndarray:
    return np.concatenate([template.masks["left_eyeball"], template.masks["right_eyeball"]])


def _non_eyeball_tris(template: Template) -> np.ndarray:
    ball = np.zeros(len(template.vertices), bool)
    ball[_eyeballs(template)] = True
    return template.tris[~ball[template.tris].any(1)]


def _eye_lid_seeds(template: Template, region: np.ndarray, eye: str):
    """Eye-region vertices clearly on the upper and on the lower lid: in front of the
    eyeball's centre, within its width, and further above or below it than the lids
    part. FLAME's lids have no open edge (the socket is closed behind the eyeball), so
    the surface distance from these seeds is what tells the lids apart at the opening."""
    centre = template.vertices[template.masks[f"{eye}_eyeball"]].mean(0)
    v = template.vertices[region]
    front = (np.abs(v[:, 0] - centre[0]) < 0.012) & (v[:, 2] > centre[2])
    return region[front & (v[:, 1] > centre[1] + LID_SEED_M)], region[front & (v[:, 1] < centre[1] - LID_SEED_M)]


def bind(template: Template, fitted: Fit, vertices: np.ndarray, faces) -> Binding:
    target = np.asarray(vertices, np.float64)
    tris = triangles(faces)
    scale = abs(float(np.linalg.det(fitted.linear))) ** (1 / 3)
    flame_side, flame_seed = template_sides(template)
    side = _character_sides(template, fitted, target, tris, flame_side, flame_seed, scale)

    out_tri = np.zeros((len(target), 3), np.int64)
    out_w = np.zeros((len(target), 3))
    out_d = np.zeros(len(target))
    ring = _triangle_rings(template)
    for label in np.unique(side[side < SIDES.index("upper_teeth")]):
        allowed = _allowed_triangles(template, flame_side, label)
        rows = np.flatnonzero(side == label)
        ids = np.unique(template.tris[allowed])
        near = ids[nearest(fitted.flame[ids], target[rows])[0]]
        for a in range(0, len(rows), CHUNK):
            chunk = rows[a:a + CHUNK]
            cand = ring[near[a:a + CHUNK]]                                # (C, M) triangle ids, -1 padding
            ok = (cand >= 0) & allowed[np.maximum(cand, 0)]
            corners = fitted.flame[template.tris[np.maximum(cand, 0)]]    # (C, M, 3, 3)
            w, d2 = closest_on_triangles(target[chunk, None], corners)
            d2 = np.where(ok, d2, np.inf)
            best = np.argmin(d2, 1)
            pick = np.arange(len(chunk))
            out_tri[chunk] = template.tris[np.maximum(cand[pick, best], 0)]
            out_w[chunk] = w[pick, best]
            out_d[chunk] = np.sqrt(d2[pick, best])
    reach = np.clip((NO_REACH_M - out_d / scale) / (NO_REACH_M - FULL_REACH_M), 0.0, 1.0)
    upper, lower = side == SIDES.index("upper_teeth"), side == SIDES.index("lower_teeth")
    out_tri[upper | lower] = CHIN  # a whole piece on one point: it moves rigidly
    out_w[upper | lower] = (1.0, 0.0, 0.0)
    reach[upper], reach[lower] = 0.0, 1.0
    return Binding(out_tri.astype(np.int32), out_w.astype(np.float32), reach.astype(np.float32),
                   side.astype(np.int8))


def _character_sides(template, fitted, target, tris, flame_side, flame_seed, scale) -> np.ndarray:
    side = np.zeros(len(target), np.int64)
    index, d2 = nearest(fitted.flame, target)
    target_edges = edges(tris)
    piece = components(len(target), target_edges)
    on_ball = flame_side[index] == SIDES.index("eyeball")
    ball_share = np.bincount(piece, on_ball) / np.maximum(np.bincount(piece), 1)
    for pair in PAIRS:
        group = np.isin(flame_side, pair)
        zone = group[index] & (np.sqrt(d2) < ZONE_M * scale + _spacing_allowance(target, tris))
        zone_ids = np.flatnonzero(zone)
        seeds = [_apart(fitted.flame, np.flatnonzero((flame_side == s) & flame_seed),
                        np.flatnonzero(flame_side == o), SEED_MARGIN_M * scale) for s, o in (pair, pair[::-1])]
        if zone_ids.size == 0 or min(s.size for s in seeds) == 0:
            continue
        zone_edges = target_edges[zone[target_edges].all(1)]
        up, down = (surface_distances(target, zone_edges, zone_ids[nearest(target[zone_ids], fitted.flame[s])[0]])
                    [zone_ids] for s in seeds)
        reached = np.isfinite(np.minimum(up, down))
        side[zone_ids[reached]] = np.where(up <= down, pair[0], pair[1])[reached]
    side[ball_share[piece] > 0.5] = SIDES.index("eyeball")
    for ids, below in _mouth_pieces(template, fitted, target, piece):
        side[ids] = SIDES.index("lower_teeth" if below else "upper_teeth")
    return side


def _mouth_pieces(template: Template, fitted: Fit, target: np.ndarray, piece: np.ndarray):
    """(vertex ids, whether below the lips' contact line) of each piece inside the mouth.
    The head's own skin, its largest piece, never is; nor is a moustache, which lies in
    front of the lips."""
    local = (target - fitted.origin) @ np.linalg.inv(fitted.linear)  # into the template's frame
    lips = template.vertices[template.mouth]
    front = lips[:, 2].max()
    # per piece at once: a head with hair cards has thousands of pieces
    _, which, sizes = np.unique(piece, return_inverse=True, return_counts=True)
    x, y, z = (np.bincount(which, local[:, k]) / sizes for k in range(3))
    low, high = np.full((len(sizes), 3), np.inf), np.full((len(sizes), 3), -np.inf)
    np.minimum.at(low, which, local)
    np.maximum.at(high, which, local)
    inside = ((np.abs(x) < np.abs(lips[:, 0]).max()) & (np.abs(y - template.mouth_line_y) < MOUTH_HEIGHT_M)
              & (front - MOUTH_PIECE_M < z) & (z < front - BEHIND_LIPS_M) & ((high - low).max(1) < MOUTH_PIECE_M))
    inside[np.argmax(sizes)] = False
    for i in np.flatnonzero(inside):
        yield np.flatnonzero(which == i), y[i] < template.mouth_line_y


def _apart(points: np.ndarray, ids: np.ndarray, others: np.ndarray, margin: float) -> np.ndarray:
    """The ``ids`` at least ``margin`` from every one of ``others`` in space: the inner
    surfaces of closed lips touch, and a seed there could start on the other lip."""
    if ids.size == 0 or others.size == 0:
        return ids
    return ids[nearest(points[others], points[ids])[1] > margin ** 2]


def _spacing_allowance(target: np.ndarray, tris: np.ndarray) -> float:
    """Half a typical edge: a coarse character's vertices sit further from the template."""
    return 0.5 * float(np.median(np.linalg.norm(target[tris[:, 0]] - target[tris[:, 1]], axis=1)))


def _allowed_triangles(template: Template, flame_side: np.ndarray, label: int) -> np.ndarray:
    tri_side = flame_side[template.tris]
    ball = (tri_side == SIDES.index("eyeball"))
    if label == SIDES.index("eyeball"):
        return ball.all(1)
    allowed = ~ball.any(1)
    for pair in PAIRS:
        if label in pair:
            other = pair[1] if label == pair[0] else pair[0]
            allowed &= ~(tri_side == other).any(1)
    return allowed


def _triangle_rings(template: Template) -> np.ndarray:
    """(V, M) the triangles touching each template vertex or its neighbours, -1 padded."""
    n = len(template.vertices)
    touching = [[] for _ in range(n)]
    for t, tri in enumerate(template.tris):
        for v in tri:
            touching[v].append(t)
    rings = [sorted({t for u in {v for t0 in own for v in template.tris[t0]} for t in touching[u]})
             for own in touching]
    width = max(len(r) for r in rings)
    table = np.full((n, width), -1, np.int64)
    for v, r in enumerate(rings):
        table[v, :len(r)] = r
    return table
