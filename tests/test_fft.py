"""The FFT against numpy.fft: every length, both precisions, every SIMD path, bad input."""

from __future__ import annotations

import concurrent.futures
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import audiorep
from audiorep import _core

# Errors relative to max|X|, per log2(n + 1): a few units in the last place.
TOL = {np.complex64: 3e-7, np.complex128: 6e-16}
REAL = {np.complex64: np.float32, np.complex128: np.float64}
PRECISIONS = [np.complex64, np.complex128]


def assert_close(got, ref, n, ctype, what=""):
    """|got - ref| <= tol * log2(n + 1) * max|ref| (and the same for an all-zero reference)."""
    scale = max(float(np.abs(ref).max(initial=0.0)), 1.0)
    err = float(np.abs(got - ref).max(initial=0.0))
    bound = TOL[ctype] * math.log2(n + 1) * scale
    assert err <= bound, f"{what} n={n}: error {err:.3g} > {bound:.3g}"


def signals(rng, rows, n, ctype):
    x = rng.standard_normal((rows, n))
    z = x + 1j * rng.standard_normal((rows, n))
    return x.astype(REAL[ctype]), z.astype(ctype)


def check_all_four(x, z, ctype, what=""):
    """fft, ifft, rfft and irfft of one batch of rows against numpy in double precision."""
    n = x.shape[-1]
    zr, xr = z.astype(np.complex128), x.astype(np.float64)
    got = audiorep.fft(z)
    assert got.dtype == ctype
    assert_close(got, np.fft.fft(zr), n, ctype, "fft " + what)
    assert_close(audiorep.ifft(z), np.fft.ifft(zr), n, ctype, "ifft " + what)
    got = audiorep.rfft(x)
    assert got.dtype == ctype and got.shape[-1] == n // 2 + 1
    assert_close(got, np.fft.rfft(xr), n, ctype, "rfft " + what)
    # Arbitrary (non-Hermitian) bins: irfft ignores the imaginary parts numpy ignores.
    bins = z[..., : n // 2 + 1]
    got = audiorep.irfft(bins, n)
    assert got.dtype == REAL[ctype] and got.shape[-1] == n
    # The inverse of an n-point transform has outputs of size ~ max|bins| * sqrt(n) / n.
    assert_close(got * n, np.fft.irfft(bins.astype(np.complex128), n) * n, n, ctype, "irfft " + what)


@pytest.fixture
def simd_path():
    """Yields a function that switches the SIMD path; the original is restored afterwards."""
    original = _core.simd_path()
    yield _core.set_simd_path
    _core.set_simd_path(original)


# ---------------------------------------------------------------- against numpy


@pytest.mark.parametrize("ctype", PRECISIONS)
def test_every_length_up_to_1100(rng, ctype):
    # One to five rows per length, so the narrow SIMD widths are covered too,
    # and a full row group beside them for the shorter lengths.
    for n in range(1, 1101):
        x, z = signals(rng, 1 + n % 5 + (16 if n <= 300 else 0), n, ctype)
        check_all_four(x, z, ctype)


@pytest.mark.parametrize("ctype", PRECISIONS)
def test_powers_of_two_up_to_2_20(rng, ctype):
    for k in range(0, 21):
        n = 1 << k
        x, z = signals(rng, 3 if k <= 12 else 1, n, ctype)
        check_all_four(x, z, ctype, f"2**{k}")


# Audio frame lengths, primes and lengths with one large prime factor, beside
# every length up to 256 and an even spread above it.
ACCURACY_LENGTHS = sorted(
    set(range(2, 257))
    | set(range(257, 4097, 23))
    | {400, 441, 480, 512, 882, 1000, 1024, 1323, 2048, 4096}
    | {257, 509, 1009, 2039, 4093, 4095}
    | {2 * 131, 4 * 263, 3 * 199, 8 * 239, 2 * 1021, 2 * 2039}
)


def rms_error(got, ref):
    """sqrt(sum |got - ref|^2 / sum |ref|^2) over a whole batch."""
    d = got.astype(ref.dtype) - ref
    return float(np.sqrt(np.sum(np.abs(d) ** 2) / np.sum(np.abs(ref) ** 2)))


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="long double is no wider than double here")
def test_error_against_an_extended_precision_dft_is_at_most_1_2_times_numpy_and_scipy(rng):
    # Forward complex and real transforms, against numpy's transform in long
    # double: the rms relative error over a batch, with enough rows that the
    # ratio measures the algorithm rather than one draw. Double precision is
    # compared with numpy, single precision with scipy (which keeps float32).
    scipy_fft = pytest.importorskip("scipy.fft")
    worse = []
    for n in ACCURACY_LENGTHS:
        rows = max(8, 8192 // n)
        # float32 values, so that one long double reference serves both precisions.
        z = (rng.standard_normal((rows, n)) + 1j * rng.standard_normal((rows, n))).astype(np.complex64)
        x = rng.standard_normal((rows, n)).astype(np.float32)
        ref_c = np.fft.fft(z.astype(np.clongdouble))
        ref_r = np.fft.rfft(x.astype(np.longdouble))
        z64, x64 = z.astype(np.complex128), x.astype(np.float64)
        cases = [
            ("fft complex64", audiorep.fft(z), scipy_fft.fft(z), ref_c),
            ("fft complex128", audiorep.fft(z64), np.fft.fft(z64), ref_c),
            ("rfft float32", audiorep.rfft(x), scipy_fft.rfft(x), ref_r),
            ("rfft float64", audiorep.rfft(x64), np.fft.rfft(x64), ref_r),
        ]
        for what, ours, theirs, ref in cases:
            e_ours, e_theirs = rms_error(ours, ref), rms_error(theirs, ref)
            if e_ours > 1.2 * e_theirs:  # both are exact at the shortest lengths
                worse.append(f"{what} n={n}: {e_ours:.3g} vs {e_theirs:.3g}")
    assert not worse, "error above 1.2x numpy's/scipy's: " + ", ".join(worse)


@pytest.mark.parametrize("rows", [1, 2, 7, 8, 15, 16, 17, 33, 40])
@pytest.mark.parametrize("ctype", PRECISIONS)
def test_batches_of_rows(rng, rows, ctype):
    # Full SIMD row groups, partial ones and their mixtures; rows of 512-2048
    # points crowd the cache sets, and their groups run at half width.
    for n in (1, 2, 3, 4, 6, 8, 30, 64, 100, 256, 512, 1024, 2048, 4096):
        x, z = signals(rng, rows, n, ctype)
        check_all_four(x, z, ctype, f"rows={rows}")


@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
@pytest.mark.parametrize("ctype", PRECISIONS)
def test_short_rows_held_in_registers(rng, simd_path, ctype, norm):
    # On AVX-512, short rows run one row at a time in registers (every other
    # path batches them): float32 complex rows of 128-2048 points and real
    # ones of 256-4096 values, float64 complex rows of 64 and 128 points and
    # real ones of 128 and 256 values (back from the bins: float32 up to 1024,
    # float64 up to 256). Any row count, rows that are not adjacent or run
    # backwards, every norm, forward and inverse, against numpy in double
    # precision; the lengths beside them take the batched path.
    real = REAL[ctype]
    base = rng.standard_normal((41, 4200))
    zbase = (base + 1j * rng.standard_normal(base.shape)).astype(ctype)
    base = base.astype(real)
    for path in _core.available_simd_paths():
        simd_path(path)
        for rows in (1, 2, 15, 16, 17, 41):
            for n in (64, 128, 256, 512, 1024, 2048, 4096):
                views = {"rows": (base[:, :n], zbase[:, :n]), "every-other-row": (base[::2, 10 : 10 + n], zbase[::2, 3 : 3 + n]),
                         "negative": (base[::-3, -n:], zbase[::-3, -n:])}
                for what, (x, z) in views.items():
                    x, z = x[:rows], z[:rows]
                    label = f"{path} {what} n={n} rows={len(z)} {norm}"
                    zr = z.astype(np.complex128)
                    assert_close(audiorep.fft(z, norm=norm), np.fft.fft(zr, norm=norm), n, ctype, "fft " + label)
                    assert_close(audiorep.ifft(z, norm=norm), np.fft.ifft(zr, norm=norm), n, ctype, "ifft " + label)
                    got = audiorep.rfft(x, norm=norm)
                    assert got.dtype == ctype and got.shape == (len(x), n // 2 + 1)
                    assert_close(got, np.fft.rfft(x.astype(np.float64), norm=norm), n, ctype, "rfft " + label)
                    assert np.all(got[:, [0, -1]].imag == 0)
                    # Back from arbitrary bins (the imaginary parts of the first and last are ignored).
                    bins = z[:, : n // 2 + 1]
                    back = audiorep.irfft(bins, n, norm=norm)
                    assert back.dtype == real and back.shape == (len(z), n)
                    ref = np.fft.irfft(bins.astype(np.complex128), n, norm=norm)
                    top = np.abs(ref).max()  # relative to the output's size, which depends on the norm
                    assert_close(back / top, ref / top, n, ctype, "irfft " + label)


# Lengths of the lane split: their M = n / 16 (float32) or n / 8 (float64)
# ends in a pass of radix 5 (4800: M = 300, 600; 3200: M = 400), 7 (6272 =
# 2**7 7**2), 3 (13824 = 2**9 3**3), a generic odd radix (4104 = 8 x 27 x
# 19, 5168 = 16 x 17 x 19) or 4 (the powers of two); 4800 and 6000 in float32
# (M = 300, 375) end with a block of fewer than 16 columns. Rows of 256,
# 512, 768, 1024, 1280 and 1536 points crowd the cache sets (float64: M =
# 32 to 192; float32 768-1536, M = 48 to 96, the powers of two among them
# run in registers).
SPLIT_LENGTHS = (256, 512, 768, 1024, 1280, 1536, 2048, 3200, 4096, 4104, 4800, 5168, 6000, 6272, 8192, 13824)


@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
@pytest.mark.parametrize("ctype", PRECISIONS)
def test_rows_through_the_lane_split(rng, simd_path, ctype, norm):
    # On AVX-512, complex rows of direct lengths that are multiples of the
    # lanes go one row at a time through the lane split from 4096 points on
    # (up to 2**17), and from 256 on where the rows crowd the cache sets
    # (256-3200 here); the other paths batch them. Any row count,
    # forward and inverse, every norm, against numpy in double precision.
    for path in _core.available_simd_paths():
        simd_path(path)
        for n in SPLIT_LENGTHS:
            for rows in (1, 3, 17):
                _, z = signals(rng, rows, n, ctype)
                zr = z.astype(np.complex128)
                label = f"{path} rows={rows} {norm}"
                got = audiorep.fft(z, norm=norm)
                assert got.dtype == ctype and got.shape == z.shape
                assert_close(got, np.fft.fft(zr, norm=norm), n, ctype, "fft " + label)
                assert_close(audiorep.ifft(z, norm=norm), np.fft.ifft(zr, norm=norm), n, ctype, "ifft " + label)
    n = 1 << 17
    _, z = signals(rng, 2, n, ctype)
    assert_close(audiorep.fft(z, norm=norm), np.fft.fft(z.astype(np.complex128), norm=norm), n, ctype, "fft 2**17")


@pytest.mark.parametrize("ctype", PRECISIONS)
def test_real_rows_through_the_lane_split(rng, simd_path, ctype):
    # Real rows of 4096 values and more (float64; float32 above 4096, where
    # the register rows stop; even, with n/2 a multiple of the lanes) go
    # through the lane split of n/2 and a vectorized split step on
    # the bins (W from each end at a time, the middle ones one by one).
    for path in _core.available_simd_paths():
        simd_path(path)
        for n in (4096, 4800, 6144, 9600, 12000, 12032, 12544, 16384, 19200, 27648):
            for rows in (1, 3, 17):
                x, _ = signals(rng, rows, n, ctype)
                got = audiorep.rfft(x)
                assert got.dtype == ctype and got.shape == (rows, n // 2 + 1)
                assert_close(got, np.fft.rfft(x.astype(np.float64)), n, ctype, f"rfft {path} rows={rows}")
                assert np.all(got[:, [0, -1]].imag == 0)
                assert_close(audiorep.rfft(x, norm="ortho"), np.fft.rfft(x.astype(np.float64), norm="ortho"), n, ctype,
                             f"rfft ortho {path} rows={rows}")
    x, _ = signals(rng, 2, 1 << 18, ctype)
    assert_close(audiorep.rfft(x), np.fft.rfft(x.astype(np.float64)), 1 << 18, ctype, "rfft 2**18")


def test_lane_split_error_against_an_extended_precision_dft(rng):
    # The rms relative error of the lane split's lengths stays within 1.2x
    # numpy's (float64) and scipy's (float32), as every length does: complex
    # rows of n and real rows of 2n values (through the split from 4096 on).
    scipy_fft = pytest.importorskip("scipy.fft")
    worse = []
    for n in (256, 1024, 4104, 4800, 5168, 6272, 13824):
        z = (rng.standard_normal((8, n)) + 1j * rng.standard_normal((8, n))).astype(np.complex64)
        ref_c = np.fft.fft(z.astype(np.clongdouble))
        z64 = z.astype(np.complex128)
        x2 = np.concatenate([z.real, z.imag], axis=1)  # 2n real values: the real split of n
        ref_r = np.fft.rfft(x2.astype(np.longdouble))
        x64 = x2.astype(np.float64)
        for what, ours, theirs, ref in (("complex64", audiorep.fft(z), scipy_fft.fft(z), ref_c),
                                        ("complex128", audiorep.fft(z64), np.fft.fft(z64), ref_c),
                                        ("rfft float32", audiorep.rfft(x2), scipy_fft.rfft(x2), ref_r),
                                        ("rfft float64", audiorep.rfft(x64), np.fft.rfft(x64), ref_r)):
            e_ours, e_theirs = rms_error(ours, ref), rms_error(theirs, ref)
            if e_ours > 1.2 * e_theirs:
                worse.append(f"{what} n={n}: {e_ours:.3g} vs {e_theirs:.3g}")
    assert not worse, "error above 1.2x numpy's/scipy's: " + ", ".join(worse)


def test_large_batches_of_register_rows(rng):
    # Batches of more than 12 MB (in and out) fetch rows ahead as they go.
    for n, rows in ((128, 6200), (256, 3200), (512, 1600), (1024, 800), (2048, 400)):
        z = (rng.standard_normal((rows, n)) + 1j * rng.standard_normal((rows, n))).astype(np.complex64)
        assert_close(audiorep.fft(z), np.fft.fft(z.astype(np.complex128)), n, np.complex64, "fft")
    for n, rows in ((256, 6400), (1024, 1600), (2048, 800), (4096, 400)):
        x = rng.standard_normal((rows, n)).astype(np.float32)
        bins = audiorep.rfft(x)
        assert_close(bins, np.fft.rfft(x.astype(np.float64)), n, np.complex64, "rfft")
        assert_close(audiorep.irfft(bins, n), x, n, np.complex64, "irfft")
    z = rng.standard_normal((3200, 128)) + 1j * rng.standard_normal((3200, 128))
    assert_close(audiorep.fft(z), np.fft.fft(z), 128, np.complex128, "fft float64")
    x = rng.standard_normal((3200, 256))
    bins = audiorep.rfft(x)
    assert_close(bins, np.fft.rfft(x), 256, np.complex128, "rfft float64")
    assert_close(audiorep.irfft(bins, 256), x, 256, np.complex128, "irfft float64")


@pytest.mark.parametrize("ctype", PRECISIONS)
def test_long_rows_beside_full_row_groups(rng, ctype):
    # Rows left over after the full SIMD row groups take the four-step path
    # (from n = 2048 on; long row groups run at half the AVX-512 width).
    for n, rows in ((2048, 17), (3000, 9), (4800, 20), (12000, 3), (1 << 14, 17), (1 << 15, 9), (1 << 16, 3)):
        x, z = signals(rng, rows, n, ctype)
        check_all_four(x, z, ctype, f"rows={rows}")


@pytest.mark.parametrize("ctype", PRECISIONS)
def test_long_bluestein_rows(rng, ctype):
    # Single rows of long lengths that are not powers of two: Bluestein on the four-step split.
    for n, rows in ((10007, 1), (20000, 2), (44100, 1), (8193, 17)):
        x, z = signals(rng, rows, n, ctype)
        check_all_four(x, z, ctype, f"rows={rows}")


@pytest.mark.parametrize("ctype", PRECISIONS)
def test_every_simd_path(rng, simd_path, ctype):
    for path in _core.available_simd_paths():
        simd_path(path)
        assert _core.simd_path() == path
        for n in list(range(1, 40)) + [63, 64, 100, 128, 1000, 1024, 4096, 1 << 14, 65536]:
            rows = 19 if n <= 4096 else 2
            x, z = signals(rng, rows, n, ctype)
            check_all_four(x, z, ctype, path)


@pytest.mark.parametrize("ctype", PRECISIONS)
def test_fast_kernels_match_the_reference_fft(rng, simd_path, ctype):
    # The plain scalar FFT the fast kernels replaced stays in the core as their baseline.
    sizes = list(range(1, 70)) + [96, 100, 127, 128, 255, 256, 1000, 1024, 4096, 1 << 14, 10007]
    for path in _core.available_simd_paths():
        simd_path(path)
        for n in sizes:
            rows = 17 if n <= 4096 else 1
            x, z = signals(rng, rows, n, ctype)
            bins = np.ascontiguousarray(z[:, : n // 2 + 1])
            for fast, ref in (
                (_core.c2c(z, True, 1.0, 1), _core.reference_c2c(z, True, 1.0, 1)),
                (_core.c2c(z, False, 0.5, 1), _core.reference_c2c(z, False, 0.5, 1)),
                (_core.r2c(x, 1.0, 1), _core.reference_r2c(x, 1.0, 1)),
                (_core.c2r(bins, n, 1.0, 1) * n, _core.reference_c2r(bins, n, 1.0, 1) * n),
            ):
                assert fast.dtype == ref.dtype
                assert_close(fast, ref, n, ctype, f"{path} vs reference")


def test_simd_paths_agree_closely(rng, simd_path):
    x = rng.standard_normal((16, 1024))
    results = []
    for path in _core.available_simd_paths():
        simd_path(path)
        results.append(audiorep.rfft(x))
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=0, atol=1e-12 * np.abs(results[0]).max())


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
def test_axis_and_batch_shape(rng, axis):
    x = rng.standard_normal((6, 5, 12))
    z = x + 1j * rng.standard_normal(x.shape)
    np.testing.assert_allclose(audiorep.fft(z, axis=axis), np.fft.fft(z, axis=axis), atol=1e-12)
    np.testing.assert_allclose(audiorep.ifft(z, axis=axis), np.fft.ifft(z, axis=axis), atol=1e-12)
    np.testing.assert_allclose(audiorep.rfft(x, axis=axis), np.fft.rfft(x, axis=axis), atol=1e-12)
    np.testing.assert_allclose(audiorep.irfft(z, axis=axis), np.fft.irfft(z, axis=axis), atol=1e-12)


@pytest.mark.parametrize("norm", [None, "backward", "ortho", "forward"])
def test_norms(rng, norm):
    x = rng.standard_normal((3, 20))
    z = x + 1j * rng.standard_normal(x.shape)
    for ours, ref, data in (
        (audiorep.fft, np.fft.fft, z),
        (audiorep.ifft, np.fft.ifft, z),
        (audiorep.rfft, np.fft.rfft, x),
        (audiorep.irfft, np.fft.irfft, z),
    ):
        np.testing.assert_allclose(ours(data, norm=norm), ref(data, norm=norm), atol=1e-12, err_msg=ours.__name__)


@pytest.mark.parametrize("n", [1, 5, 7, 8, 16, 31, 40])
def test_n_crops_and_pads(rng, n):
    x = rng.standard_normal((2, 16))
    z = x + 1j * rng.standard_normal(x.shape)
    np.testing.assert_allclose(audiorep.fft(z, n), np.fft.fft(z, n), atol=1e-12)
    np.testing.assert_allclose(audiorep.ifft(z, n), np.fft.ifft(z, n), atol=1e-12)
    np.testing.assert_allclose(audiorep.rfft(x, n), np.fft.rfft(x, n), atol=1e-12)
    np.testing.assert_allclose(audiorep.irfft(z, n), np.fft.irfft(z, n), atol=1e-12)
    np.testing.assert_allclose(audiorep.fft(z, n, axis=0), np.fft.fft(z, n, axis=0), atol=1e-12)


def test_irfft_default_length(rng):
    z = rng.standard_normal(9) + 1j * rng.standard_normal(9)
    got = audiorep.irfft(z)
    assert got.shape == (16,)
    np.testing.assert_allclose(got, np.fft.irfft(z), atol=1e-13)
    with pytest.raises(ValueError):
        np.fft.irfft(z[:1])
    with pytest.raises(audiorep.ParameterError, match="data points"):  # one bin gives n = 0, as in numpy
        audiorep.irfft(z[:1])


@pytest.mark.parametrize(
    "view",
    [
        lambda a: a[:, ::2],
        lambda a: a[::2, :],
        lambda a: a.T,
        lambda a: a[::-1, ::-1],
        lambda a: a[:, ::-3],
        lambda a: a[1:-1, 3:-2],
    ],
    ids=["strided", "every-other-row", "transposed", "negative", "negative-step-3", "sliced"],
)
def test_non_contiguous_views(rng, view):
    x = rng.standard_normal((24, 40))
    z = x + 1j * rng.standard_normal(x.shape)
    xv, zv = view(x), view(z)
    np.testing.assert_allclose(audiorep.fft(zv), np.fft.fft(zv), atol=1e-12)
    np.testing.assert_allclose(audiorep.ifft(zv, axis=0), np.fft.ifft(zv, axis=0), atol=1e-12)
    np.testing.assert_allclose(audiorep.rfft(xv), np.fft.rfft(xv), atol=1e-12)
    np.testing.assert_allclose(audiorep.irfft(zv), np.fft.irfft(zv), atol=1e-12)
    np.testing.assert_allclose(audiorep.rfft(xv.astype(np.float32)), np.fft.rfft(xv), rtol=0, atol=1e-4)


def test_list_input():
    np.testing.assert_allclose(audiorep.fft([1, 2, 3]), np.fft.fft([1, 2, 3]), atol=1e-13)
    np.testing.assert_allclose(audiorep.rfft((1.0, 0.0, -1.0, 0.5)), np.fft.rfft([1.0, 0.0, -1.0, 0.5]), atol=1e-13)


def test_empty_batch():
    z = np.zeros((0, 8), np.complex64)
    assert audiorep.fft(z).shape == (0, 8)
    assert audiorep.rfft(np.zeros((0, 8), np.float32)).shape == (0, 5)
    assert audiorep.irfft(np.zeros((0, 5), np.complex128)).shape == (0, 8)


# ---------------------------------------------------------------- dtypes


@pytest.mark.parametrize(
    "dtype", [np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_]
)
def test_real_dtypes_map_like_numpy(dtype):
    x = (np.arange(10) % 3).astype(dtype)
    for ours, ref in ((audiorep.fft, np.fft.fft), (audiorep.ifft, np.fft.ifft), (audiorep.rfft, np.fft.rfft)):
        expected = ref(x)
        got = ours(x)
        assert got.dtype == expected.dtype, ours.__name__
        # numpy rounds float16 input through half-precision arithmetic; we compute in float32.
        np.testing.assert_allclose(got, expected, atol=1e-3 if dtype == np.float16 else 1e-5)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_dtypes_map_like_numpy(dtype):
    z = (np.arange(10) + 1j).astype(dtype)
    assert audiorep.fft(z).dtype == np.fft.fft(z).dtype == dtype
    assert audiorep.irfft(z).dtype == np.fft.irfft(z).dtype


# ---------------------------------------------------------------- properties


def finite_rows(dtype, min_side=1, max_side=300):
    return hnp.arrays(
        dtype,
        st.tuples(st.integers(1, 3), st.integers(min_side, max_side)),
        elements=st.floats(-1e3, 1e3, allow_nan=False, width=64),
    )


@settings(max_examples=40, deadline=None)
@given(x=finite_rows(np.float64), y=finite_rows(np.float64))
def test_inverse_round_trip(x, y):
    z = x + 1j * np.resize(y, x.shape)
    scale = max(np.abs(z).max(), 1.0)
    np.testing.assert_allclose(audiorep.ifft(audiorep.fft(z)), z, rtol=0, atol=1e-12 * scale)
    n = x.shape[-1]
    np.testing.assert_allclose(audiorep.irfft(audiorep.rfft(x), n), x, rtol=0, atol=1e-12 * scale)


@settings(max_examples=40, deadline=None)
@given(x=finite_rows(np.float32))
def test_inverse_round_trip_single_precision(x):
    n = x.shape[-1]
    scale = max(float(np.abs(x).max()), 1.0)
    back = audiorep.irfft(audiorep.rfft(x), n)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, x, rtol=0, atol=2e-6 * math.log2(n + 1) * scale)


# Lengths built from the radices the kernels have passes for, times at most
# one larger prime (a generic odd pass, or Bluestein when it is large).
mixed_lengths = st.builds(
    lambda a, b, c, d, p: 2**a * 3**b * 5**c * 7**d * p,
    st.integers(0, 5),
    st.integers(0, 3),
    st.integers(0, 2),
    st.integers(0, 2),
    st.sampled_from([1, 1, 1, 11, 13, 61, 127, 131, 1031]),
).filter(lambda n: 2 <= n <= 20000)


@settings(max_examples=40, deadline=None)
@given(n=mixed_lengths, shift=st.integers(0, 10**6), seed=st.integers(0, 2**32 - 1))
def test_shift_theorem_at_mixed_radix_lengths(n, shift, seed):
    # A circular shift by s multiplies bin k by exp(-2 pi i k s / n): every
    # pass and every digit of the permutation has to be right for this to hold.
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    s = shift % n
    k = np.arange(n)
    phase = np.exp(-2j * np.pi * ((k * s) % n) / n)
    X = audiorep.fft(z)
    scale = np.abs(X).max()
    np.testing.assert_allclose(audiorep.fft(np.roll(z, s)), X * phase, rtol=0, atol=1e-12 * math.log2(n + 1) * scale)
    x = z.real
    R = audiorep.rfft(x)
    np.testing.assert_allclose(
        audiorep.rfft(np.roll(x, s)), R * phase[: n // 2 + 1], rtol=0, atol=1e-12 * math.log2(n + 1) * scale
    )


@settings(max_examples=40, deadline=None)
@given(x=finite_rows(np.float64))
def test_parseval(x):
    n = x.shape[-1]
    energy = np.sum(x * x, axis=-1)
    X = audiorep.fft(x)
    np.testing.assert_allclose(np.sum(np.abs(X) ** 2, axis=-1) / n, energy, rtol=1e-10, atol=1e-9)
    R = audiorep.rfft(x)
    # Every bin but DC (and Nyquist for even n) stands for itself and its mirror image.
    weights = np.full(R.shape[-1], 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    np.testing.assert_allclose(np.sum(weights * np.abs(R) ** 2, axis=-1) / n, energy, rtol=1e-10, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(x=finite_rows(np.float64), a=st.floats(-10, 10), b=st.floats(-10, 10))
def test_linearity(x, a, b):
    y = np.roll(x, 1, axis=-1) - 0.5 * x
    scale = max(np.abs(x).max(), 1.0) * x.shape[-1] * 20
    lhs = audiorep.fft(a * x + 1j * b * y)
    rhs = a * audiorep.fft(x) + 1j * b * audiorep.fft(y)
    np.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(audiorep.rfft(a * x + b * y), a * audiorep.rfft(x) + b * audiorep.rfft(y), rtol=0,
                               atol=1e-12 * scale)


# ---------------------------------------------------------------- special values


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("n", [8, 12, 1024])
def test_nan_and_inf_propagate(bad, n):
    x = np.ones((3, n))
    x[1, n // 3] = bad
    for func in (audiorep.fft, audiorep.ifft, audiorep.rfft):
        out = func(x)
        assert np.isfinite(out[0]).all() and np.isfinite(out[2]).all(), func.__name__
        assert not np.isfinite(out[1]).all(), func.__name__
    back = audiorep.irfft(audiorep.rfft(x), n)
    assert not np.isfinite(back[1]).all()
    assert np.isfinite(back[0]).all()


def test_zeros_and_impulse():
    np.testing.assert_array_equal(audiorep.fft(np.zeros(64)), np.zeros(64))
    np.testing.assert_allclose(audiorep.rfft(np.eye(1, 37)[0]), np.ones(19), atol=1e-15)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("func", [audiorep.fft, audiorep.ifft, audiorep.rfft, audiorep.irfft])
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n": 0}, "n=0"),
        ({"n": -4}, "n=-4"),
        ({"n": 2.5}, "n=2.5"),
        ({"n": "8"}, "n='8'"),
        ({"n": True}, "n=True"),
        ({"axis": 2}, "axis=2"),
        ({"axis": -3}, "axis=-3"),
        ({"axis": 1.0}, "axis=1.0"),
        ({"norm": "unitary"}, "norm='unitary'"),
        ({"workers": 0}, "workers=0"),
        ({"workers": "a"}, "workers='a'"),
        ({"workers": -1000}, "workers=-1000"),
    ],
)
def test_bad_arguments(func, kwargs, match):
    with pytest.raises(audiorep.ParameterError, match=match):
        func(np.ones((2, 8)), **kwargs)


@pytest.mark.parametrize("func", [audiorep.fft, audiorep.ifft, audiorep.rfft, audiorep.irfft])
def test_scalar_and_empty_input(func):
    with pytest.raises(audiorep.ParameterError, match="scalar"):
        func(3.0)
    with pytest.raises(audiorep.ParameterError, match="zero length"):
        func(np.ones((3, 0)))
    assert issubclass(audiorep.ParameterError, ValueError)


@pytest.mark.parametrize("func", [audiorep.fft, audiorep.ifft, audiorep.rfft, audiorep.irfft])
@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([1, "x"], dtype=object), "abc", {1: 2}, None])
def test_wrong_types(func, bad):
    with pytest.raises(TypeError):
        func(bad)


def test_rfft_of_complex_is_a_type_error():
    with pytest.raises(TypeError, match="real input"):
        audiorep.rfft(np.ones(8, np.complex64))


def test_core_rejects_bad_arguments():
    with pytest.raises(ValueError, match="nthreads"):
        _core.c2c(np.ones((1, 4), np.complex128), True, 1.0, 0)
    with pytest.raises(ValueError, match="n/2"):
        _core.c2r(np.ones((1, 4), np.complex128), 16, 1.0, 1)
    with pytest.raises(ValueError, match="at least 1"):
        _core.c2r(np.ones((1, 1), np.complex128), 0, 1.0, 1)
    with pytest.raises(TypeError):
        _core.r2c(np.ones((1, 4), np.int32), 1.0, 1)
    with pytest.raises(ValueError, match="2-D"):
        _core.r2c(np.ones(4), 1.0, 1)
    with pytest.raises(ValueError, match="FFT length"):
        _core.r2c(np.ones((2, 0)), 1.0, 1)


# ---------------------------------------------------------------- threads, plans, SIMD paths


def test_workers_give_identical_results(rng):
    for n, rows in ((64, 37), (1000, 9), (4096, 40)):
        x = rng.standard_normal((rows, n)).astype(np.float32)
        z = (x + 1j * rng.standard_normal(x.shape)).astype(np.complex64)
        for workers in (2, 3, -1):
            np.testing.assert_array_equal(audiorep.rfft(x, workers=workers), audiorep.rfft(x))
            np.testing.assert_array_equal(audiorep.fft(z, workers=workers), audiorep.fft(z))
            np.testing.assert_array_equal(audiorep.ifft(z, workers=workers), audiorep.ifft(z))
            Z = audiorep.rfft(x)
            np.testing.assert_array_equal(audiorep.irfft(Z, n, workers=workers), audiorep.irfft(Z, n))


def test_concurrent_calls_from_python_threads(rng):
    # Different lengths per thread, so plans are built and looked up concurrently.
    jobs = [(n, rng.standard_normal((5, n))) for n in (48, 63, 96, 127, 160, 255, 384, 1009, 2048, 3000) * 2]

    def work(job):
        n, x = job
        for _ in range(3):
            np.testing.assert_allclose(audiorep.rfft(x), np.fft.rfft(x), atol=1e-10 * n)
            np.testing.assert_allclose(audiorep.ifft(audiorep.fft(x)), x, atol=1e-12)
        return n

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(work, jobs)) == sorted(n for n, _ in jobs)


def test_plan_cache_is_used_and_bounded():
    audiorep.fft(np.ones(7919))  # a prime: complex plan, Bluestein plan of 16384
    before = _core.cached_plans()
    audiorep.fft(np.ones((2, 7919)))
    assert _core.cached_plans() == before
    for n in range(5000, 5200):
        audiorep.rfft(np.ones(n))
    # Each cache (kind x precision) keeps a bounded number of recent plans.
    assert 0 < _core.cached_plans() <= 6 * 32


def test_work_buffers_are_kept_between_calls_and_released(rng):
    audiorep.release_fft_memory()
    assert _core.fft_kept_memory() == 0
    # One long row: its four-step middle buffer (16 bytes a point) is over the
    # 96 MB the pool keeps in all, and is kept besides them.
    n = 1 << 23
    x = np.ones(n, np.complex128)
    y = audiorep.fft(x)
    assert y[0] == n and np.abs(y[1:]).max() < 1e-6
    kept = _core.fft_kept_memory()
    assert kept >= 16 * n
    audiorep.fft(x)
    assert _core.fft_kept_memory() == kept  # reused, not replaced
    z = (rng.standard_normal((40, 512)) + 1j * rng.standard_normal((40, 512))).astype(np.complex64)
    assert_close(audiorep.fft(z, workers=1), np.fft.fft(z.astype(np.complex128)), 512, np.complex64)
    assert _core.fft_kept_memory() == kept  # the small call borrowed the large buffer and gave it back
    assert audiorep.release_fft_memory() == kept
    assert _core.fft_kept_memory() == 0
    assert_close(audiorep.fft(z), np.fft.fft(z.astype(np.complex128)), 512, np.complex64)


def test_simd_path_is_reported():
    available = _core.available_simd_paths()
    assert available[0] == "generic"
    assert set(available) <= {"generic", "avx2", "avx512"}
    path = _core.simd_path()
    assert path in available
    assert audiorep.build_info()["simd_path"] == path
    if os.environ.get("AUDIOREP_SIMD") is None:
        assert path == available[-1]  # the widest the CPU runs
    if os.path.exists("/proc/cpuinfo"):
        flags = set()
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
        assert ("avx2" in available) == ({"avx2", "fma"} <= flags)
        assert ("avx512" in available) == ({"avx512f", "avx512dq", "avx512vl", "avx512bw", "avx2"} <= flags)


def test_batch_rows_follow_the_simd_path(simd_path):
    widths = {"generic": 16, "avx2": 32, "avx512": 64}  # vector bytes
    for path in _core.available_simd_paths():
        simd_path(path)
        assert _core.batch_rows(False) == widths[path] // 4
        assert _core.batch_rows(True) == widths[path] // 8


def test_set_simd_path_rejects_unknown_names(simd_path):
    with pytest.raises(ValueError, match="sse9"):
        simd_path("sse9")
    previous = simd_path("generic")
    assert _core.simd_path() == "generic"
    assert simd_path(previous) == "generic"


def test_worker_threads_are_shared_by_concurrent_callers(rng):
    # Batches large enough to be split: every call asks the shared pool for threads at once.
    jobs = [rng.standard_normal((rows, n)) for rows, n in ((64, 2048), (128, 1024), (256, 512), (33, 4096))] * 4

    def work(x):
        for _ in range(3):
            np.testing.assert_allclose(audiorep.rfft(x, workers=4), np.fft.rfft(x), atol=1e-9 * x.shape[-1])
        return x.shape

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(work, jobs)) == [x.shape for x in jobs]


def test_worker_threads_work_in_a_forked_child(tmp_path):
    # The parent's pool threads do not survive fork(); the child must start its own, not wait on them.
    script = tmp_path / "fork.py"
    script.write_text(
        "import os, signal, sys\n"
        "import numpy as np\n"
        "import audiorep\n"
        "signal.alarm(60)\n"
        "x = np.random.default_rng(0).standard_normal((256, 2048))\n"
        "expected = audiorep.rfft(x, workers=2)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    signal.alarm(30)\n"
        "    tasks = '/proc/self/task'\n"
        "    before = len(os.listdir(tasks)) if os.path.isdir(tasks) else None\n"
        "    ok = np.array_equal(audiorep.rfft(x, workers=2), expected)\n"
        "    # the child starts worker threads of its own (where Linux lets us count them)\n"
        "    started = before is None or len(os.listdir(tasks)) > before\n"
        "    os._exit(3 if not ok else 4 if not started else 0)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n")
    package_root = str(Path(audiorep.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-W", "ignore::DeprecationWarning", str(script)], env=env,
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
