"""Geometry on triangle meshes of any size, in numpy alone.

Registration runs on Blender's main thread on heads of tens of thousands of
vertices, where neither torch (never imported there) nor scipy (not in the
extension's wheels) is at hand, so nearest-point search is chunked brute force and
surface distances are edge relaxation: both are plain array work whose cost is
known (about a second for 5k x 50k points).
"""

from __future__ import annotations

import numpy as np

CHUNK_ELEMENTS = 8_000_000  # query x point distances held at once (64 MB of float64)


def triangles(faces) -> np.ndarray:
    """(F, 3) int64: polygons split into fans, so quads and n-gons from Blender count too."""
    tris = [(face[0], face[i], face[i + 1]) for face in faces for i in range(1, len(face) - 1)]
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)


def edges(tris: np.ndarray) -> np.ndarray:
    """(E, 2) unique undirected edges, smaller index first."""
    pairs = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
    return np.unique(np.sort(pairs, axis=1), axis=0)


def vertex_normals(vertices: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Area-weighted unit normals; a vertex on no triangle gets (0, 0, 0)."""
    v = np.asarray(vertices, np.float64)
    face_n = np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])
    normals = np.zeros_like(v)
    for k in range(3):
        np.add.at(normals, tris[:, k], face_n)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def nearest(points: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index (Q,) of the nearest of ``points`` to each query, and the squared distance.

    Points are hashed into cells about a spacing wide; a query looks in its own and
    the 26 touching cells, which is exact whenever its nearest point lies within one
    cell width. The queries where it does not (far from the surface) are searched in
    full, so the answer is always exact.
    """
    p = np.asarray(points, np.float64)
    q = np.asarray(queries, np.float64)
    lo = p.min(0)
    a, b, c = np.ptp(p, 0) + 1e-9
    cell = float(np.sqrt(2 * (a * b + b * c + c * a) / max(len(p), 1)))  # points lie on a surface
    shape = np.floor((p.max(0) - lo) / cell).astype(np.int64) + 3
    key = _cell_key(np.floor((p - lo) / cell).astype(np.int64) + 1, shape)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    around = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    q_cell = np.clip(np.floor((q - lo) / cell).astype(np.int64) + 1, 0, shape - 1)
    index = np.zeros(len(q), np.int64)
    dist = np.full(len(q), np.inf)
    step = max(1, CHUNK_ELEMENTS // (27 * 8))
    for start in range(0, len(q), step):
        cells = _cell_key(np.clip(q_cell[start:start + step, None] + around, 0, shape - 1), shape).ravel()
        first = np.searchsorted(sorted_key, cells, "left")
        count = np.searchsorted(sorted_key, cells, "right") - first
        total = int(count.sum())
        if total == 0:
            continue
        owner = np.repeat(np.arange(len(cells)) // 27, count)
        offset = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        cand = order[np.repeat(first, count) + offset]
        d2 = ((p[cand] - q[start + owner]) ** 2).sum(1)
        per_query = count.reshape(-1, 27).sum(1)
        has = per_query > 0
        best = np.full(len(per_query), np.inf)
        best[has] = np.minimum.reduceat(d2, (np.cumsum(per_query) - per_query)[has])
        hit = d2 == best[owner]
        index[start + owner[hit]] = cand[hit]
        dist[start:start + len(best)] = best
    unsure = np.flatnonzero(~(dist <= cell * cell))
    p_sq = (p ** 2).sum(1)
    brute = max(1, CHUNK_ELEMENTS // len(p))
    for start in range(0, len(unsure), brute):
        rows = unsure[start:start + brute]
        d2 = p_sq[None] - 2.0 * q[rows] @ p.T + (q[rows] ** 2).sum(1)[:, None]
        index[rows] = np.argmin(d2, axis=1)
        dist[rows] = np.maximum(d2[np.arange(len(rows)), index[rows]], 0.0)
    return index, dist


def _cell_key(ijk: np.ndarray, shape: np.ndarray) -> np.ndarray:
    return (ijk[..., 0] * shape[1] + ijk[..., 1]) * shape[2] + ijk[..., 2]


def closest_on_triangles(points: np.ndarray, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric weights (..., 3) of the point of each triangle nearest each point, and the
    squared distance to it. ``corners`` is (..., 3, 3), ``points`` broadcasts to (..., 3).

    The plane projection is clamped onto the triangle by moving to the nearest edge
    whenever a weight goes negative, which is exact for the usual case and at most
    slightly off beside obtuse corners; that is enough to pick a triangle and a point.
    """
    a, b, c = corners[..., 0, :], corners[..., 1, :], corners[..., 2, :]
    best_w = None
    best_d = None
    for w in (_plane_weights(points, a, b, c), *(_edge_weights(points, corners, e) for e in range(3))):
        if best_w is None:
            inside = (w >= 0).all(-1)
            w = np.where(inside[..., None], w, np.nan)
        on = (w[..., :1] * a + w[..., 1:2] * b + w[..., 2:] * c)
        d = ((on - points) ** 2).sum(-1)
        d = np.where(np.isnan(d), np.inf, d)
        if best_w is None:
            best_w, best_d = np.nan_to_num(w), d
        else:
            better = d < best_d
            best_w = np.where(better[..., None], w, best_w)
            best_d = np.where(better, d, best_d)
    return best_w, best_d


def _plane_weights(p, a, b, c):
    e0, e1, ep = b - a, c - a, p - a
    d00, d01, d11 = (e0 * e0).sum(-1), (e0 * e1).sum(-1), (e1 * e1).sum(-1)
    d20, d21 = (ep * e0).sum(-1), (ep * e1).sum(-1)
    denom = np.where(np.abs(d00 * d11 - d01 ** 2) > 1e-30, d00 * d11 - d01 ** 2, 1e-30)
    v = (d11 * d20 - d01 * d21) / denom
    w = (d00 * d21 - d01 * d20) / denom
    return np.stack([1.0 - v - w, v, w], axis=-1)


def _edge_weights(p, corners, edge):
    i, j = edge, (edge + 1) % 3
    a, b = corners[..., i, :], corners[..., j, :]
    ab = b - a
    t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-30), 0.0, 1.0)
    w = np.zeros(t.shape + (3,))
    w[..., i] = 1.0 - t
    w[..., j] = t
    return w


def surface_distances(vertices: np.ndarray, edge_list: np.ndarray, sources: np.ndarray,
                      max_rounds: int = 2000) -> np.ndarray:
    """Shortest distance along mesh edges from any of ``sources``; inf where none reaches.

    Relaxing every edge at once until nothing shortens (Bellman-Ford) costs rounds of
    the path length in edges, which is small on the patches this is used for.
    """
    v = np.asarray(vertices, np.float64)
    length = np.linalg.norm(v[edge_list[:, 0]] - v[edge_list[:, 1]], axis=1)
    dist = np.full(len(v), np.inf)
    dist[sources] = 0.0
    a, b = edge_list[:, 0], edge_list[:, 1]
    for _ in range(max_rounds):
        new = dist.copy()
        np.minimum.at(new, a, dist[b] + length)
        np.minimum.at(new, b, dist[a] + length)
        if np.array_equal(new, dist):
            break
        dist = new
    return dist


def components(num_vertices: int, edge_list: np.ndarray) -> np.ndarray:
    """(V,) label of each vertex's connected piece (the smallest vertex index in it)."""
    label = np.arange(num_vertices)
    a, b = edge_list[:, 0], edge_list[:, 1]
    while True:
        low = np.minimum(label[a], label[b])
        new = label.copy()
        np.minimum.at(new, a, low)
        np.minimum.at(new, b, low)
        new = new[new]  # jump along chains so long pieces settle in few rounds
        if np.array_equal(new, label):
            return label
        label = new
