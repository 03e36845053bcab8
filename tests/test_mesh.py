"""OBJ height-field meshes: writer, reader, lattice recovery."""

from __future__ import annotations

import os
import re
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiorep import _core
from audiorep.errors import ObjFormatError, ParameterError
from audiorep.mesh import ObjMesh, heightfield_from_obj, read_obj, write_obj

# ---------------------------------------------------------------- reference writer


def reference_lines(grid, x, y, *, precision=6, scale=(1.0, 1.0, 1.0), flip=False, normals=False):
    """The expected file, line by line, written the slow obvious way (vn lines left out)."""
    rows, cols = grid.shape
    sx, sy, sz = scale
    p = precision
    lines = [f"# audiorep height-field rows={rows} cols={cols}"]
    for i in range(rows):
        for j in range(cols):
            lines.append(f"v {float(x[i]) * sx:.{p}f} {float(y[j]) * sy:.{p}f} {float(grid[i, j]) * sz:.{p}f}")
    for i in range(rows):
        for j in range(cols):
            lines.append(f"vt {i / (rows - 1):.{p}f} {j / (cols - 1):.{p}f}")
    lines.append("g mesh")
    for i in range(rows - 1):
        for j in range(cols - 1):
            a, b, c, d = i * cols + j + 1, (i + 1) * cols + j + 1, (i + 1) * cols + j + 2, i * cols + j + 2
            corners = (a, d, c, b) if flip else (a, b, c, d)
            form = "{0}/{0}/{0}" if normals else "{0}/{0}"
            lines.append("f " + " ".join(form.format(k) for k in corners))
    return lines


def reference_normals(grid, x, y, scale=(1.0, 1.0, 1.0)):
    sx, sy, sz = scale
    z = grid.astype(np.float64) * sz
    gx = np.gradient(z, np.asarray(x, np.float64) * sx, axis=0)
    gy = np.gradient(z, np.asarray(y, np.float64) * sy, axis=1)
    n = np.stack([-gx, -gy, np.ones_like(z)], axis=-1)
    return (n / np.linalg.norm(n, axis=-1, keepdims=True)).reshape(-1, 3)


def as_floats(lines, keyword):
    return np.array([[float(t) for t in ln.split()[1:]] for ln in lines if ln.split()[0] == keyword])


@pytest.fixture
def grid(rng):
    return rng.standard_normal((9, 7)).astype(np.float32)


@pytest.fixture
def axes(rng):
    x = np.cumsum(rng.uniform(0.005, 0.02, 9))  # uneven steps exercise the gradient weights
    y = np.sort(rng.uniform(0.0, 20.0, 7))
    return x, y


# ---------------------------------------------------------------- writer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("precision", [6, 3, 9])
def test_text_matches_reference(tmp_path, grid, axes, dtype, precision):
    x, y = axes
    g = grid.astype(dtype)
    path = tmp_path / "m.obj"
    write_obj(path, g, x=x, y=y, precision=precision)
    assert path.read_text().splitlines() == reference_lines(g, x, y, precision=precision)


@pytest.mark.parametrize("normals", [False, True])
def test_round_trip(tmp_path, grid, axes, normals):
    x, y = axes
    path = tmp_path / "m.obj"
    write_obj(path, grid, x=x, y=y, normals=normals)
    mesh = read_obj(path)
    lines = reference_lines(grid, x, y, normals=normals)
    np.testing.assert_array_equal(mesh.vertices, as_floats(lines, "v"))
    np.testing.assert_array_equal(mesh.texcoords, as_floats(lines, "vt"))
    rows, cols = grid.shape
    i, j = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    a = (i * cols + j).ravel()
    quads = np.stack([a, a + cols, a + cols + 1, a + 1], axis=1)
    np.testing.assert_array_equal(mesh.faces, quads)
    np.testing.assert_array_equal(mesh.face_texcoords, quads)
    assert list(mesh.groups) == ["mesh"]
    np.testing.assert_array_equal(mesh.groups["mesh"], np.arange(len(quads)))
    if normals:
        np.testing.assert_array_equal(mesh.face_normals, quads)
        np.testing.assert_allclose(mesh.normals, reference_normals(grid, x, y), atol=1.5e-6)
        text = [ln for ln in path.read_text().splitlines() if not ln.startswith("vn ")]
        assert text == lines
    else:
        assert mesh.normals.shape == (0, 3)
        assert (mesh.face_normals == -1).all()
    assert mesh.vertices.dtype == np.float64 and mesh.faces.dtype == np.int64


def test_scale_and_normals(tmp_path, grid, axes):
    x, y = axes
    scale = (2.0, 0.25, -3.0)
    path = tmp_path / "m.obj"
    write_obj(path, grid, x=x, y=y, scale=scale, normals=True, precision=8)
    mesh = read_obj(path)
    lines = reference_lines(grid, x, y, precision=8, scale=scale, normals=True)
    np.testing.assert_array_equal(mesh.vertices, as_floats(lines, "v"))
    np.testing.assert_allclose(mesh.normals, reference_normals(grid, x, y, scale), atol=1.5e-8)


def signed_areas(mesh):
    xy = mesh.vertices[:, :2][mesh.faces]  # (F, 4, 2)
    nxt = np.roll(xy, -1, axis=1)
    return 0.5 * (xy[..., 0] * nxt[..., 1] - nxt[..., 0] * xy[..., 1]).sum(axis=1)


@pytest.mark.parametrize("x_sign", [1, -1])
@pytest.mark.parametrize("y_sign", [1, -1])
@pytest.mark.parametrize("sx", [1.0, -2.0])
def test_faces_counter_clockwise_from_above(tmp_path, grid, axes, x_sign, y_sign, sx):
    x, y = axes
    path = tmp_path / "m.obj"
    write_obj(path, grid, x=x * x_sign, y=y * y_sign, scale=(sx, 1.0, 1.0), normals=True)
    mesh = read_obj(path)
    assert (signed_areas(mesh) > 0).all()
    # The normals point to the same side as the faces.
    assert (mesh.normals[:, 2] > 0).all()


@pytest.mark.parametrize("precision", [0, 17])
def test_extreme_values(tmp_path, precision):
    g = np.array([[1e300, -1e300, 0.5], [-0.0, 1e-300, -2.5], [np.finfo(np.float64).max, -1.5, 3.5]])
    x, y = np.array([-1e200, 0.0, 1e200]), np.array([0.125, 0.25, 0.375])
    path = tmp_path / "m.obj"
    write_obj(path, g, x=x, y=y, precision=precision, normals=True)
    lines = reference_lines(g, x, y, precision=precision, normals=True)
    assert [ln for ln in path.read_text().splitlines() if not ln.startswith("vn ")] == lines
    mesh = read_obj(path)
    np.testing.assert_array_equal(mesh.vertices, as_floats(lines, "v"))
    # Slopes of 1e300 and more must not overflow into NaN or zero-length normals.
    assert np.isfinite(mesh.normals).all() and (mesh.normals[:, 2] >= 0).all()
    assert (np.abs(mesh.normals).max(axis=1) > 0.5).all()


@st.composite
def values_and_precision(draw):
    precision = draw(st.integers(0, 17))
    def tie(k, steps, sign):
        value = (k + 0.5) / 10**precision
        for _ in range(abs(steps)):
            value = np.nextafter(value, np.inf if steps > 0 else -np.inf)
        return sign * float(value)

    near_tie = st.builds(tie, st.integers(0, 10**7), st.integers(-2, 2), st.sampled_from([-1.0, 1.0]))
    any_float = st.floats(allow_nan=False, allow_infinity=False)
    values = draw(st.lists(st.one_of(any_float, near_tie), min_size=4, max_size=4))
    return np.array(values).reshape(2, 2), precision


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=values_and_precision())
def test_numbers_are_correctly_rounded(tmp_path, case):
    # Python's format rounds the exact binary value correctly; the writer must agree everywhere,
    # including next to ties, where a fast scaled rounding would go wrong.
    g, precision = case
    path = tmp_path / "r.obj"
    write_obj(path, g, precision=precision)
    assert path.read_text().splitlines() == reference_lines(g, [0, 1], [0, 1], precision=precision)


def test_threads_give_identical_files(tmp_path, rng):
    g = rng.standard_normal((37, 11))
    for workers in (1, 3, 8):
        write_obj(tmp_path / f"{workers}.obj", g, normals=True, workers=workers)
    one = (tmp_path / "1.obj").read_bytes()
    assert (tmp_path / "3.obj").read_bytes() == one
    assert (tmp_path / "8.obj").read_bytes() == one


def test_non_contiguous_and_integer_grids(tmp_path, rng):
    base = rng.integers(-50, 50, size=(8, 12))
    # Strides that are not whole elements: numpy allows them, the core does not.
    unaligned = np.ndarray((8, 12), dtype=np.float64, buffer=np.zeros(8 * 12 * 9 + 1, np.uint8), offset=1,
                           strides=(12 * 9, 9))
    unaligned[...] = base
    views = {
        "strided": base.astype(np.float64)[:, ::2],
        "reversed": base.astype(np.float32)[::-1, ::-3],
        "transposed": base.T.astype(np.float64).copy().T,
        "fortran": np.asfortranarray(base.astype(np.float32)),
        "unaligned": unaligned,
        "int": base,
        "uint8": (base + 50).astype(np.uint8),
    }
    for name, g in views.items():
        write_obj(tmp_path / f"{name}.obj", g)
        expected = reference_lines(np.asarray(g, np.float64), np.arange(g.shape[0]), np.arange(g.shape[1]))
        assert (tmp_path / f"{name}.obj").read_text().splitlines() == expected, name


def test_autocorrelogram_like_object(tmp_path, grid):
    times = np.arange(9) * 0.0116
    lags = np.arange(7) / 44100.0
    acg = SimpleNamespace(values=grid, times=times, lags=lags)
    path = tmp_path / "acg.obj"
    write_obj(path, acg)
    x, y, z = heightfield_from_obj(read_obj(path))
    np.testing.assert_allclose(x, times, atol=5e-7)
    np.testing.assert_allclose(y, lags * 1000.0, atol=5e-7)
    np.testing.assert_allclose(z, grid, atol=5e-7)
    # Explicit axes win over the object's.
    write_obj(path, acg, x=np.arange(9.0), y=np.arange(7.0))
    x, y, _ = heightfield_from_obj(read_obj(path))
    np.testing.assert_array_equal(x, np.arange(9.0))
    np.testing.assert_array_equal(y, np.arange(7.0))


def test_autocorrelogram_with_mismatched_axes(tmp_path, grid):
    acg = SimpleNamespace(values=grid, times=np.arange(8.0), lags=np.arange(7.0))
    with pytest.raises(ParameterError, match="the autocorrelogram's times has 8 values but the grid needs 9"):
        write_obj(tmp_path / "a.obj", acg)


def test_batched_autocorrelogram_is_rejected(tmp_path, rng):
    acg = SimpleNamespace(values=rng.standard_normal((2, 9, 7)), times=np.arange(9.0), lags=np.arange(7.0))
    with pytest.raises(ParameterError, match="batch"):
        write_obj(tmp_path / "b.obj", acg)


def test_trimesh_reads_our_files(tmp_path, grid, axes):
    trimesh = pytest.importorskip("trimesh")
    x, y = axes
    for normals in (False, True):
        path = tmp_path / f"t{normals}.obj"
        write_obj(path, grid, x=x, y=y, normals=normals)
        loaded = trimesh.load(path, process=False)
        rows, cols = grid.shape
        assert loaded.vertices.shape == (rows * cols, 3)
        assert loaded.faces.shape == (2 * (rows - 1) * (cols - 1), 3)
        np.testing.assert_allclose(loaded.vertices, read_obj(path).vertices)


# ---------------------------------------------------------------- atomic writes and bad input


def test_atomic_write_leaves_no_temp_files(tmp_path, grid):
    path = tmp_path / "m.obj"
    path.write_text("old")
    write_obj(path, grid)
    assert os.listdir(tmp_path) == ["m.obj"]
    assert path.read_text().startswith("# audiorep height-field rows=9 cols=7\n")


def test_failed_write_keeps_the_old_file(tmp_path, grid, monkeypatch):
    path = tmp_path / "m.obj"
    path.write_text("old")
    bad = grid.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ParameterError, match=r"NaN|non-finite"):
        write_obj(path, bad)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["m.obj"]

    def broken(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_core, "write_heightfield", broken)
    with pytest.raises(OSError, match="No space"):
        write_obj(path, grid)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["m.obj"]


def test_bytes_paths(tmp_path, grid):
    path = os.fsencode(tmp_path / "b.obj")
    write_obj(path, grid)
    assert read_obj(path).vertices.shape == (grid.size, 3)
    assert os.listdir(tmp_path) == ["b.obj"]


def test_missing_directory(tmp_path, grid):
    with pytest.raises(FileNotFoundError):
        write_obj(tmp_path / "nowhere" / "m.obj", grid)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.nan, "non-finite"),
        (np.inf, "non-finite"),
        (-np.inf, "non-finite"),
    ],
)
def test_non_finite_grid(tmp_path, grid, value, message):
    g = grid.astype(np.float64)
    g[2, 5] = value
    with pytest.raises(ParameterError, match=rf"{message}.*\(2, 5\)"):
        write_obj(tmp_path / "m.obj", g)


@pytest.mark.parametrize(
    "shape",
    [(0, 0), (0, 5), (1, 5), (5, 1), (1, 1)],
)
def test_too_small_grids(tmp_path, shape):
    with pytest.raises(ParameterError, match="at least 2 x 2"):
        write_obj(tmp_path / "m.obj", np.zeros(shape))


@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_wrong_ndim(tmp_path, shape):
    with pytest.raises(ParameterError, match="2-D"):
        write_obj(tmp_path / "m.obj", np.zeros(shape))


@pytest.mark.parametrize(
    "grid",
    [
        np.array([["a", "b"], ["c", "d"]]),
        np.zeros((3, 3), dtype=complex),
        np.zeros((3, 3), dtype=bool),
        np.array([[1.0, None], [2.0, 3.0]], dtype=object),
        "not an array",
    ],
)
def test_non_numeric_grid(tmp_path, grid):
    with pytest.raises(TypeError, match="real numbers"):
        write_obj(tmp_path / "m.obj", grid)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"x": np.arange(4.0)}, ParameterError, "x has 4 values but the grid needs 3"),
        ({"y": np.arange(5.0)}, ParameterError, "y has 5 values but the grid needs 4"),
        ({"x": np.zeros((3, 1))}, ParameterError, "x must be 1-D"),
        ({"x": ["a", "b", "c"]}, TypeError, "x must hold real numbers"),
        ({"x": [0.0, np.nan, 1.0]}, ParameterError, "x holds a non-finite value"),
        ({"y": [0.0, 1.0, 1.0, 2.0]}, ParameterError, "y must be strictly"),
        ({"x": [0.0, 2.0, 1.0]}, ParameterError, "x must be strictly"),
        ({"scale": (1.0, 2.0)}, ParameterError, "scale"),
        ({"scale": (1.0, 0.0, 1.0)}, ParameterError, "non-zero"),
        ({"scale": (1.0, np.inf, 1.0)}, ParameterError, "finite"),
        ({"scale": "abc"}, ParameterError, "scale"),
        ({"precision": -1}, ParameterError, "precision=-1"),
        ({"precision": 18}, ParameterError, "precision=18"),
        ({"precision": 2.5}, ParameterError, "precision=2.5"),
        ({"workers": 0}, ParameterError, "workers=0"),
    ],
)
def test_bad_options(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        write_obj(tmp_path / "m.obj", np.zeros((3, 4)), **kwargs)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- reader: variants


def parse_text(tmp_path, text: str | bytes) -> ObjMesh:
    path = tmp_path / "in.obj"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return read_obj(path)


SQUARE = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\n"


def test_triangles_and_quads(tmp_path):
    mesh = parse_text(tmp_path, SQUARE + "f 1 2 3\nf 1 2 3 4\n")
    assert mesh.faces.tolist() == [[0, 1, 2, -1], [0, 1, 2, 3]]
    assert (mesh.face_texcoords == -1).all() and (mesh.face_normals == -1).all()
    assert mesh.groups["default"].tolist() == [0, 1]


@pytest.mark.parametrize(
    ("face", "vt", "vn"),
    [
        ("f 1 2 3", [-1, -1, -1, -1], [-1, -1, -1, -1]),
        ("f 1/2 2/1 3/2", [1, 0, 1, -1], [-1, -1, -1, -1]),
        ("f 1//1 2//1 3//1", [-1, -1, -1, -1], [0, 0, 0, -1]),
        ("f 1/1/1 2/2/1 3/1/1", [0, 1, 0, -1], [0, 0, 0, -1]),
        ("f -4/-2/-1 -3/-1/-1 -2/-2/-1", [0, 1, 0, -1], [0, 0, 0, -1]),
        ("f\t1/1/1   2/2/1\t3/1/1   ", [0, 1, 0, -1], [0, 0, 0, -1]),
    ],
)
def test_corner_forms(tmp_path, face, vt, vn):
    mesh = parse_text(tmp_path, SQUARE + "vt 0 0\nvt 1 1\nvn 0 0 1\n" + face + "\n")
    assert mesh.faces.tolist() == [[0, 1, 2, -1]]
    assert mesh.face_texcoords.tolist() == [vt]
    assert mesh.face_normals.tolist() == [vn]


def test_relative_indices_follow_the_statements(tmp_path):
    text = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf -3 -2 -1\nv 5 5 5\nf -1 -2 -3\n"
    mesh = parse_text(tmp_path, text)
    assert mesh.faces.tolist() == [[0, 1, 2, -1], [3, 2, 1, -1]]


def test_polygons_are_fan_triangulated(tmp_path):
    text = SQUARE + "v 2 2 0\nv 3 3 0\nvt 0 0\nf 1 2 3 4 5\nf 1/1 2/1 3/1 4/1 5/1 6/1\n"
    mesh = parse_text(tmp_path, text)
    assert mesh.faces.tolist() == [
        [0, 1, 2, -1],
        [0, 2, 3, -1],
        [0, 3, 4, -1],
        [0, 1, 2, -1],
        [0, 2, 3, -1],
        [0, 3, 4, -1],
        [0, 4, 5, -1],
    ]
    assert mesh.face_texcoords[3:].tolist() == [[0, 0, 0, -1]] * 4


def test_comments_blank_lines_crlf_and_ignored_statements(tmp_path):
    text = (
        "# a comment\r\n"
        "\r\n"
        "mtllib scene.mtl\r\n"
        "o thing\r\n"
        "   \t \r\n"
        "v 0 0 0 # trailing comment\r\n"
        "v 1.5e0 -0 +2\r\n"
        "v 0 1 0\r\n"
        "usemtl shiny\r\n"
        "s off\r\n"
        "l 1 2\r\n"
        "vp 0.5 0.5\r\n"
        "f 1 2 3\r\n"
        "#f 1 2 4\r\n"
        "f 1 2 3"  # no final newline
    )
    mesh = parse_text(tmp_path, text)
    np.testing.assert_array_equal(mesh.vertices, [[0, 0, 0], [1.5, 0, 2], [0, 1, 0]])
    assert mesh.faces.tolist() == [[0, 1, 2, -1]] * 2


def test_a_utf8_byte_order_mark_does_not_hide_the_first_vertex(tmp_path):
    path = tmp_path / "bom.obj"
    path.write_bytes(b"\xef\xbb\xbfv 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nf 1 2 3\nf 2 4 3\n")
    mesh = read_obj(path)
    np.testing.assert_array_equal(mesh.vertices, [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]])
    assert mesh.faces.tolist() == [[0, 1, 2, -1], [1, 3, 2, -1]]


def test_extra_components_are_dropped(tmp_path):
    text = "v 1 2 3 0.5\nv 4 5 6 0.1 0.2 0.3\nv 7 8 9 1 0.1 0.2 0.3\nvt 0.25 0.75 1\nvt 0.5\nvn 0 0 1\n"
    mesh = parse_text(tmp_path, text)
    np.testing.assert_array_equal(mesh.vertices, [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    np.testing.assert_array_equal(mesh.texcoords, [[0.25, 0.75], [0.5, 0.0]])
    np.testing.assert_array_equal(mesh.normals, [[0, 0, 1]])


def test_groups(tmp_path):
    text = SQUARE + "f 1 2 3\ng left right\nf 1 2 4\ng\nf 2 3 4\ng right\nf 1 3 4\no part\nf 1 2 3\ng empty\n"
    mesh = parse_text(tmp_path, text)
    groups = {k: v.tolist() for k, v in mesh.groups.items()}
    assert groups == {"default": [0, 2], "left": [1], "right": [1, 3, 4]}


def test_empty_file(tmp_path):
    mesh = parse_text(tmp_path, "")
    assert mesh.vertices.shape == (0, 3) and mesh.faces.shape == (0, 4) and mesh.groups == {}


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_obj(tmp_path / "absent.obj")


def test_large_file_parsed_in_chunks_matches_one_thread(tmp_path, rng):
    # Over 1 MiB so that several threads each take a chunk; groups and relative indices
    # must carry across the chunk boundaries.
    g = rng.standard_normal((60, 400))
    path = tmp_path / "big.obj"
    write_obj(path, g, normals=True)
    text = path.read_text().replace("g mesh\n", "g first\n", 1)
    lines = text.splitlines()
    faces = [k for k, ln in enumerate(lines) if ln.startswith("f ")]
    middle = faces[len(faces) // 2]
    lines.insert(middle, "g second")
    lines[faces[-1] + 1] = "f -1 -2 -3 -4 -5"
    path.write_text("\n".join(lines) + "\n")
    one = read_obj(path, workers=1)
    many = read_obj(path, workers=4)
    assert os.path.getsize(path) > 3 << 20
    for name in ("vertices", "texcoords", "normals", "faces", "face_texcoords", "face_normals"):
        np.testing.assert_array_equal(getattr(one, name), getattr(many, name), err_msg=name)
    assert list(one.groups) == list(many.groups) == ["first", "second"]
    for name in one.groups:
        np.testing.assert_array_equal(one.groups[name], many.groups[name])
    n = g.size
    assert one.faces[-3:].tolist() == [[n - 1, n - 2, n - 3, -1], [n - 1, n - 3, n - 4, -1], [n - 1, n - 4, n - 5, -1]]
    nf = len(one.faces)
    assert one.groups["second"][-1] == nf - 1 and one.groups["first"][0] == 0
    assert len(one.groups["first"]) + len(one.groups["second"]) == nf


# ---------------------------------------------------------------- reader: malformed input


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("v 1 2\n", 1, "'v' needs 3 coordinates, found 2"),
        ("# c\r\n\r\nv 1 x 3\r\n", 3, "bad number 'x'"),
        ("v 1 2 nan\n", 1, "bad number 'nan'"),
        ("v 1 2 1e999\n", 1, "bad number '1e999'"),
        ("v 1 2 3abc\n", 1, "bad number '3abc'"),
        ("v 1 2 3 w\n", 1, "bad number 'w'"),
        ("vt\n", 1, "'vt' needs at least 1 coordinate"),
        ("vn 0 1\n", 1, "'vn' needs 3 components, found 2"),
        ("vn 0 1 0 1\n", 1, "'vn' has more than 3 components"),
        (SQUARE + "f 1 2\n", 5, "at least 3 vertices, found 2"),
        (SQUARE + "f\n", 5, "at least 3 vertices, found 0"),
        (SQUARE + "f 0 1 2\n", 5, "vertex index 0 is not valid"),
        (SQUARE + "f 1 2 5\n", 5, "vertex index 5 is out of range (4 defined so far)"),
        (SQUARE + "f -5 1 2\n", 5, "vertex index -5 is out of range"),
        (SQUARE + "f 1 2 3\nv 0 0 0\nf 5 2 3\nf 1 2 6\n", 8, "vertex index 6"),
        (SQUARE + "vt 0 0\nf 1/2 2/1 3/1\n", 6, "texture coordinate index 2 is out of range"),
        (SQUARE + "f 1//1 2//1 3//1\n", 5, "normal index 1 is out of range (0 defined so far)"),
        (SQUARE + "f 1/a 2 3\n", 5, "bad face corner '1/a'"),
        (SQUARE + "f 1.5 2 3\n", 5, "bad face corner '1.5'"),
        (SQUARE + "vt 0 0\nvn 0 0 1\nf 1 2 3/1/1/1\n", 7, "bad face corner '3/1/1/1'"),
        (SQUARE + "f 1 2 99999999999999999999999\n", 5, "bad face corner"),
        (SQUARE + "f 1 2 -9223372036854775808\n", 5, "out of range"),
    ],
)
def test_malformed_lines(tmp_path, text, line, message):
    path = tmp_path / "bad.obj"
    path.write_bytes(text.encode())
    with pytest.raises(ObjFormatError) as info:
        read_obj(path)
    assert str(info.value).startswith(f"{path}, line {line}: ")
    assert message in str(info.value)


def test_error_line_in_a_later_chunk(tmp_path, rng):
    path = tmp_path / "big.obj"
    write_obj(path, rng.standard_normal((40, 300)))
    lines = path.read_text().splitlines()
    bad = len(lines) - 10
    lines[bad] = "f 1 2"
    path.write_text("\n".join(lines) + "\n")
    for workers in (1, 4):
        with pytest.raises(ObjFormatError, match=rf", line {bad + 1}: a face needs"):
            read_obj(path, workers=workers)


def test_binary_bytes_in_a_message_are_escaped(tmp_path):
    path = tmp_path / "bin.obj"
    path.write_bytes(b"v 1 2 \xff\xfe\x00\n")
    with pytest.raises(ObjFormatError, match=r"bad number '\\xff\\xfe\\x00'"):
        read_obj(path)


# ---------------------------------------------------------------- reader: properties


@st.composite
def obj_documents(draw):
    """A random valid OBJ text and the mesh it must parse to."""
    lines, v, vt, vn, faces, fvt, fvn = [], [], [], [], [], [], []
    groups, current = {}, ["default"]
    finite = st.floats(-1e6, 1e6, allow_nan=False, width=64)
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["v", "v", "vt", "vn", "f", "f", "g", "noise"]))
        if kind == "v":
            xyz = draw(st.lists(finite, min_size=3, max_size=3))
            extra = draw(st.sampled_from([[], [1.0], [0.1, 0.2, 0.3]]))
            v.append(xyz)
            lines.append("v " + " ".join(repr(c) for c in xyz + extra))
        elif kind == "vt":
            uv = draw(st.lists(finite, min_size=1, max_size=3))
            vt.append((uv + [0.0])[:2])
            lines.append("vt " + " ".join(repr(c) for c in uv))
        elif kind == "vn":
            n = draw(st.lists(finite, min_size=3, max_size=3))
            vn.append(n)
            lines.append("vn " + " ".join(repr(c) for c in n))
        elif kind == "f" and v:
            k = draw(st.integers(3, 6))
            use_t = bool(vt) and draw(st.booleans())
            use_n = bool(vn) and draw(st.booleans())
            corners, texts = [], []
            for _ in range(k):
                c = (
                    draw(st.integers(0, len(v) - 1)),
                    draw(st.integers(0, len(vt) - 1)) if use_t else -1,
                    draw(st.integers(0, len(vn) - 1)) if use_n else -1,
                )
                corners.append(c)

                def ref(index, count):
                    # 1-based or relative (negative), as writers choose.
                    return str(index + 1) if draw(st.booleans()) else str(index - count)

                t = ref(c[0], len(v))
                if use_t or use_n:
                    t += "/" + (ref(c[1], len(vt)) if use_t else "")
                if use_n:
                    t += "/" + ref(c[2], len(vn))
                texts.append(t)
            lines.append("f " + draw(st.sampled_from([" ", "  ", "\t"])).join(texts))
            tris = [corners] if k <= 4 else [[corners[0], corners[m], corners[m + 1]] for m in range(1, k - 1)]
            for tri in tris:
                for name in current:
                    groups.setdefault(name, []).append(len(faces))
                pad = tri + [(-1, -1, -1)] * (4 - len(tri))
                faces.append([c[0] for c in pad])
                fvt.append([c[1] for c in pad])
                fvn.append([c[2] for c in pad])
        elif kind == "g":
            names = draw(st.lists(st.sampled_from(["a", "b", "c", "default"]), max_size=3))
            lines.append(" ".join(["g", *names]))
            current = list(dict.fromkeys(names)) or ["default"]
        else:
            lines.append(draw(st.sampled_from(["# note", "", "o obj", "s 1", "usemtl m", "mtllib a.mtl", "   "])))
    text = eol.join(lines) + draw(st.sampled_from(["", eol]))
    expected = {
        "vertices": np.array(v, dtype=np.float64).reshape(-1, 3),
        "texcoords": np.array(vt, dtype=np.float64).reshape(-1, 2),
        "normals": np.array(vn, dtype=np.float64).reshape(-1, 3),
        "faces": np.array(faces, dtype=np.int64).reshape(-1, 4),
        "face_texcoords": np.array(fvt, dtype=np.int64).reshape(-1, 4),
        "face_normals": np.array(fvn, dtype=np.int64).reshape(-1, 4),
        "groups": groups,
    }
    return text, expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=obj_documents())
def test_random_documents_parse_to_their_meshes(tmp_path, doc):
    text, expected = doc
    check_parsed(parse_text(tmp_path, text), expected)


def check_parsed(mesh, expected):
    for name, value in expected.items():
        if name != "groups":
            np.testing.assert_array_equal(getattr(mesh, name), value, err_msg=name)
    assert {k: v.tolist() for k, v in mesh.groups.items()} == expected["groups"]


PAD = "# padding between statements\n" * 40_000  # 1.2 MB: big files are parsed in chunks


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=obj_documents(), cuts=st.lists(st.integers(0, 30), min_size=3, max_size=3))
def test_random_documents_across_chunks(tmp_path, doc, cuts):
    # Three pads put chunk boundaries between the statements, so that relative indices,
    # index checks and groups must carry from one chunk to the next.
    text, expected = doc
    eol = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(eol)
    for cut in sorted(cuts, reverse=True):
        at = min(cut, len(lines))
        lines[at:at] = [PAD.replace("\n", eol).rstrip(eol)]
    path = tmp_path / "padded.obj"
    path.write_bytes(eol.join(lines).encode())
    check_parsed(read_obj(path, workers=3), expected)


def check_consistent(mesh: ObjMesh) -> None:
    nv, nvt, nvn = len(mesh.vertices), len(mesh.texcoords), len(mesh.normals)
    for arr, count in ((mesh.faces, nv), (mesh.face_texcoords, nvt), (mesh.face_normals, nvn)):
        assert arr.shape == mesh.faces.shape
        assert ((arr >= -1) & (arr < count)).all()
    assert (mesh.faces[:, :3] >= 0).all()
    assert np.isfinite(mesh.vertices).all()


def parse_or_reject(tmp_path, data: bytes) -> None:
    path = tmp_path / "fuzz.obj"
    path.write_bytes(data)
    try:
        mesh = read_obj(path)
    except ObjFormatError as exc:
        assert re.match(rf"{re.escape(str(path))}, line \d+: ", str(exc))
        line = int(re.search(r"line (\d+)", str(exc)).group(1))
        assert 1 <= line <= data.count(b"\n") + 1
    else:
        check_consistent(mesh)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600))
def test_random_bytes_never_crash(tmp_path, data):
    parse_or_reject(tmp_path, data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=obj_documents(), edits=st.lists(st.tuples(st.integers(0, 10_000), st.binary(max_size=3)), max_size=6))
def test_corrupted_documents_never_crash(tmp_path, doc, edits):
    data = bytearray(doc[0].encode())
    for pos, chunk in edits:
        at = pos % (len(data) + 1)
        data[at : at + 1] = chunk
    parse_or_reject(tmp_path, bytes(data))


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300))
def test_core_parser_on_raw_bytes(data):
    # Straight to the kernel with several threads: it reports, it does not throw.
    parsed = _core.parse_obj(b"v 0 0 0\n" + data, 4)
    assert ("error" in parsed) != ("vertices" in parsed)


# ---------------------------------------------------------------- lattice recovery


def test_heightfield_round_trip(tmp_path, axes, rng):
    x, y = axes
    g = rng.standard_normal((9, 7))
    path = tmp_path / "m.obj"
    write_obj(path, g, x=x, y=y, precision=12)
    rx, ry, rg = heightfield_from_obj(read_obj(path))
    np.testing.assert_allclose(rx, x, atol=5e-13)
    np.testing.assert_allclose(ry, y, atol=5e-13)
    np.testing.assert_allclose(rg, g, atol=5e-13)


def test_heightfield_from_another_writer(tmp_path):
    # Triangles, no texture coordinates, x decreasing: the lattice is all that counts.
    rows, cols = 3, 4
    lines = [f"v {2.0 - i} {j * 0.5} {i * 10 + j}" for i in range(rows) for j in range(cols)]
    lines += ["f 1 5 6", "f 1 6 2"]
    x, y, g = heightfield_from_obj(parse_text(tmp_path, "\n".join(lines)))
    np.testing.assert_array_equal(x, [2.0, 1.0, 0.0])
    np.testing.assert_array_equal(y, [0.0, 0.5, 1.0, 1.5])
    np.testing.assert_array_equal(g, np.arange(rows)[:, None] * 10 + np.arange(cols))


def lattice_mesh(vertices) -> ObjMesh:
    empty = np.zeros((0, 4), np.int64)
    v = np.asarray(vertices, np.float64)
    return ObjMesh(v, np.zeros((0, 2)), np.zeros((0, 3)), empty, empty, empty, {})


@pytest.mark.parametrize(
    ("vertices", "message"),
    [
        ([], "0 vertices"),
        ([[0, 0, 0], [0, 1, 0], [1, 0, 0]], "3 vertices"),
        ([[0, 0, 0], [0, 1, 0], [0, 2, 0], [0, 3, 0]], "only one row"),
        ([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]], "rows of at least 2 points"),
        ([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 0], [2, 0, 0]], "not a whole number of rows"),
        ([[0, 0, 0], [0, 1, 0], [1, 0, 0], [2, 1, 0]], "x varies within row 1"),
        ([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 2, 0]], "row 1 does not repeat the y values"),
        ([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 0], [1, 0, 0], [1, 1, 0]], "the same x value"),
    ],
)
def test_heightfield_rejects_non_lattices(vertices, message):
    with pytest.raises(ObjFormatError, match=re.escape(message)):
        heightfield_from_obj(lattice_mesh(np.reshape(vertices, (-1, 3))))


@pytest.fixture(scope="module")
def obj_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "seed.obj"
    write_obj(path, np.outer(np.hanning(7), np.hanning(5)), normals=True)
    return path.read_bytes()


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keep=st.floats(0.0, 1.0),
       edits=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(list(b"0123456789-+.e/ \nvfn#\x00\xff"))),
                      max_size=5))
def test_fuzz_edited_obj_text_gives_a_named_error_or_a_consistent_mesh(obj_bytes, tmp_path, keep, edits):
    body = bytearray(obj_bytes[: int(len(obj_bytes) * keep)])
    for pos, byte in edits:
        if body:
            body[pos % len(body)] = byte
    path = tmp_path / "fuzz.obj"
    path.write_bytes(bytes(body))
    try:
        mesh = read_obj(path, workers=2)
    except ObjFormatError as exc:
        assert str(path) in str(exc) and "line" in str(exc)
        return
    corners = mesh.faces[mesh.faces >= 0]
    assert corners.size == 0 or 0 <= corners.min() <= corners.max() < len(mesh.vertices)
