"""The FFT against numpy.fft."""

from __future__ import annotations

import numpy as np
import pytest

import audiorep


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 12, 17, 64, 100, 127, 128, 1000, 1024])
@pytest.mark.parametrize("dtype,tol", [(np.complex64, 2e-6), (np.complex128, 1e-13)])
def test_fft_matches_numpy(rng, n, dtype, tol):
    x = (rng.standard_normal((4, n)) + 1j * rng.standard_normal((4, n))).astype(dtype)
    ref = np.fft.fft(x.astype(np.complex128))
    got = audiorep.fft(x)
    assert got.dtype == dtype
    scale = np.abs(ref).max()
    np.testing.assert_allclose(got, ref, atol=tol * scale * np.log2(n + 1), rtol=0)
