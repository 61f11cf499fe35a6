"""Carry a take from FLAME onto a head of any topology through its registration.

Each character vertex moves as the template point it is bound to (``binding.py``)
moves, faded by its reach. ``mode="deformation"`` first maps every template offset
through the local linear map from FLAME's neutral onto the fitted template (the
per-vertex deformation gradient of ``retarget.py``), so a mouth 30% wider opens its
corners 30% further; ``mode="offsets"`` applies only the fit's global part (the
character's orientation and units). The registration is plain arrays, so it can be
kept in an .npz without pickles or in a Blender object's properties.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

import numpy as np

from .binding import SIDES, Binding, bind
from .errors import DiffusionTalkerError
from .registration import Fit, Template, fit
from .retarget import local_maps

MAX_STRETCH = 1.5  # a face part may move at most this much more (or less) than the head as a whole


@dataclass
class Registration:
    fit: Fit
    binding: Binding

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"{part}.{f.name}": np.asarray(getattr(getattr(self, part), f.name))
                for part in ("fit", "binding") for f in fields(getattr(self, part))}

    @classmethod
    def from_arrays(cls, arrays, num_vertices: int | None = None, template_vertices: int | None = None):
        """Rebuild, refusing arrays that do not describe a registration of this head."""
        try:
            fitted = Fit(*(np.asarray(arrays[f"fit.{f.name}"], np.float64) for f in fields(Fit)))
            bound = Binding(*(np.asarray(arrays[f"binding.{f.name}"]) for f in fields(Binding)))
        except KeyError as exc:
            raise DiffusionTalkerError(f"the stored registration lacks {exc.args[0]}; fit the head again") from None
        n = len(bound.triangles)
        if fitted.linear.shape != (3, 3) or any(len(a) != n for a in (bound.weights, bound.reach, bound.side)):
            raise DiffusionTalkerError("the stored registration is damaged; fit the head again")
        if num_vertices is not None and n != num_vertices:
            raise DiffusionTalkerError(f"the head was fitted with {n} vertices and has {num_vertices} now; "
                                       "fit it again")
        if template_vertices is not None and len(fitted.flame) != template_vertices:
            raise DiffusionTalkerError(f"the registration is of a {len(fitted.flame)}-vertex template, "
                                       f"the take moves {template_vertices}")
        return cls(fitted, Binding(bound.triangles.astype(np.int64), bound.weights.astype(np.float64),
                                   bound.reach.astype(np.float64), bound.side.astype(np.int64)))

    def save(self, path: str | os.PathLike) -> None:
        np.savez(path, **self.arrays())

    @classmethod
    def load(cls, path: str | os.PathLike, num_vertices: int | None = None) -> "Registration":
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls.from_arrays(dict(data), num_vertices)
        except (OSError, ValueError) as exc:
            raise DiffusionTalkerError(f"{path}: not a registration ({exc})") from None


def register(template: Template, vertices: np.ndarray, faces, landmarks: dict[str, int] | None = None
             ) -> Registration:
    fitted = fit(template, vertices, faces, landmarks)
    return Registration(fitted, bind(template, fitted, vertices, faces))


def transfer(offsets: np.ndarray, registration: Registration, template: Template,
             mode: str = "deformation") -> np.ndarray:
    """(T, V_flame, 3) FLAME offsets in metres -> (T, N, 3) character offsets in its units."""
    offsets = np.asarray(offsets, np.float64)
    fitted, bound = registration.fit, registration.binding
    if offsets.ndim != 3 or offsets.shape[1:] != template.vertices.shape:
        raise DiffusionTalkerError(f"the take moves {offsets.shape[1] if offsets.ndim == 3 else '?'} vertices; "
                                   f"the registration is of the {len(template.vertices)}-vertex template")
    if mode == "offsets":
        moved = offsets @ fitted.linear
    elif mode == "deformation":
        # Local maps are taken in the template's own frame, so the regularisation toward
        # the identity means "like the global fit" and not "unscaled".
        local = (fitted.flame - fitted.origin) @ np.linalg.inv(fitted.linear)
        maps = _bounded(local_maps(template.vertices, local, template.tris.tolist())) @ fitted.linear
        moved = np.einsum("tvi,vij->tvj", offsets, maps)
    else:
        raise DiffusionTalkerError(f"unknown transfer mode {mode!r}; use 'deformation' or 'offsets'")
    weights = bound.weights * bound.reach[:, None]
    out = np.zeros((len(offsets), len(bound.triangles), 3))
    for k in range(3):
        out += weights[None, :, k, None] * moved[:, bound.triangles[:, k]]
    return out.astype(np.float32)


def _bounded(maps: np.ndarray) -> np.ndarray:
    """Local maps with their stretches kept within MAX_STRETCH of the global fit's, and a
    folded one (negative determinant) replaced by the global fit: where the fit is
    locally distorted (a landmark pulled hard, a fold at a mouth corner) a one-ring can
    claim a fivefold stretch, and a corner would fly off with it."""
    u, s, vt = np.linalg.svd(maps)
    clipped = u @ (np.clip(s, 1 / MAX_STRETCH, MAX_STRETCH)[..., None] * vt)
    folded = np.linalg.det(maps) <= 0
    clipped[folded] = np.eye(3)
    return clipped


def lip_pair(registration: Registration, template: Template, count: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The character's vertices where FLAME's mid-lip landmarks landed: the ``count``
    nearest of each lip's own side, to measure the character's lip aperture with."""
    found = []
    for name, side in (("upper_lip", "upper_lip"), ("lower_lip", "lower_lip")):
        ids = np.flatnonzero(registration.binding.side == SIDES.index(side))
        if ids.size == 0:
            raise DiffusionTalkerError("no vertex of the head was bound to the lips")
        at = registration.fit.flame[template.landmarks[name]]
        placed = _bound_positions(registration, ids)
        found.append(ids[np.argsort(np.linalg.norm(placed - at, axis=1))[:count]])
    return found[0], found[1]


def _bound_positions(registration: Registration, ids: np.ndarray) -> np.ndarray:
    bound = registration.binding
    return np.einsum("nk,nkj->nj", bound.weights[ids], registration.fit.flame[bound.triangles[ids]])
