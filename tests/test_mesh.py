import numpy as np
import pytest

from diffusiontalker.mesh import MeshError, check_vertex_count, read_mesh, write_obj, write_obj_sequence

VERTS = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
FACES = [[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]]


def write_ply(path, binary, endian="<"):
    fmt = {"<": "binary_little_endian", ">": "binary_big_endian"}[endian] if binary else "ascii"
    header = (f"ply\nformat {fmt} 1.0\ncomment test\nelement vertex {len(VERTS)}\nproperty float x\n"
              f"property float y\nproperty float z\nproperty uchar red\nelement face {len(FACES)}\n"
              "property list uchar int vertex_indices\nend_header\n").encode()
    with open(path, "wb") as fh:
        fh.write(header)
        if binary:
            vt = np.dtype([("x", endian + "f4"), ("y", endian + "f4"), ("z", endian + "f4"), ("r", "u1")])
            table = np.zeros(len(VERTS), vt)
            table["x"], table["y"], table["z"] = VERTS.T
            fh.write(table.tobytes())
            for f in FACES:
                fh.write(np.uint8(len(f)).tobytes() + np.asarray(f, endian + "i4").tobytes())
        else:
            fh.write("".join(f"{x} {y} {z} 7\n" for x, y, z in VERTS).encode())
            fh.write("".join("3 " + " ".join(map(str, f)) + "\n" for f in FACES).encode())


@pytest.mark.parametrize("binary, endian", [(False, "<"), (True, "<"), (True, ">")])
def test_ply_variants(tmp_path, binary, endian):
    path = tmp_path / "m.ply"
    write_ply(path, binary, endian)
    mesh = read_mesh(path)
    np.testing.assert_array_equal(mesh.vertices, VERTS)
    assert mesh.faces == FACES


def test_obj_round_trip_and_sequence(tmp_path):
    write_obj(tmp_path / "m.obj", VERTS, FACES)
    mesh = read_mesh(tmp_path / "m.obj")
    np.testing.assert_allclose(mesh.vertices, VERTS)
    assert mesh.faces == FACES
    paths = write_obj_sequence(tmp_path / "seq", np.stack([VERTS, VERTS + 1]), FACES)
    assert len(paths) == 2
    np.testing.assert_allclose(read_mesh(paths[1]).vertices, VERTS + 1)


def test_truncated_binary_ply(tmp_path):
    path = tmp_path / "m.ply"
    write_ply(path, True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 60])
    with pytest.raises(MeshError, match="m.ply"):
        read_mesh(path)


def test_bad_mesh_files(tmp_path):
    (tmp_path / "x.stl").write_text("solid")
    with pytest.raises(MeshError, match="unsupported"):
        read_mesh(tmp_path / "x.stl")
    (tmp_path / "bad.ply").write_text("hello")
    with pytest.raises(MeshError, match="not a PLY"):
        read_mesh(tmp_path / "bad.ply")
    with pytest.raises(MeshError, match="not found"):
        read_mesh(tmp_path / "nope.obj")


def test_vertex_count_mismatch_message():
    with pytest.raises(MeshError, match="has 4 vertices but the checkpoint was trained on 5023"):
        check_vertex_count(4, 5023, "template head.obj")


def test_flame_template(flame_dir):
    mesh = read_mesh(flame_dir / "FLAME_sample.ply")
    assert mesh.vertices.shape == (5023, 3)
    assert len(mesh.faces) == 9976
