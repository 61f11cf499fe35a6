"""Drive a shape-key face rig (ARKit blendshapes, viseme sets) with a take.

Each frame's weights are the bounded (0..1) least-squares combination of the rig's
keys that best reproduces the take's motion on FLAME's face. The keys must be seen
on FLAME to be compared with it, and we take them from the user's own rig rather than
from a library of what "jawOpen" ought to look like: rigs disagree (one jawOpen
parts the lips, another does not), and the solve can only reproduce what the keys
really do. So each key's displacement is carried back onto the template: on a
FLAME-topology head it is the key itself; on any other head, each template vertex
reads the key's displacement at the point of the head where registration put it,
brought into FLAME's frame and metres by the fit's global part.

Only the face counts in the fit (FLAME's ``face`` mask), the lips four times over,
since a lip a millimetre off is what a viewer sees.
"""

from __future__ import annotations

import re

import numpy as np

from .errors import DiffusionTalkerError
from .registration import Template
from .surface import closest_on_triangles, nearest, triangles
from .transfer import Registration

ARKIT = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight",
    "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)
# Oculus/VRChat visemes and VRM's five vowels.
VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou",
           "ee", "I", "O", "U")
_PREFIX = re.compile(r"^(blend_?shape\d*|arkit|bs|morph|shape|vrc\.v|viseme|v)[._:\s-]+", re.IGNORECASE)
_LEFT = re.compile(r"(?:[._\s-]l|[._\s-]?left)$", re.IGNORECASE)  # a lone L only after a separator:
_RIGHT = re.compile(r"(?:[._\s-]r|[._\s-]?right)$", re.IGNORECASE)  # mouthFunnel, mouthRollUpper
LIP_WEIGHT = 4.0
SOLVER_SWEEPS = 300


def canonical(name: str) -> str:
    """A key name reduced for matching: prefixes off, case and separators gone, any side
    suffix (``_L``, ``.L``, ``Left``) spelled ``left``/``right``."""
    bare = _PREFIX.sub("", name.strip())
    suffix = ""
    for pattern, side in ((_LEFT, "left"), (_RIGHT, "right")):
        found = pattern.search(bare)
        if found and found.start() > 0:
            suffix, bare = side, bare[:found.start()]
            break
    return re.sub(r"[^0-9a-z]", "", bare.lower()) + suffix


_KNOWN = {canonical(n): n for n in ARKIT + VISEMES}


def match_keys(names) -> dict[str, str]:
    """The user's key names that are ARKit blendshapes or visemes -> the standard name."""
    found = {}
    for name in names:
        standard = _KNOWN.get(canonical(name))
        if standard is not None and standard not in found.values():
            found[name] = standard
    return found


def flame_basis(key_offsets: dict[str, np.ndarray], template: Template,
                registration: Registration | None = None, head=None) -> dict[str, np.ndarray]:
    """Each key's (V_head, 3) displacement -> (V_flame, 3) on the template, in metres.

    Without a registration the head must have FLAME's topology (and metres); with one,
    ``head`` is the (vertices, faces) it was fitted to.
    """
    n_flame = len(template.vertices)
    if registration is None:
        for name, delta in key_offsets.items():
            if np.shape(delta) != (n_flame, 3):
                raise DiffusionTalkerError(f"shape key {name!r} moves {len(delta)} vertices; a head that is not "
                                           f"FLAME's {n_flame} needs fitting first")
        return {name: np.asarray(delta, np.float64) for name, delta in key_offsets.items()}
    if head is None:
        raise DiffusionTalkerError("the head's vertices and faces are needed to read its keys on the template")
    vertices, faces = np.asarray(head[0], np.float64), head[1]
    tris, weights = _template_points_on(vertices, faces, registration.fit.flame)
    back = np.linalg.inv(registration.fit.linear)
    return {name: np.einsum("vk,vkj->vj", weights, np.asarray(delta, np.float64)[tris]) @ back
            for name, delta in key_offsets.items()}


def _template_points_on(vertices: np.ndarray, faces, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each point, the head triangle (vertex ids) nearest it and the barycentric weights there,
    looked for among the triangles around the nearest head vertex."""
    tris = triangles(faces)
    order = np.argsort(tris.ravel(), kind="stable")
    owner = order // 3
    first = np.searchsorted(tris.ravel()[order], np.arange(len(vertices)))
    count = np.bincount(tris.ravel(), minlength=len(vertices))
    near = nearest(vertices, points)[0]
    width = int(count[near].max())
    slot = first[near, None] + np.arange(width)
    valid = np.arange(width) < count[near, None]
    cand = owner[np.where(valid, slot, 0)]
    w, d2 = closest_on_triangles(points[:, None], vertices[tris[cand]])
    best = np.argmin(np.where(valid, d2, np.inf), 1)
    pick = np.arange(len(points))
    return tris[cand[pick, best]], w[pick, best]


def solve_weights(offsets: np.ndarray, basis: dict[str, np.ndarray], template: Template | None,
                  allow=None, scale: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Per-frame weights in 0..1 (then times the user's ``scale``) of the ``allow``ed keys
    reproducing the (T, V_flame, 3) take on the template's face (on every vertex alike
    when there is no template to name the face and lips)."""
    names = [n for n in basis if allow is None or n in allow]
    if allow is not None:
        unknown = sorted(set(allow) - set(basis))
        if unknown:
            raise DiffusionTalkerError(f"no shape key named {', '.join(unknown)} on the head")
    if not names:
        raise DiffusionTalkerError("no shape keys to drive: the head has none that the take can use")
    if template is None:
        rows, emphasis = np.arange(np.shape(offsets)[1]), np.ones((np.shape(offsets)[1], 1))
    else:
        rows = template.masks["face"]
        emphasis = np.where(np.isin(rows, template.masks["lips"]), np.sqrt(LIP_WEIGHT), 1.0)[:, None]
    matrix = np.stack([(basis[n][rows] * emphasis).ravel() for n in names], 1)          # (3R, K)
    goals = (np.asarray(offsets, np.float64)[:, rows] * emphasis).reshape(len(offsets), -1)  # (T, 3R)
    weights = bounded_least_squares(matrix.T @ matrix, goals @ matrix)
    scale = scale or {}
    return {n: weights[:, k] * float(scale.get(n, 1.0)) for k, n in enumerate(names)}


def bounded_least_squares(gram: np.ndarray, rhs: np.ndarray, sweeps: int = SOLVER_SWEEPS) -> np.ndarray:
    """Minimise |A w - b|^2 over 0 <= w <= 1 for every row of ``rhs`` (= b A) at once, by
    cyclic coordinate descent: each step is exact for one key, the box is kept, and the
    objective is convex, so it converges; a key that moves nothing stays at 0."""
    k = gram.shape[0]
    w = np.zeros((len(rhs), k))
    diag = np.diag(gram)
    for _ in range(sweeps):
        for j in range(k):
            if diag[j] <= 0:
                continue
            w[:, j] = np.clip(w[:, j] + (rhs[:, j] - w @ gram[:, j]) / diag[j], 0.0, 1.0)
    return w
