"""Fit the FLAME template onto a head of any topology.

A take moves FLAME's 5023 vertices; a character's head has its own. Registration
puts every FLAME vertex on the character's surface once, so motion can be carried
across by position (``core/binding.py`` binds the character's vertices to the
fitted template, ``core/transfer.py`` moves them).

The fit, in the template's frame (y up, +z out of the face; the caller turns the
head into it):

1. *Landmarks.* FLAME's are computed from the template and its masks (nose tip,
   mouth corners, the middle of each lip). On the character only the nose tip is
   found automatically (the most forward point of the upper part of the mesh, which
   holds for a human-proportioned head or bust, not for a long-nosed creature or a
   full body), together with the top of the head for the first scale. A mesh of
   several large pieces (a cap joined to the head, whose peak juts out further than
   the nose) offers each piece's own most forward point too, and the one the face
   fits best wins. Anything else (or everything, on a stylised head) the user names
   as character vertex indices.
2. *Rigid, then affine.* Closest-point alignment of FLAME's face mask, first as a
   similarity, then affine so a face 30% wider is met by stretch and not by bending.
3. *Non-rigid ICP.* Per-vertex displacements from the affine fit, pulled to the
   closest surface points (point-to-plane, normals must agree so the underside of
   the upper lip is not pulled onto the lower lip) and held smooth by a membrane
   term whose stiffness falls from stiff to supple over the rounds. Eyeballs take
   no data term: a character's eyes are often separate objects or absent, so each
   eyeball moves with its eye region instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DiffusionTalkerError
from .surface import components, edges, nearest, triangles, vertex_normals
from .synthtalk.regions import find_regions

LANDMARKS = ("nose_tip", "mouth_left", "mouth_right", "upper_lip", "lower_lip")
STIFFNESS = (30.0, 10.0, 3.0, 1.0, 0.3)  # membrane weight per round, against a data weight of 1 a vertex
ICP_STEPS = 3        # closest-point updates per stiffness
LANDMARK_WEIGHT = 20.0
FACING_SAMPLE = 1500  # head points mirrored to tell which way it faces
# Median distance (template metres) from the globally fitted face to the head's surface
# beyond which the fit missed the face: 0.7-1.9 mm on heads it fits (remeshed, widened,
# squashed, stylised, a cap joined), 3.3-15 mm on the same head backwards, upside down
# or lying on its back.
POOR_FIT_M = 0.0025
_HALF_TURN_Y, _HALF_TURN_Z = np.diag([-1.0, 1.0, -1.0]), np.diag([-1.0, -1.0, 1.0])
_QUARTER_X = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
_LYING = "lie on its back or face (Y up where Z up is declared, or the other way round)"
TURNS = (("face backwards", _HALF_TURN_Y), ("stand upside down", _HALF_TURN_Z), (_LYING, _QUARTER_X),
         (_LYING, _QUARTER_X.T))


def rotation(axis: int, degrees: float) -> np.ndarray:
    """Rotation by ``degrees`` about the x (0), y (1) or z (2) axis, for row vectors (p @ R)."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    a, b = [i for i in range(3) if i != axis]
    turn = np.eye(3)
    turn[[a, a, b, b], [a, b, a, b]] = c, s, -s, c
    return turn


TILTS = tuple(rotation(axis, degrees) for axis in (0, 2) for degrees in (20, -20))  # nod, lean
MIRROR_SAMPLE, MIRROR_SURFACE = 400, 3000  # head points mirrored, and those they are matched to (``_straightening``)
MAX_NOSE_PIECES = 3  # the largest pieces that may hold the nose: each costs a global fit
SEARCH_POINTS = 20_000  # character vertices the fit searches (a random sample of denser heads)


class RegistrationError(DiffusionTalkerError):
    """A head or landmark list the template cannot be fitted to."""


@dataclass
class Template:
    """FLAME's neutral, its triangles and the masks and landmarks the fit needs."""

    vertices: np.ndarray
    tris: np.ndarray
    masks: dict[str, np.ndarray]
    landmarks: dict[str, int]
    lower_weight: np.ndarray   # from synthtalk.regions: 0 upper lip ... 1 lower lip
    mouth: np.ndarray
    mouth_line_y: float


def load_template(vertices: np.ndarray, faces, masks: dict) -> Template:
    v = np.asarray(vertices, np.float64)
    regions = find_regions(v, faces, masks)
    for name in ("face", "nose", "left_eye_region", "right_eye_region"):
        if name not in masks:
            raise RegistrationError(f"the FLAME masks lack '{name}' (use FLAME_masks.json)")
    nose = np.asarray(masks["nose"])
    marks = {"nose_tip": int(nose[np.argmax(v[nose, 2])]), "mouth_left": int(regions.corners[0]),
             "mouth_right": int(regions.corners[1]), "upper_lip": regions.upper_mid,
             "lower_lip": regions.lower_mid}
    return Template(v, triangles(faces), {k: np.asarray(m, np.int64) for k, m in masks.items()}, marks,
                    regions.lower_weight, regions.mouth, regions.mouth_line_y)


@dataclass
class Fit:
    flame: np.ndarray    # (V_flame, 3) template vertices on the character, in its units
    linear: np.ndarray   # (3, 3) the global part: template point x lands near x @ linear + origin
    origin: np.ndarray   # (3,)


def fit(template: Template, vertices: np.ndarray, faces, landmarks: dict[str, int] | None = None,
        seed: int = 0) -> Fit:
    """Register ``template`` onto the character mesh (vertices in the template's orientation)."""
    target = np.asarray(vertices, np.float64)
    tris = triangles(faces)
    if len(target) < 100 or len(tris) == 0:
        raise RegistrationError(f"a head needs a surface of triangles or quads ({len(target)} vertices "
                                f"and {len(tris)} triangles given)")
    if not np.isfinite(target).all():
        raise RegistrationError("the head has vertices at non-finite positions")
    turn = np.eye(3)
    if len(landmarks or {}) < 3:  # three or more landmarks align the head however it is turned
        _check_facing(target)
        turn = _straightening(target)
        target = target @ turn
    given = _checked_landmarks(target, landmarks)
    fitted = _global_fit(template, target, tris, given, seed)
    if fitted[0] > POOR_FIT_M and len(given) < 3:  # turned first: a head imported facing backwards is the commoner
        _check_turns(template, target, tris, given, seed, fitted[0])
        fitted = _untilted(template, target, tris, given, seed, fitted)
    _, marks, linear, origin, search = fitted
    moved = _nonrigid(template, search, marks, target, template.vertices @ linear + origin)
    back = turn.T
    return Fit(moved @ back, linear @ back, origin @ back)


def _straightening(target: np.ndarray) -> np.ndarray:
    """The turn (for row vectors, ``target @ turn``) that undoes a head's lean to a side
    and turn about its vertical, up to 30° each, found as the roll and yaw that make it
    mirror-symmetric left to right; none unless that is clearly so. Started as it stood,
    a head leaning 15-25° or turned 20-25° was fitted askew (the face 5-12 mm off) while
    the template met its surface within 2.5 mm, so nothing warned of it. A side parting,
    a cap or hair on one side leaves the symmetry as it was and the head as it stands."""
    rng = np.random.default_rng(0)
    centre = target.mean(0)
    points = target[rng.choice(len(target), min(MIRROR_SAMPLE, len(target)), replace=False)] - centre
    surface = (target[rng.choice(len(target), min(MIRROR_SURFACE, len(target)), replace=False)] - centre).astype(
        np.float32)

    def asymmetry(roll: float, yaw: float) -> float:
        turn = rotation(2, roll) @ rotation(1, yaw)
        mirrored = points @ turn
        mirrored[:, 0] *= -1
        mirrored = (mirrored @ turn.T).astype(np.float32)
        d2 = (mirrored ** 2).sum(1)[:, None] - 2 * mirrored @ surface.T + (surface ** 2).sum(1)[None]
        return float(np.median(np.sqrt(np.maximum(d2.min(1), 0.0))))

    best = (0.0, 0.0)
    for span, step in ((30, 6), (3, 1)):  # coarse, then around the best
        grid = [(best[0] + r, best[1] + y) for r in np.arange(-span, span + 1e-9, step)
                for y in np.arange(-span, span + 1e-9, step)]
        best = min(grid, key=lambda angles: asymmetry(*angles))
    if max(map(abs, best)) < 3 or asymmetry(*best) > 0.5 * asymmetry(0.0, 0.0):
        return np.eye(3)
    return rotation(2, best[0]) @ rotation(1, best[1])


def _global_fit(template: Template, target: np.ndarray, tris: np.ndarray, given: dict[str, int], seed: int):
    """(face gap, landmarks, linear, origin, search points) of the global fit from the best
    nose candidate: the one whose face lies nearest the head's surface (``_face_gap``)."""
    normals = vertex_normals(target, tris)
    noses = [(given["nose_tip"], target[:, 1].max())] if "nose_tip" in given else _nose_candidates(target, tris)
    rng = np.random.default_rng(seed)
    sample = np.arange(len(target))
    if len(target) > SEARCH_POINTS:
        sample = np.sort(rng.choice(len(target), SEARCH_POINTS, replace=False))
    fits = []
    for nose, crown in noses:
        # inside-out winding: the nose tip's normal must face forward (each candidate's own:
        # a cap's peak modelled as one sheet may face down whichever way the skin is wound)
        search = (target[sample], normals[sample] * (1.0 if normals[nose, 2] >= 0 else -1.0))
        marks = {**given, "nose_tip": nose}
        linear, origin = _initial_alignment(template, target, marks, crown)
        linear, origin = _global_icp(template, search, marks, target, linear, origin)
        fits.append((_face_gap(template, search, linear, origin), marks, linear, origin, search))
    return min(fits, key=lambda f: f[0])


def _untilted(template: Template, target: np.ndarray, tris: np.ndarray, given: dict[str, int], seed: int, fitted):
    """The global fit of a head tilted a little (looking up or down, leaning to a side),
    found from each of TILTS; ``fitted`` where none fits clearly better. Started upright,
    a head looking up 15° was fitted with its nose 70 mm from the template's, warned of
    but written; turned back first, the fit finds the face and the tilt."""
    best, k = _best_turned(template, target, tris, given, seed, TILTS)
    if best[0] >= min(POOR_FIT_M, fitted[0] / 3):
        return fitted
    gap, marks, linear, origin, (points, normals) = best
    back = TILTS[k].T  # a head point p was fitted as p @ tilt
    return gap, marks, linear @ back, origin @ back, (points @ back, normals @ back)


def _best_turned(template: Template, target: np.ndarray, tris: np.ndarray, given: dict[str, int], seed: int,
                 turns) -> tuple[tuple, int]:
    """The global fit of the head turned by whichever of ``turns`` (row-vector rotations)
    fits it best, and that turn's index."""
    return min(((_global_fit(template, target @ turn, tris, given, seed), k) for k, turn in enumerate(turns)),
               key=lambda found: found[0][0])


def _check_turns(template: Template, target: np.ndarray, tris: np.ndarray, given: dict[str, int], seed: int,
                 gap: float) -> None:
    """Refuse a head whose face the fit missed when, turned some way, it fits well: it
    faces backwards, stands upside down, or lies on its back or face (declared Z-up while
    it stands Y-up, or the other way round). Such a head is mirror-symmetric left to right
    as a good one is, so ``_check_facing`` lets it through, and the fit found a "face"
    on the back of the head, reported as a success."""
    turned, k = _best_turned(template, target, tris, given, seed, [turn for _, turn in TURNS])
    turned_gap, what = turned[0], TURNS[k][0]
    if turned_gap < min(POOR_FIT_M, gap / 3):  # clearly: a head nodding 30° fits 2.2 mm upside down, 5.0 as it is
        raise RegistrationError(f"the head seems to {what}: the template's face fits it {1000 * turned_gap:.1f} mm "
                                f"from its surface that way, and {1000 * gap:.1f} mm as it stands. Turn it to face "
                                "forward in its own coordinates and apply the rotation, or check how its "
                                "orientation is declared, or give three or more landmarks")


def _check_facing(target: np.ndarray) -> None:
    """Refuse a head turned a quarter about its vertical axis. Its nose tip, found as the
    most forward point, would be an ear, and the fit would be reported as a success with
    the face on the side of the head. A head is nearly mirror-symmetric left to right and
    far from it front to back, the face against the back of the head (0.4% against 9% of
    its size on FLAME); turned a quarter, it is the other way round. A hat or a side
    parting keeps the order (5% against 8% with a lump of hair on one side)."""
    rng = np.random.default_rng(0)
    sample = target[rng.choice(len(target), min(FACING_SAMPLE, len(target)), replace=False)]

    def asymmetry(axis: int) -> float:
        mirrored = sample.copy()
        mirrored[:, axis] = 2 * np.median(target[:, axis]) - mirrored[:, axis]
        return float(np.median(nearest(target, mirrored)[1]))

    if asymmetry(0) > asymmetry(2):
        raise RegistrationError("the head seems to face sideways: it is more mirror-symmetric front to back than "
                                "left to right. Turn it to face forward in its own coordinates (-Y in Blender's "
                                "front view, or +Z with Y up) and apply the rotation, or give three or more "
                                "landmarks, which align it however it is turned")


def _checked_landmarks(target: np.ndarray, given: dict[str, int] | None) -> dict[str, int]:
    given = dict(given or {})
    unknown = sorted(set(given) - set(LANDMARKS))
    if unknown:
        raise RegistrationError(f"unknown landmark {', '.join(unknown)}; known: {', '.join(LANDMARKS)}")
    for name, index in given.items():
        if not 0 <= int(index) < len(target):
            raise RegistrationError(f"landmark {name} names vertex {index} of a {len(target)}-vertex head")
    return {k: int(v) for k, v in given.items()}


def _nose_candidates(target: np.ndarray, tris: np.ndarray) -> list[tuple[int, float]]:
    """(vertex, crown height) pairs that may be the nose tip: the most forward point of the
    mesh's upper part, then that of each large piece of it, with the top of the piece as
    its crown (a cap's peak juts out further than the nose, and its crown stands higher).
    A piece is large with a hundredth of the vertices and a third of the mesh's height,
    which leaves eyeballs out and lets in a low-poly head under a dense cap or hair."""
    def forward_most(ids):
        y = target[ids, 1]
        upper = ids[y > y.max() - 0.6 * (y.max() - y.min())]
        return int(upper[np.argmax(target[upper, 2])]), float(y.max())

    found = [forward_most(np.arange(len(target)))]
    piece = components(len(target), edges(tris))
    labels, sizes = np.unique(piece, return_counts=True)
    height = np.ptp(target[:, 1])
    order = np.argsort(-sizes)
    large = (np.flatnonzero(piece == label) for label in labels[order[sizes[order] >= 0.01 * len(target)]])
    tall = [ids for ids in large if np.ptp(target[ids, 1]) >= height / 3][:MAX_NOSE_PIECES]
    for candidate in map(forward_most, tall):
        if candidate[0] not in {nose for nose, _ in found}:
            found.append(candidate)
    return found


def face_gap(template: Template, fitted: Fit, vertices: np.ndarray, faces) -> float:
    """How closely a fit's global part found the head's face (``_face_gap``, template
    metres): 0.7-1.9 mm on heads it fits well; past POOR_FIT_M the face is loosely met."""
    target = np.asarray(vertices, np.float64)
    return _face_gap(template, (target, vertex_normals(target, triangles(faces))), fitted.linear, fitted.origin)


def _face_gap(template: Template, search, linear: np.ndarray, origin: np.ndarray) -> float:
    """Median distance from the placed template's face to the character's surface, in the
    template's metres: small where the face found the face."""
    placed = template.vertices @ linear + origin
    face = template.masks["face"]
    closest, _, _ = _correspondences(placed[face], vertex_normals(placed, template.tris)[face], search)
    return float(np.median(np.linalg.norm(closest - placed[face], axis=1))) / abs(np.linalg.det(linear)) ** (1 / 3)


def _initial_alignment(template: Template, target: np.ndarray, marks: dict[str, int], crown: float):
    """Uniform scale from the nose-to-crown height, the noses put together."""
    src = template.vertices
    nose_s, nose_t = src[template.landmarks["nose_tip"]], target[marks["nose_tip"]]
    scale = (crown - nose_t[1]) / (src[:, 1].max() - nose_s[1])
    if len(marks) >= 3:  # enough given points for a similarity of their own
        names = sorted(marks)
        scale, rot, _ = _similarity(src[[template.landmarks[n] for n in names]], target[[marks[n] for n in names]],
                                    np.ones(len(names)))
        linear = scale * rot
    else:
        linear = scale * np.eye(3)
    return linear, nose_t - nose_s @ linear


def _correspondences(points: np.ndarray, point_normals: np.ndarray, search):
    """Closest surface points (on the tangent plane of the nearest searched vertex), a 0/1
    weight (0 where normals disagree or the gap is far beyond the typical) and that vertex."""
    target, normals = search
    index, _ = nearest(target, points)
    n = normals[index]
    closest = points - n * ((points - target[index]) * n).sum(1, keepdims=True)
    gap = np.linalg.norm(closest - points, axis=1)
    agree = (point_normals * n).sum(1) > 0.5
    typical = np.median(gap[agree]) if agree.any() else 0.0
    weight = (agree & (gap <= 3.0 * typical + 1e-9)).astype(np.float64)
    return closest, weight, index


def _global_icp(template: Template, search, marks, target, linear, origin, steps: int = 12):
    """Similarity, then affine, closest-point fit of the head without its eyeballs. The
    pairs run both ways (template to character and back) so the fit must cover the
    character's face and not only touch it: one-way pairs let a stretched face slide."""
    body = np.setdiff1d(np.arange(len(template.vertices)),
                        np.concatenate([template.masks["left_eyeball"], template.masks["right_eyeball"]]))
    mark_src = template.vertices[[template.landmarks[n] for n in marks]]
    mark_dst = target[list(marks.values())]
    back = np.linspace(0, len(search[0]) - 1, min(len(search[0]), len(body))).astype(np.int64)
    back_search = (search[0][back], search[1][back])
    for step in range(steps):
        placed = template.vertices @ linear + origin
        normals = vertex_normals(placed, template.tris)[body]
        closest, weight, _ = _correspondences(placed[body], normals, search)
        _, back_weight, back_index = _correspondences(back_search[0], back_search[1], (placed[body], normals))
        back_src = template.vertices[body][back_index]
        back_weight *= len(body) / len(back_index)
        pts = np.concatenate([template.vertices[body], back_src, mark_src])
        dst = np.concatenate([closest, back_search[0], mark_dst])
        w = np.concatenate([weight, back_weight, np.full(len(mark_src), LANDMARK_WEIGHT)])
        if step < steps // 2:
            scale, rot, shift = _similarity(pts, dst, w)
            linear, origin = scale * rot, shift
        else:
            linear, origin = _affine(pts, dst, w)
    return linear, origin


def _similarity(src: np.ndarray, dst: np.ndarray, w: np.ndarray):
    """Weighted Umeyama: scale, rotation (row-vector convention) and shift with dst ≈ s src R + t."""
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    a, b = src - mu_s, dst - mu_d
    cov = (a * w[:, None]).T @ b
    u, sing, vt = np.linalg.svd(cov)
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ fix @ vt
    scale = float(np.trace(np.diag(sing) @ fix) / max(float(w @ (a ** 2).sum(1)), 1e-30))
    return scale, rot, mu_d - scale * mu_s @ rot


def _affine(src: np.ndarray, dst: np.ndarray, w: np.ndarray):
    homog = np.concatenate([src, np.ones((len(src), 1))], axis=1)
    sw = np.sqrt(w)[:, None]
    solution = np.linalg.lstsq(homog * sw, dst * sw, rcond=None)[0]
    return solution[:3], solution[3]


def _nonrigid(template: Template, search, marks, target, start: np.ndarray) -> np.ndarray:
    n = len(start)
    edge_list = edges(template.tris)
    eyeballs = [template.masks[k] for k in ("left_eyeball", "right_eyeball")]
    eye_regions = [template.masks[k] for k in ("left_eye_region", "right_eye_region")]
    free = np.ones(n, bool)
    free[np.concatenate(eyeballs)] = False
    mark_ids = np.array([template.landmarks[k] for k in marks])
    mark_pos = target[list(marks.values())]
    shift = np.zeros_like(start)
    for stiffness in STIFFNESS:
        for _ in range(ICP_STEPS):
            placed = start + shift
            closest, weight, _ = _correspondences(placed, vertex_normals(placed, template.tris), search)
            weight[~free] = 0.0
            goal = closest - start
            weight[mark_ids] = LANDMARK_WEIGHT
            goal[mark_ids] = mark_pos - start[mark_ids]
            shift = _membrane_solve(edge_list, weight, goal, stiffness, shift)
    for ball, region in zip(eyeballs, eye_regions):
        shift[ball] = shift[region].mean(0)
    return start + shift


def _membrane_solve(edge_list: np.ndarray, weight: np.ndarray, goal: np.ndarray, stiffness: float,
                    guess: np.ndarray, iterations: int = 400, tol: float = 1e-6) -> np.ndarray:
    """Conjugate gradients on (W + stiffness L + eps) d = W goal, L the edge graph
    Laplacian; the tiny eps keeps a piece without data (an eyeball) where it was."""
    a, b = edge_list[:, 0], edge_list[:, 1]
    n = len(weight)
    degree = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    eps = 1e-4
    diag = weight + eps + stiffness * degree

    def apply(x):
        diff = x[a] - x[b]
        out = (weight + eps)[:, None] * x
        for c in range(x.shape[1]):
            out[:, c] += stiffness * (np.bincount(a, diff[:, c], n) - np.bincount(b, diff[:, c], n))
        return out

    x = guess.copy()
    r = weight[:, None] * goal + eps * guess - apply(x)
    z = r / diag[:, None]
    p = z.copy()
    rz = (r * z).sum(0)
    norm0 = np.linalg.norm(weight[:, None] * goal, axis=0) + 1e-30
    for _ in range(iterations):
        ap = apply(p)
        alpha = rz / np.maximum((p * ap).sum(0), 1e-300)
        x += alpha * p
        r -= alpha * ap
        if (np.linalg.norm(r, axis=0) / norm0).max() < tol:
            break
        z = r / diag[:, None]
        rz_new = (r * z).sum(0)
        p = z + (rz_new / np.maximum(rz, 1e-300)) * p
        rz = rz_new
    return x
