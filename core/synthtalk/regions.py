"""Face regions of a FLAME-topology head, found from its region masks and its shape.

FLAME's ``lips`` mask does not say which lip a vertex belongs to, yet the jaw must
carry the lower lip and leave the upper one. The two lips meet only at the mouth
corners (the template's mouth is closed, with an open boundary loop inside), so the
distance along the surface from a clearly-upper and a clearly-lower seed tells them
apart, even where the two lips touch in space. Nothing here is copied mesh data:
everything is computed from the template and masks handed in.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from ..errors import DiffusionTalkerError

NEEDED_MASKS = ("lips", "forehead", "eye_region", "left_eyeball", "right_eyeball")


class RegionError(DiffusionTalkerError):
    """The template or masks do not describe a FLAME-like head."""


@dataclass
class Regions:
    mouth: np.ndarray          # vertex indices: the lips and the inside of the mouth up to its boundary loop
    lower_weight: np.ndarray   # (V,) 0 = upper lip, 1 = lower lip, 0.5 at the corners; 0 off the mouth
    mouth_line_y: float        # height where the lips meet
    corners: np.ndarray        # (2,) vertex indices: left (+x), right (-x) mouth corner
    upper_mid: int             # upper-lip vertex at the middle of the lip contact line
    lower_mid: int             # lower-lip vertex facing it
    forehead: np.ndarray
    eye_region: np.ndarray
    eyeballs: tuple[np.ndarray, np.ndarray]  # left (+x), right (-x)


def find_regions(template: np.ndarray, faces: list[list[int]], masks: dict[str, list[int]]) -> Regions:
    """Derive the articulation regions; raise RegionError if the head is not FLAME-like."""
    v = np.asarray(template, dtype=np.float64)
    missing = [k for k in NEEDED_MASKS if k not in masks]
    if missing:
        raise RegionError(f"region masks lack {', '.join(missing)} (use FLAME_masks.json)")
    top = max(max(masks[k]) for k in NEEDED_MASKS)
    if top >= len(v):
        raise RegionError(f"region masks index vertex {top} but the template has only {len(v)} vertices")
    lips = np.asarray(masks["lips"])
    lv = v[lips]
    corners = np.array([lips[np.argmax(lv[:, 0])], lips[np.argmin(lv[:, 0])]])
    width = v[corners[0], 0] - v[corners[1], 0]
    # The contact line: the inner surfaces of both lips crowd around it, so it is the
    # most common height among the central lip vertices.
    central_y = lv[np.abs(lv[:, 0]) < 0.3 * width, 1]
    counts, edges = np.histogram(central_y, bins=np.arange(central_y.min(), central_y.max() + 0.001, 0.001))
    mouth_line_y = float(edges[np.argmax(counts)] + 0.0005)

    lo, hi = lv.min(0) - 0.001, lv.max(0) + 0.001
    near = np.all((v >= [lo[0], lo[1], lo[2] - 0.008]) & (v <= hi), axis=1)
    mouth = np.union1d(lips, np.flatnonzero(near))
    height = hi[1] - lo[1]
    upper_chain, lower_chain = _mouth_loop_halves(v, faces, mouth)
    upper_seed = np.union1d(mouth[v[mouth, 1] > mouth_line_y + 0.15 * height], upper_chain)
    lower_seed = np.union1d(mouth[v[mouth, 1] < mouth_line_y - 0.2 * height], lower_chain)
    graph = _adjacency(v, faces, mouth)
    d_up = _distances(graph, upper_seed)
    d_low = _distances(graph, lower_seed)
    lower_weight = np.zeros(len(v))
    # 2 mm of surface distance is enough to decide; the corners, equally far from both, get 0.5.
    lower_weight[mouth] = 1.0 / (1.0 + np.exp(np.clip((d_low[mouth] - d_up[mouth]) / 0.002, -50, 50)))

    mid = mouth[np.abs(v[mouth, 0]) < 0.1 * width]
    front = mid[v[mid, 2] > np.percentile(v[mid, 2], 40)]
    ups, lows = front[lower_weight[front] < 0.5], front[lower_weight[front] >= 0.5]
    upper_mid = int(ups[np.argmin(v[ups, 1])])
    lower_mid = int(lows[np.argmax(v[lows, 1])])
    return Regions(mouth, lower_weight, mouth_line_y, corners, upper_mid, lower_mid,
                   np.asarray(masks["forehead"]), np.asarray(masks["eye_region"]),
                   (np.asarray(masks["left_eyeball"]), np.asarray(masks["right_eyeball"])))


def _mouth_loop_halves(v: np.ndarray, faces: list[list[int]], mouth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The open boundary inside the mouth, cut at its side-most vertices into upper and lower halves.

    Each lip's inner surface ends on its half of this loop, so the halves seed the
    upper/lower decision from behind just as the lips' outer faces do from the front.
    """
    inside = np.zeros(len(v), dtype=bool)
    inside[mouth] = True
    uses: dict[tuple[int, int], int] = {}
    for face in faces:
        for a, b in zip(face, face[1:] + face[:1]):
            key = (min(a, b), max(a, b))
            uses[key] = uses.get(key, 0) + 1
    ring: dict[int, list[int]] = {}
    for (a, b), n in uses.items():
        if n == 1 and inside[a] and inside[b]:
            ring.setdefault(a, []).append(b)
            ring.setdefault(b, []).append(a)
    if len(ring) < 6 or any(len(n) != 2 for n in ring.values()):
        raise RegionError("the template has no open boundary loop inside the mouth (not FLAME topology?)")
    ids = np.array(sorted(ring))
    start, stop = int(ids[np.argmax(v[ids, 0])]), int(ids[np.argmin(v[ids, 0])])
    chains = []
    for first in ring[start]:
        chain, prev, cur = [], start, first
        while cur != stop:
            chain.append(cur)
            prev, cur = cur, next(n for n in ring[cur] if n != prev)
            if cur == start:
                raise RegionError("the boundary loop inside the mouth is not a simple loop")
        chains.append(np.array(chain, dtype=int))
    chains.sort(key=lambda c: -v[c, 1].mean())
    return chains[0], chains[1]


def _adjacency(v: np.ndarray, faces: list[list[int]], keep: np.ndarray) -> dict[int, list[tuple[int, float]]]:
    inside = np.zeros(len(v), dtype=bool)
    inside[keep] = True
    graph: dict[int, list[tuple[int, float]]] = {int(i): [] for i in keep}
    seen = set()
    for face in faces:
        for a, b in zip(face, face[1:] + face[:1]):
            if inside[a] and inside[b] and (min(a, b), max(a, b)) not in seen:
                seen.add((min(a, b), max(a, b)))
                length = float(np.linalg.norm(v[a] - v[b]))
                graph[a].append((b, length))
                graph[b].append((a, length))
    return graph


def _distances(graph: dict[int, list[tuple[int, float]]], sources: np.ndarray) -> np.ndarray:
    """Dijkstra over the mouth's edges; vertices it cannot reach stay infinitely far."""
    size = max(graph) + 1
    dist = np.full(size, np.inf)
    heap = [(0.0, int(s)) for s in sources]
    dist[sources] = 0.0
    while heap:
        d, i = heapq.heappop(heap)
        if d > dist[i]:
            continue
        for j, length in graph[i]:
            if d + length < dist[j]:
                dist[j] = d + length
                heapq.heappush(heap, (d + length, j))
    return dist
