"""Time two or more builds of the compiled core against each other in one process.

    OMP_NUM_THREADS=1 python bench/ab_builds.py OLD.so NEW.so --cases r32:256,c64:4800 --rounds 15

Each build is loaded under its own module name: CPython keeps one extension
module per name, so loading a second file as ``audiorep._core`` would return
the first one and compare a build with itself. Every round times each build
(and torch.fft with ``--torch``) for a few calls in a row, in an order that
rotates from round to round, and takes the ratio of the times within the
round; the report is the median of those ratios and their spread. Each build's
output is checked against numpy first.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time

import numpy as np


def load_build(path: str, index: int):
    spec = importlib.util.spec_from_file_location(f"audiorep_ab{index}._core", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a loadable extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_case(case: str, points: int, rng: np.random.Generator):
    """kind:n, kind one of r32, r64 (rfft), c32, c64 (fft) and i32, i64 (irfft back to n values)."""
    kind, n_text = case.split(":")
    n = int(n_text)
    if kind not in ("r32", "r64", "c32", "c64", "i32", "i64"):
        raise SystemExit(f"{case}: the kind is one of r32, r64, c32, c64, i32, i64")
    real = np.float32 if kind.endswith("32") else np.float64
    cplx = np.complex64 if real is np.float32 else np.complex128
    rows = max(1, points // n)
    x = rng.standard_normal((rows, n)).astype(real)
    if kind[0] == "c":
        x = (x + 1j * rng.standard_normal((rows, n))).astype(cplx)
    elif kind[0] == "i":
        x = np.fft.rfft(x).astype(cplx)
    return kind, n, x


def call(module, kind: str, x: np.ndarray, n: int):
    if kind[0] == "r":
        return lambda: module.r2c(x, 1.0, 1)
    if kind[0] == "i":
        return lambda: module.c2r(x, n, 1.0 / n, 1)
    return lambda: module.c2c(x, True, 1.0, 1)


def expected_output(kind: str, x: np.ndarray, n: int) -> np.ndarray:
    if kind[0] == "r":
        return np.fft.rfft(x.astype(np.float64))
    if kind[0] == "i":
        return np.fft.irfft(x.astype(np.complex128), n)
    return np.fft.fft(x.astype(np.complex128))


def torch_call(torch, kind: str, x: np.ndarray, n: int):
    t = torch.from_numpy(x)
    if kind[0] == "r":
        return lambda: torch.fft.rfft(t)
    if kind[0] == "i":
        return lambda: torch.fft.irfft(t, n)
    return lambda: torch.fft.fft(t)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("builds", nargs="+", help="paths of _core*.so files; the first is the baseline")
    ap.add_argument("--cases", default="r32:256,c32:256,r64:1024,c64:4800", help="kind:n, comma-separated")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=3, help="timed calls in a row per build and round")
    ap.add_argument("--points", type=int, default=1 << 20, help="n x rows per call")
    ap.add_argument("--torch", action="store_true", help="time torch.fft in the same rounds")
    ap.add_argument("--no-check", action="store_true", help="skip the check against numpy (diagnostic builds)")
    args = ap.parse_args(argv)

    modules = [load_build(p, i) for i, p in enumerate(args.builds)]
    if len({id(m) for m in modules}) != len(modules):
        raise SystemExit("two builds resolved to one module object")
    names = [f"b{i}" for i in range(len(modules))]
    torch = None
    if args.torch:
        import torch

        torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    for case in args.cases.split(","):
        kind, n, x = make_case(case, args.points, rng)
        expected = expected_output(kind, x, n)
        scale = np.abs(expected).max()
        fns = {}
        for name, module in zip(names, modules):
            fns[name] = call(module, kind, x, n)
            err = np.abs(fns[name]() - expected).max() / scale
            if not args.no_check and not err < (1e-4 if kind.endswith("32") else 1e-10):
                raise SystemExit(f"{name} ({case}): relative error {err:.2e}")
        if torch is not None:
            fns["torch"] = torch_call(torch, kind, x, n)
        order = list(fns)
        times = {k: [] for k in order}
        for r in range(args.rounds):
            k0 = r % len(order)
            for k in order[k0:] + order[:k0]:
                f = fns[k]
                f()  # one untimed call: its allocations and caches settle
                t0 = time.perf_counter()
                for _ in range(args.calls):
                    f()
                times[k].append((time.perf_counter() - t0) / args.calls)
        base = times[names[0]]
        parts = [f"{case:9s} {names[0]} {statistics.median(base) * 1e3:7.3f} ms"]
        for k in order[1:]:
            ratios = sorted(b / t for b, t in zip(base, times[k]))
            q = len(ratios) // 4
            parts.append(f"{k}: {statistics.median(ratios):.3f}x [{ratios[q]:.2f}-{ratios[-1 - q]:.2f}]")
        print("  ".join(parts), flush=True)


if __name__ == "__main__":
    main()
