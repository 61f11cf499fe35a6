"""Mesh files: the neutral template in, animated .obj sequences out.

Only vertex positions and triangle/polygon faces matter to us, so this is a small
reader rather than a dependency on a full mesh library. Errors name the file,
because a user handing us the wrong head should learn which file was wrong.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DiffusionTalkerError


class MeshError(DiffusionTalkerError):
    """A mesh file that cannot be read, or does not fit the model."""


@dataclass
class Mesh:
    vertices: np.ndarray  # (V, 3) float32
    faces: list[list[int]]  # polygons as vertex index lists (0-based)

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])


_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


def read_mesh(path: str | os.PathLike) -> Mesh:
    """Read a .ply (ASCII or binary) or .obj file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MeshError(f"mesh file not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".ply":
            return _read_ply(path)
        if ext == ".obj":
            return _read_obj(path)
    except MeshError:
        raise
    except (ValueError, IndexError, KeyError, UnicodeDecodeError) as exc:
        raise MeshError(f"{path}: not a readable {ext[1:].upper()} mesh ({exc})") from None
    raise MeshError(f"{path}: unsupported mesh format {ext!r} (use .ply or .obj)")


def _read_ply(path: str) -> Mesh:
    with open(path, "rb") as fh:
        if fh.readline().strip() != b"ply":
            raise MeshError(f"{path}: not a PLY file (missing 'ply' magic)")
        fmt, elements = None, []  # elements: [name, count, [(prop_name, dtype | list spec)]]
        while True:
            line = fh.readline()
            if not line:
                raise MeshError(f"{path}: PLY header has no end_header")
            words = line.decode("ascii", "replace").split()
            if not words or words[0] in ("comment", "obj_info"):
                continue
            if words[0] == "format":
                fmt = words[1]
            elif words[0] == "element":
                elements.append([words[1], int(words[2]), []])
            elif words[0] == "property":
                if words[1] == "list":
                    elements[-1][2].append((words[4], ("list", _PLY_TYPES[words[2]], _PLY_TYPES[words[3]])))
                else:
                    elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
            elif words[0] == "end_header":
                break
        if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
            raise MeshError(f"{path}: unknown PLY format {fmt!r}")
        body = fh.read()

    verts, faces = None, []
    if fmt == "ascii":
        tokens = body.split()
        pos = 0
        for name, count, props in elements:
            rows = []
            for _ in range(count):
                row = {}
                for pname, spec in props:
                    if isinstance(spec, tuple):
                        n = int(tokens[pos]); pos += 1
                        row[pname] = [int(t) for t in tokens[pos:pos + n]]; pos += n
                    else:
                        row[pname] = float(tokens[pos]); pos += 1
                rows.append(row)
            if name == "vertex":
                verts = np.array([[r["x"], r["y"], r["z"]] for r in rows], dtype=np.float32)
            elif name == "face":
                key = props[0][0]
                faces = [r[key] for r in rows]
    else:
        endian = "<" if fmt == "binary_little_endian" else ">"
        offset = 0
        for name, count, props in elements:
            if all(not isinstance(spec, tuple) for _, spec in props):
                dtype = np.dtype([(p, endian + s) for p, s in props])
                need = dtype.itemsize * count
                if offset + need > len(body):
                    raise MeshError(f"{path}: PLY file is truncated")
                table = np.frombuffer(body, dtype=dtype, count=count, offset=offset)
                offset += need
                if name == "vertex":
                    verts = np.stack([table["x"], table["y"], table["z"]], axis=1).astype(np.float32)
            else:
                rows = []
                for _ in range(count):
                    row = []
                    for _, spec in props:
                        if isinstance(spec, tuple):
                            cdt, idt = np.dtype(endian + spec[1]), np.dtype(endian + spec[2])
                            n = int(np.frombuffer(body, cdt, 1, offset)[0]); offset += cdt.itemsize
                            row = np.frombuffer(body, idt, n, offset).tolist(); offset += idt.itemsize * n
                        else:
                            offset += np.dtype(spec).itemsize
                    rows.append(row)
                if name == "face":
                    faces = rows
    if verts is None or len(verts) == 0:
        raise MeshError(f"{path}: PLY file has no vertices")
    return Mesh(verts, faces)


def _read_obj(path: str) -> Mesh:
    verts, faces = [], []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("v "):
                verts.append([float(v) for v in line.split()[1:4]])
            elif line.startswith("f "):
                faces.append([int(tok.split("/")[0]) - 1 for tok in line.split()[1:]])
    if not verts:
        raise MeshError(f"{path}: OBJ file has no vertices")
    return Mesh(np.asarray(verts, dtype=np.float32), faces)


def write_obj(path: str | os.PathLike, vertices: np.ndarray, faces: list[list[int]]) -> None:
    """Write one frame; faces are 0-based like everywhere else in the project."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("".join(f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in vertices))
        fh.write("".join("f " + " ".join(str(i + 1) for i in face) + "\n" for face in faces))


def write_obj_sequence(directory: str | os.PathLike, frames: np.ndarray, faces: list[list[int]],
                       prefix: str = "frame") -> list[str]:
    """Write (T, V, 3) frames as ``prefix_00000.obj`` …, the layout most DCC importers take.
    The frames are written into a hidden folder beside them first and moved in only when
    all are written, so a full disk or Ctrl-C leaves an earlier sequence whole. Frames of
    an earlier, longer sequence are then removed, or an importer would play them on."""
    folder = Path(directory).absolute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{prefix}.", suffix=".part", dir=folder))
        try:
            names = [f"{prefix}_{i:05d}.obj" for i in range(len(frames))]
            for name, verts in zip(names, frames):
                write_obj(staging / name, verts, faces)
            for name in names:
                os.replace(staging / name, folder / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for stale in folder.glob(f"{prefix}_*.obj"):
            number = stale.stem[len(prefix) + 1:]
            if number.isdigit() and len(number) == 5 and int(number) >= len(frames):
                stale.unlink()
    except OSError as exc:
        raise DiffusionTalkerError(f"the frames could not be written to {folder} ({exc.strerror or exc}); "
                                   "what was there is unchanged") from None
    return [str(folder / name) for name in names]


def check_vertex_count(mesh_vertices: int, expected: int, what: str) -> None:
    """One error message for every place a head must match a checkpoint."""
    if mesh_vertices != expected:
        raise MeshError(
            f"{what} has {mesh_vertices} vertices but the checkpoint was trained on "
            f"{expected}-vertex meshes (FLAME heads have 5023); use a mesh of the same topology"
        )
