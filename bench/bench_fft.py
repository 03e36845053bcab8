"""FFT throughput: audiorep against numpy.fft, scipy.fft, pyfftw and torch.fft.

One benchmark group per (transform, precision, n); every call transforms about
4M points (n * rows; AUDIOREP_BENCH_POINTS sets another number). The lengths:
powers of two, the frame lengths audio uses (25 ms at 16 kHz, 20 and 30 ms at
44.1 kHz, 10 ms at 48 kHz, one second at 44.1 kHz, ...), primes, and two long
single rows (10**7 = 2**7 5**7, and 2**20 + 1 = 17 x 61681) whose groups also
record each library's peak memory. Run with

    python -m pytest bench/bench_fft.py --benchmark-only --benchmark-json=fft.json
    python bench/ratios.py fft.json

Add ``-k t1`` for the single-thread subset. pyfftw plans are built with
FFTW_MEASURE (FFTW_ESTIMATE for the long rows, where measuring takes minutes)
outside the timed call and write into their own preallocated output array;
every other library allocates its output on each call.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest

import audiorep

POINTS = int(os.environ.get("AUDIOREP_BENCH_POINTS", 1 << 22))
POWERS_OF_TWO = [256, 1024, 4096, 65536]
AUDIO_LENGTHS = [400, 480, 882, 1000, 1323, 4800, 44100]
PRIMES = [127, 1009, 4093]
SIZES = POWERS_OF_TWO + AUDIO_LENGTHS + PRIMES
LONG_ROWS = [10**7, 2**20 + 1]
TRANSFORMS = ["rfft", "irfft", "fft", "ifft"]
PRECISIONS = {"f32": (np.float32, np.complex64), "f64": (np.float64, np.complex128)}
IMPLS = [
    ("audiorep", 1),
    ("audiorep", 2),
    ("numpy.fft", 1),
    ("scipy.fft", 1),
    ("scipy.fft", 2),
    ("pyfftw", 1),
    ("pyfftw", 2),
    ("torch.fft", 1),
    ("torch.fft", 2),
]


def make_input(transform: str, precision: str, n: int) -> np.ndarray:
    real, cplx = PRECISIONS[precision]
    rows = max(1, POINTS // n)
    rng = np.random.default_rng(n)
    if transform == "rfft":
        return rng.standard_normal((rows, n)).astype(real)
    if transform == "irfft":
        return np.fft.rfft(rng.standard_normal((rows, n))).astype(cplx)
    return (rng.standard_normal((rows, n)) + 1j * rng.standard_normal((rows, n))).astype(cplx)


@contextlib.contextmanager
def torch_threads(threads: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_call(impl: str, threads: int, transform: str, x: np.ndarray, n: int, effort: str = "FFTW_MEASURE"):
    """Returns a no-argument function that runs one transform of the whole batch."""
    if impl == "audiorep":
        func = getattr(audiorep, transform)
        return lambda: func(x, n, workers=threads)
    if impl == "numpy.fft":
        func = getattr(np.fft, transform)
        return lambda: func(x, n)
    if impl == "scipy.fft":
        scipy_fft = pytest.importorskip("scipy.fft")
        func = getattr(scipy_fft, transform)
        return lambda: func(x, n, workers=threads)
    if impl == "pyfftw":
        pyfftw = pytest.importorskip("pyfftw")
        import pyfftw.builders

        aligned = pyfftw.empty_aligned(x.shape, dtype=x.dtype)
        aligned[...] = x
        build = getattr(pyfftw.builders, transform)
        plan = build(aligned, n, planner_effort=effort, threads=threads)
        return plan
    if impl == "torch.fft":
        torch = pytest.importorskip("torch")
        func = getattr(torch.fft, transform)
        t = torch.from_numpy(x)
        return lambda: func(t, n)
    raise ValueError(impl)


@pytest.mark.parametrize("impl,threads", IMPLS, ids=[f"{i}-t{t}" for i, t in IMPLS])
@pytest.mark.parametrize("n", SIZES, ids=[f"n{n}" for n in SIZES])
@pytest.mark.parametrize("precision", list(PRECISIONS))
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_fft(benchmark, transform, precision, n, impl, threads):
    x = make_input(transform, precision, n)
    call = make_call(impl, threads, transform, x, n)
    benchmark.group = f"{transform}-{precision}-n{n}"
    benchmark.extra_info.update(impl=impl, threads=threads, n=n, rows=x.shape[0])
    guard = torch_threads(threads) if impl == "torch.fft" else contextlib.nullcontext()
    with guard:
        out = benchmark(call)
    out = np.asarray(out)
    # The timed call must compute the right thing: compare with numpy in double precision.
    ref = getattr(np.fft, transform)(x.astype(np.complex128 if x.dtype.kind == "c" else np.float64), n)
    scale = np.abs(ref).max()
    tol = 1e-4 if precision == "f32" else 1e-10
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() <= tol * scale, f"{impl} computed a wrong {transform}"


# Small batches, where starting or waking threads costs as much as the transform itself.
SMALL = [(64, 512), (256, 2048), (1024, 4096)]
SMALL_IMPLS = [("audiorep", 1), ("audiorep", 2), ("scipy.fft", 1), ("scipy.fft", 2)]


@pytest.mark.parametrize("impl,threads", SMALL_IMPLS, ids=[f"{i}-t{t}" for i, t in SMALL_IMPLS])
@pytest.mark.parametrize("rows,n", SMALL, ids=[f"{r}x{n}" for r, n in SMALL])
def test_small_batch_rfft(benchmark, rows, n, impl, threads):
    x = np.random.default_rng(n).standard_normal((rows, n)).astype(np.float32)
    call = make_call(impl, threads, "rfft", x, n)
    benchmark.group = f"small-rfft-f32-{rows}x{n}"
    benchmark.extra_info.update(impl=impl, threads=threads, n=n, rows=rows)
    out = benchmark(call)
    np.testing.assert_allclose(out, np.fft.rfft(x.astype(np.float64)), atol=1e-4 * np.sqrt(n))


LONG_IMPLS = ["audiorep", "numpy.fft", "scipy.fft", "pyfftw", "torch.fft"]

# Peak memory of one transform of a long row, in a fresh process: the peak
# resident set during the call (Linux resets it through clear_refs) less the
# resident set before it, so the output, the plan and every work buffer count.
PEAK_SCRIPT = """
import sys
import numpy as np
sys.path[:0] = {path!r}
from bench_fft import make_call
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":")) / 1024
x = np.ones({n}, dtype=np.complex128)
call = make_call({impl!r}, 1, "fft", x, {n}, effort="FFTW_ESTIMATE")
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
call()
print(status("VmHWM") - before)
"""


def peak_memory_mb(impl: str, n: int) -> float:
    here = os.path.dirname(os.path.abspath(__file__))
    script = PEAK_SCRIPT.format(path=[here, *sys.path], n=n, impl=impl)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def peak_memory_or_nan(impl: str, n: int) -> float:
    try:
        return peak_memory_mb(impl, n)
    except (OSError, subprocess.CalledProcessError):  # no /proc (not Linux), or the library is missing
        return float("nan")


@pytest.mark.parametrize("impl", LONG_IMPLS)
@pytest.mark.parametrize("n", LONG_ROWS, ids=[f"n{n}" for n in LONG_ROWS])
def test_long_row(benchmark, n, impl):
    # One complex row, single thread: the plan is built (and cached) in the
    # first, untimed call.
    x = np.ones(n, dtype=np.complex128)
    call = make_call(impl, 1, "fft", x, n, effort="FFTW_ESTIMATE")
    benchmark.group = f"long-fft-f64-n{n}"
    benchmark.extra_info.update(impl=impl, threads=1, n=n, rows=1, peak_mb=peak_memory_or_nan(impl, n))
    with torch_threads(1) if impl == "torch.fft" else contextlib.nullcontext():
        call()
        out = np.asarray(benchmark.pedantic(call, rounds=3, iterations=1))
    assert abs(out[0] - n) <= 1e-6 * n and np.abs(out[1:]).max() <= 1e-6 * n
