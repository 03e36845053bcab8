"""Autocorrelogram throughput: audiorep's fused kernel against FFT pipelines built from references.

Workload: 5 s clips at 44.1 kHz, float32, frames of 2048 (or other lengths: 400, 882)
with a hop of a quarter frame, periodic Hann window, half a frame of lags, each frame
normalised by its lag-0 value. Every reference computes the same numbers (checked before
timing) with vectorised calls per clip, at the FFT length scipy.fft.next_fast_len picks.

Two ways to run it:

    python bench/bench_autocorr.py [--batch 64] [--repeat 5] [--frame-lengths 400 882 2048]
    python -m pytest bench/bench_autocorr.py --benchmark-only  # pytest-benchmark groups
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np
import pytest

import audiorep.dsp as dsp

SR = 44100
SECONDS = 5


@dataclasses.dataclass(frozen=True)
class Geometry:
    """Frames of ``frame`` samples every ``frame // 4``, lags 0..frame/2-1, periodic Hann window."""

    frame: int = 2048

    @property
    def hop(self) -> int:
        return self.frame // 4

    @property
    def lags(self) -> int:
        return self.frame // 2

    @property
    def nfft(self) -> int:
        """The references' FFT length: the fastest length scipy knows that avoids wrap-around."""
        import scipy.fft as sfft

        return sfft.next_fast_len(self.frame + self.lags - 1, real=True)

    @property
    def window(self) -> np.ndarray:
        return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.frame) / self.frame)).astype(np.float32)


DEFAULT = Geometry(2048)
FRAME_LENGTHS = (400, 882, 2048)  # 25 ms at 16 kHz, 20 ms at 44.1 kHz, the default


def make_clips(n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((n, SR * SECONDS))).astype(np.float32)


def frames_of(clip: np.ndarray, g: Geometry) -> np.ndarray:
    padded = np.pad(clip, g.frame // 2)
    return np.lib.stride_tricks.sliding_window_view(padded, g.frame)[:: g.hop] * g.window


def normalise(r: np.ndarray) -> np.ndarray:
    r0 = r[:, :1]
    return r / np.where(r0 > 0, r0, 1)


def run_audiorep(clips, g: Geometry, workers):
    return dsp.autocorrelogram(clips, SR, frame_length=g.frame, hop_length=g.hop, max_lag=g.lags,
                               workers=workers).values


def run_audiorep_pow2(clips, g: Geometry):
    """audiorep as it was before lengths with factors 3 and 5: the power-of-two transform length."""
    from audiorep import _core

    fast = _core.acf_fast_fft_size
    _core.acf_fast_fft_size = _core.acf_fft_size
    try:
        return run_audiorep(clips, g, 1)
    finally:
        _core.acf_fast_fft_size = fast


def run_numpy(clips, g: Geometry):
    out = []
    for clip in clips:
        spec = np.fft.rfft(frames_of(clip, g), g.nfft)
        out.append(normalise(np.fft.irfft(spec.real**2 + spec.imag**2, g.nfft)[:, : g.lags]))
    return np.stack(out)


def run_scipy(clips, g: Geometry, workers):
    import scipy.fft as sfft

    out = []
    for clip in clips:
        spec = sfft.rfft(frames_of(clip, g), g.nfft, workers=workers)
        out.append(normalise(sfft.irfft(spec.real**2 + spec.imag**2, g.nfft, workers=workers)[:, : g.lags]))
    return np.stack(out)


def run_librosa(clips, g: Geometry):
    import librosa

    return np.stack([normalise(librosa.autocorrelate(frames_of(clip, g), max_size=g.lags, axis=-1))
                     for clip in clips])


def run_torch(clips, g: Geometry, threads):
    import torch

    torch.set_num_threads(threads)
    window = torch.from_numpy(g.window)
    out = []
    with torch.no_grad():
        for clip in clips:
            x = torch.nn.functional.pad(torch.from_numpy(clip), (g.frame // 2, g.frame // 2))
            frames = x.unfold(0, g.frame, g.hop) * window
            spec = torch.fft.rfft(frames, g.nfft)
            r = torch.fft.irfft(spec.real**2 + spec.imag**2, g.nfft)[:, : g.lags]
            out.append(normalise(r.numpy()))
    return np.stack(out)


def candidates():
    """(name, threads, function(clips, geometry)) for every pipeline whose library is installed."""
    runs = [
        ("audiorep", 1, lambda c, g: run_audiorep(c, g, 1)),
        ("audiorep", 2, lambda c, g: run_audiorep(c, g, 2)),
        ("audiorep, power of two", 1, run_audiorep_pow2),
        ("numpy.fft", 1, run_numpy),
    ]
    try:
        import scipy.fft  # noqa: F401

        runs += [("scipy.fft", 1, lambda c, g: run_scipy(c, g, 1)), ("scipy.fft", 2, lambda c, g: run_scipy(c, g, 2))]
    except ImportError:
        pass
    try:
        import librosa  # noqa: F401

        runs.append(("librosa.autocorrelate", 1, run_librosa))
    except ImportError:
        pass
    try:
        import torch  # noqa: F401

        runs += [("torch.fft", 1, lambda c, g: run_torch(c, g, 1)), ("torch.fft", 2, lambda c, g: run_torch(c, g, 2))]
    except ImportError:
        pass
    return runs


def best_time(fn, clips, repeat: int) -> float:
    fn(clips)  # warm-up: plans, caches, thread pools
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(clips)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="clips in the batch workload")
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats (best is kept)")
    parser.add_argument("--frame-lengths", type=int, nargs="+", default=[DEFAULT.frame],
                        help=f"frame lengths to run (hop a quarter, lags half of each); e.g. {' '.join(map(str, FRAME_LENGTHS))}")
    args = parser.parse_args(argv)
    import audiorep

    print(f"audiorep {audiorep.__version__} {audiorep.build_info()}")
    runs = candidates()
    for frame in args.frame_lengths:
        g = Geometry(frame)
        check = make_clips(2, seed=1)
        want = run_audiorep(check, g, 1)
        for name, threads, fn in runs:
            np.testing.assert_allclose(fn(check, g), want, atol=2e-4, err_msg=f"{name} disagrees")
        for n_clips in (1, args.batch):
            clips = make_clips(n_clips)
            rates = {}
            for name, threads, fn in runs:
                repeat = args.repeat if n_clips == 1 else max(1, args.repeat // 2)
                rates[(name, threads)] = n_clips / best_time(lambda c: fn(c, g), clips, repeat)
            print(f"\n{n_clips} clip(s) of {SECONDS} s at {SR} Hz, frame {g.frame}, hop {g.hop}, {g.lags} lags, "
                  f"float32 (references: FFT length {g.nfft})")
            print(f"{'pipeline':<24}{'threads':>8}{'clips/s':>12}{'audiorep 1t is':>18}")
            mine = rates[("audiorep", 1)]
            for (name, threads), rate in rates.items():
                print(f"{name:<24}{threads:>8}{rate:>12.1f}{mine / rate:>17.2f}x")
    return 0


# ---------------------------------------------------------------- pytest-benchmark

BATCH = 8


@pytest.fixture(scope="module")
def clips():
    return make_clips(BATCH)


@pytest.mark.parametrize("frame", FRAME_LENGTHS)
@pytest.mark.parametrize(
    "name, threads, fn", [pytest.param(*run, id=f"{run[0]}-{run[1]}thread") for run in candidates()]
)
def test_autocorrelogram_throughput(benchmark, clips, name, threads, fn, frame):
    g = Geometry(frame)
    benchmark.group = f"autocorrelogram {BATCH} clips, frame {frame}"
    benchmark.extra_info["clips"] = BATCH
    out = benchmark(fn, clips, g)
    assert out.shape == (BATCH, 1 + SR * SECONDS // g.hop, g.lags)


if __name__ == "__main__":
    sys.exit(main())
