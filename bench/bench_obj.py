"""OBJ height-field meshes of one autocorrelogram (431 frames x 1024 lags, float32).

Writing: write_obj against a plain Python loop, an np.savetxt-based writer and trimesh's
exporter. Reading: read_obj against pywavefront and trimesh.load. Each group holds the
references beside our function; compare ratios within one run.

    pytest bench/bench_obj.py --benchmark-only
"""

from __future__ import annotations

import numpy as np
import pytest

from audiorep.mesh import read_obj, write_obj

ROWS, COLS = 431, 1024
SR, HOP = 44100, 512


@pytest.fixture(scope="module")
def acg():
    rng = np.random.default_rng(7)
    grid = rng.uniform(-1.0, 1.0, (ROWS, COLS)).astype(np.float32)
    times = np.arange(ROWS) * HOP / SR
    delays_ms = np.arange(COLS) * 1000.0 / SR
    return grid, times, delays_ms


def quads(rows, cols):
    i, j = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    a = (i * cols + j).ravel() + 1
    return np.stack([a, a + cols, a + cols + 1, a + 1], axis=1)


def write_python_loop(path, grid, x, y):
    rows, cols = grid.shape
    xs = [f"{v:.6f}" for v in x.tolist()]
    ys = [f"{v:.6f}" for v in y.tolist()]
    us = [f"{i / (rows - 1):.6f}" for i in range(rows)]
    vs = [f"{j / (cols - 1):.6f}" for j in range(cols)]
    with open(path, "w") as f:
        f.write(f"# audiorep height-field rows={rows} cols={cols}\n")
        for i, row in enumerate(grid.tolist()):
            xi = xs[i]
            for j, z in enumerate(row):
                f.write(f"v {xi} {ys[j]} {z:.6f}\n")
        for i in range(rows):
            for j in range(cols):
                f.write(f"vt {us[i]} {vs[j]}\n")
        f.write("g mesh\n")
        for a, b, c, d in quads(rows, cols).tolist():
            f.write(f"f {a}/{a} {b}/{b} {c}/{c} {d}/{d}\n")


def write_savetxt(path, grid, x, y):
    rows, cols = grid.shape
    xx, yy = np.meshgrid(x, y, indexing="ij")
    uu, vv = np.meshgrid(np.arange(rows) / (rows - 1), np.arange(cols) / (cols - 1), indexing="ij")
    q = quads(rows, cols)
    with open(path, "w") as f:
        f.write(f"# audiorep height-field rows={rows} cols={cols}\n")
        xyz = np.column_stack([xx.ravel(), yy.ravel(), grid.astype(np.float64).ravel()])
        np.savetxt(f, xyz, fmt="v %.6f %.6f %.6f")
        np.savetxt(f, np.column_stack([uu.ravel(), vv.ravel()]), fmt="vt %.6f %.6f")
        f.write("g mesh\n")
        np.savetxt(f, np.repeat(q, 2, axis=1), fmt="f %d/%d %d/%d %d/%d %d/%d")


@pytest.fixture(scope="module")
def trimesh_mesh(acg):
    trimesh = pytest.importorskip("trimesh")
    grid, x, y = acg
    xx, yy = np.meshgrid(x, y, indexing="ij")
    vertices = np.column_stack([xx.ravel(), yy.ravel(), grid.astype(np.float64).ravel()])
    q = quads(ROWS, COLS) - 1
    faces = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    uu, vv = np.meshgrid(np.arange(ROWS) / (ROWS - 1), np.arange(COLS) / (COLS - 1), indexing="ij")
    visual = trimesh.visual.TextureVisuals(uv=np.column_stack([uu.ravel(), vv.ravel()]))
    return trimesh.Trimesh(vertices=vertices, faces=faces, visual=visual, process=False)


def test_reference_writers_agree(tmp_path, acg):
    grid, x, y = acg
    small = grid[:5, :7], x[:5], y[:7]
    write_obj(tmp_path / "ours.obj", *small[:1], x=small[1], y=small[2])
    write_python_loop(tmp_path / "loop.obj", *small)
    write_savetxt(tmp_path / "savetxt.obj", *small)
    ours = (tmp_path / "ours.obj").read_text()
    assert (tmp_path / "loop.obj").read_text() == ours
    assert (tmp_path / "savetxt.obj").read_text() == ours


@pytest.mark.benchmark(group="obj-write 431x1024")
def test_write_audiorep(benchmark, tmp_path, acg):
    grid, x, y = acg
    benchmark(write_obj, tmp_path / "m.obj", grid, x=x, y=y)


@pytest.mark.benchmark(group="obj-write 431x1024")
def test_write_python_loop(benchmark, tmp_path, acg):
    benchmark.pedantic(write_python_loop, args=(tmp_path / "m.obj", *acg), rounds=3)


@pytest.mark.benchmark(group="obj-write 431x1024")
def test_write_savetxt(benchmark, tmp_path, acg):
    benchmark.pedantic(write_savetxt, args=(tmp_path / "m.obj", *acg), rounds=3)


@pytest.mark.benchmark(group="obj-write 431x1024")
def test_write_trimesh(benchmark, tmp_path, trimesh_mesh):
    path = tmp_path / "m.obj"
    benchmark.pedantic(lambda: trimesh_mesh.export(path, file_type="obj", digits=6), rounds=3)


@pytest.fixture(scope="module")
def mesh_file(tmp_path_factory, acg):
    grid, x, y = acg
    path = tmp_path_factory.mktemp("obj") / "acg.obj"
    write_obj(path, grid, x=x, y=y)
    return path


@pytest.mark.benchmark(group="obj-read 431x1024")
def test_read_audiorep(benchmark, mesh_file):
    mesh = benchmark(read_obj, mesh_file)
    assert mesh.vertices.shape == (ROWS * COLS, 3)


@pytest.mark.benchmark(group="obj-read 431x1024")
def test_read_trimesh(benchmark, mesh_file):
    trimesh = pytest.importorskip("trimesh")
    mesh = benchmark.pedantic(trimesh.load, args=(mesh_file,), kwargs={"process": False}, rounds=3)
    assert mesh.vertices.shape == (ROWS * COLS, 3)


@pytest.mark.benchmark(group="obj-read 431x1024")
def test_read_pywavefront(benchmark, mesh_file):
    pywavefront = pytest.importorskip("pywavefront")
    options = {"collect_faces": True, "create_materials": True}
    scene = benchmark.pedantic(pywavefront.Wavefront, args=(str(mesh_file),), kwargs=options, rounds=1)
    assert len(scene.vertices) == ROWS * COLS
