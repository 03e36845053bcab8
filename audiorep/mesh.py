"""Wavefront OBJ height-field meshes of autocorrelograms and other 2-D grids.

A grid ``z`` over a time axis ``x`` (rows, seconds) and a delay axis ``y`` (columns,
milliseconds) is written as one vertex ``v x y z`` per grid point in row-major order,
one texture coordinate ``vt i/(rows-1) j/(cols-1)`` per vertex, optional per-vertex
normals, a group ``mesh`` and one quad per grid cell. Formatting and parsing run in
the compiled core; this module checks arguments and handles files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from . import _core
from ._util import as_int, atomic_path, resolve_workers
from .errors import ObjFormatError, ParameterError

__all__ = ["ObjMesh", "write_obj", "read_obj", "heightfield_from_obj"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class ObjMesh:
    """A mesh read from an OBJ file.

    Attributes
    ----------
    vertices : np.ndarray, shape (N, 3), float64
        Vertex positions (a ``w`` or vertex colours in the file are dropped).
    texcoords : np.ndarray, shape (M, 2), float64
        Texture coordinates (a third component in the file is dropped).
    normals : np.ndarray, shape (K, 3), float64
        Normals.
    faces : np.ndarray, shape (F, 4), int64
        0-based vertex indices; the fourth column is -1 for triangles. Polygons with more
        than four corners are split into a fan of triangles.
    face_texcoords, face_normals : np.ndarray, shape (F, 4), int64
        0-based texture coordinate and normal indices, -1 where the face gives none.
    groups : dict of str to np.ndarray
        Face indices per group name, for groups that hold at least one face. Faces
        before any ``g`` statement are in the group ``"default"``.
    """

    vertices: np.ndarray
    texcoords: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    face_texcoords: np.ndarray
    face_normals: np.ndarray
    groups: dict[str, np.ndarray] = field(default_factory=dict)


def _real_array(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers: {exc}") from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(k) for k in np.argwhere(bad)[0])
        index = where[0] if len(where) == 1 else where
        raise ParameterError(f"{name} holds a non-finite value ({arr[where]}) at index {index}")


def _axis(value, n: int, name: str) -> np.ndarray:
    arr = _real_array(value, name)
    if arr.ndim != 1:
        raise ParameterError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ParameterError(f"{name} has {arr.shape[0]} values but the grid needs {n}")
    arr = arr.astype(np.float64)
    _check_finite(arr, name)
    step = np.diff(arr)
    if not ((step > 0).all() or (step < 0).all()):
        raise ParameterError(f"{name} must be strictly increasing or strictly decreasing")
    return arr


def _grid_and_axes(acg_or_grid, x, y):
    """Split the input into the grid and the default axes (times in s, delays in ms)."""
    x_name, y_name = "x", "y"
    if not isinstance(acg_or_grid, np.ndarray) and all(
        hasattr(acg_or_grid, a) for a in ("values", "times", "lags")
    ):
        grid = _real_array(acg_or_grid.values, "the autocorrelogram's values")
        if grid.ndim != 2:
            raise ParameterError(
                f"the autocorrelogram's values have shape {grid.shape}; write_obj takes one (frames x lags) "
                "autocorrelogram, not a batch: select one first"
            )
        if x is None:
            x_name = "the autocorrelogram's times"
            x = _real_array(acg_or_grid.times, x_name)
        if y is None:
            y_name = "the autocorrelogram's lags"
            y = _real_array(acg_or_grid.lags, y_name) * 1000.0
    else:
        grid = _real_array(acg_or_grid, "grid")
        if grid.ndim != 2:
            raise ParameterError(f"grid must be 2-D (rows = time, columns = lag), got shape {grid.shape}")
    rows, cols = grid.shape
    if rows < 2 or cols < 2:
        raise ParameterError(f"grid of shape {grid.shape} is too small: a mesh needs at least 2 x 2 points")
    x = np.arange(rows, dtype=np.float64) if x is None else _axis(x, rows, x_name)
    y = np.arange(cols, dtype=np.float64) if y is None else _axis(y, cols, y_name)
    _check_finite(grid, "grid")
    if grid.dtype not in (np.float32, np.float64):
        grid = grid.astype(np.float64)
    # The core reads any strides in whole elements: views are written without a copy.
    if any(s % grid.itemsize for s in grid.strides):
        grid = np.ascontiguousarray(grid)
    return grid, x, y


def _check_scale(scale) -> tuple[float, float, float]:
    if scale is None:
        return (1.0, 1.0, 1.0)
    try:
        values = tuple(float(s) for s in scale)
    except (TypeError, ValueError):
        raise ParameterError(f"scale={scale!r} must be three numbers (sx, sy, sz)") from None
    if len(values) != 3:
        raise ParameterError(f"scale={scale!r} must be three numbers (sx, sy, sz), got {len(values)}")
    if not all(np.isfinite(values)) or 0.0 in values:
        raise ParameterError(f"scale={scale!r} must be finite and non-zero")
    return values


def _check_precision(precision) -> int:
    value = as_int(precision, f"precision={precision!r} must be an integer")
    if not 0 <= value <= 17:
        raise ParameterError(f"precision={value} must be between 0 and 17 digits")
    return value


def write_obj(path, acg_or_grid, *, x=None, y=None, normals=False, scale=None, precision=6, workers=-1) -> None:
    """Write a 2-D grid (an autocorrelogram) as a Wavefront OBJ height-field mesh.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write. It is replaced atomically: readers see the old file or the
        complete new one, and a failure leaves the old file as it was.
    acg_or_grid : array_like, shape (rows, cols), or autocorrelogram
        Heights, rows over time and columns over lag; or an object with ``values``
        (frames x lags), ``times`` (s) and ``lags`` (s), as an autocorrelogram has.
    x : array_like, shape (rows,), optional
        Time of each row in seconds. Defaults to the autocorrelogram's ``times``, or to
        ``arange(rows)`` for a plain grid.
    y : array_like, shape (cols,), optional
        Delay of each column in milliseconds. Defaults to the autocorrelogram's ``lags``
        in ms, or to ``arange(cols)`` for a plain grid.
    normals : bool
        Also write per-vertex normals (from ``numpy.gradient`` slopes) and ``a/a/a`` faces.
    scale : (float, float, float), optional
        Factors (sx, sy, sz) applied to the x, y and z coordinates.
    precision : int
        Digits after the decimal point for every number written.
    workers : int
        Threads that format the text: a positive count, or -1 for all cores.

    Raises
    ------
    ParameterError
        A grid that is not 2-D, smaller than 2 x 2 or holds NaN/Inf; axes of the wrong
        length or not strictly monotonic; a bad ``scale`` or ``precision``.
    TypeError
        A grid or axis that does not hold real numbers.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from audiorep.mesh import write_obj, read_obj
    >>> path = os.path.join(tempfile.mkdtemp(), "grid.obj")
    >>> write_obj(path, np.eye(3), x=[0.0, 0.01, 0.02], y=[0.0, 0.5, 1.0])
    >>> read_obj(path).faces.shape
    (4, 4)
    """
    grid, xs, ys = _grid_and_axes(acg_or_grid, x, y)
    sx, sy, sz = _check_scale(scale)
    digits = _check_precision(precision)
    nthreads = min(resolve_workers(workers), grid.shape[0])
    # Quads run counter-clockwise seen from +z; mirrored axes mirror the winding.
    flip = ((xs[-1] - xs[0]) * sx < 0) != ((ys[-1] - ys[0]) * sy < 0)

    with atomic_path(os.fsdecode(os.fspath(path))) as tmp:
        _core.write_heightfield(
            os.fsencode(tmp), xs, ys, grid, digits, bool(normals), bool(flip), sx, sy, sz, nthreads
        )
    log.debug("wrote %s: %d x %d height field", path, grid.shape[0], grid.shape[1])


def read_obj(path, *, workers=-1) -> ObjMesh:
    """Read a Wavefront OBJ mesh (vertices, texture coordinates, normals, faces, groups).

    Understands triangles, quads and larger polygons (split into triangle fans), the
    corner forms ``a``, ``a/b``, ``a//c`` and ``a/b/c``, negative (relative) indices,
    comments, CRLF line ends, a UTF-8 byte-order mark and the ``w`` / colour extensions of ``v``. Statements that
    carry no geometry (``o``, ``s``, ``usemtl``, ``mtllib``, ...) are skipped.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.
    workers : int
        Threads that parse a large file: a positive count, or -1 for all cores.

    Returns
    -------
    ObjMesh

    Raises
    ------
    ObjFormatError
        Malformed text; the message names the file and the 1-based line.
    FileNotFoundError
        ``path`` does not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> from audiorep.mesh import read_obj
    >>> path = os.path.join(tempfile.mkdtemp(), "tri.obj")
    >>> with open(path, "w") as f:
    ...     _ = f.write("v 0 0 0\\nv 1 0 0\\nv 0 1 0\\nf 1 2 3\\n")
    >>> read_obj(path).faces.tolist()
    [[0, 1, 2, -1]]
    """
    nthreads = resolve_workers(workers)
    target = os.fsdecode(os.fspath(path))
    with open(target, "rb") as f:
        data = f.read()
    # Editors on Windows start UTF-8 text with a byte-order mark; left in, it would hide the
    # first statement, and every face would then point one vertex off.
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    parsed = _core.parse_obj(data, nthreads)
    if "error" in parsed:
        raise ObjFormatError(f"{target}, line {parsed['error_line']}: {parsed['error']}")
    groups = {name.decode("utf-8", "backslashreplace"): faces for name, faces in parsed["groups"].items()}
    return ObjMesh(
        vertices=parsed["vertices"],
        texcoords=parsed["texcoords"],
        normals=parsed["normals"],
        faces=parsed["faces"],
        face_texcoords=parsed["face_texcoords"],
        face_normals=parsed["face_normals"],
        groups=groups,
    )


def heightfield_from_obj(mesh: ObjMesh):
    """Recover the axes and the grid of a height-field mesh.

    The vertices must lie on a rows x cols lattice in row-major order: x constant along
    each row and different from one row to the next, y repeating the same values in
    every row. The number of columns is where x first changes, so meshes of other tools
    that follow the same layout are read too.

    Parameters
    ----------
    mesh : ObjMesh
        A mesh from :func:`read_obj`.

    Returns
    -------
    x : np.ndarray, shape (rows,)
        Times (s).
    y : np.ndarray, shape (cols,)
        Delays (ms).
    grid : np.ndarray, shape (rows, cols)
        Heights.

    Raises
    ------
    ObjFormatError
        The vertices do not form such a lattice of at least 2 x 2 points.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from audiorep.mesh import write_obj, read_obj, heightfield_from_obj
    >>> path = os.path.join(tempfile.mkdtemp(), "grid.obj")
    >>> write_obj(path, np.arange(6.0).reshape(2, 3))
    >>> x, y, grid = heightfield_from_obj(read_obj(path))
    >>> grid.tolist()
    [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    """
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ObjFormatError(f"vertices of shape {vertices.shape} are not an (N, 3) array")
    n = vertices.shape[0]
    if n < 4:
        raise ObjFormatError(f"{n} vertices cannot form a height field of at least 2 x 2 points")
    changes = np.flatnonzero(vertices[:, 0] != vertices[0, 0])
    if changes.size == 0:
        raise ObjFormatError("all vertices share one x value: there is only one row, at least 2 are needed")
    cols = int(changes[0])
    if cols < 2:
        raise ObjFormatError("x changes after the first vertex: rows of at least 2 points are needed")
    if n % cols:
        raise ObjFormatError(f"{n} vertices are not a whole number of rows of {cols} points")
    rows = n // cols
    lattice = vertices.reshape(rows, cols, 3)
    bad_x = np.flatnonzero((lattice[:, :, 0] != lattice[:, :1, 0]).any(axis=1))
    if bad_x.size:
        raise ObjFormatError(f"x varies within row {bad_x[0]} of a {rows} x {cols} lattice")
    bad_y = np.flatnonzero((lattice[:, :, 1] != lattice[:1, :, 1]).any(axis=1))
    if bad_y.size:
        raise ObjFormatError(f"row {bad_y[0]} does not repeat the y values of row 0 in a {rows} x {cols} lattice")
    x = lattice[:, 0, 0].copy()
    same = np.flatnonzero(np.diff(x) == 0)
    if same.size:
        raise ObjFormatError(f"rows {same[0]} and {same[0] + 1} have the same x value {x[same[0]]}")
    return x, lattice[0, :, 1].copy(), lattice[:, :, 2].copy()
