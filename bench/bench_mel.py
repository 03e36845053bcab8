"""Mel spectrogram throughput at several frame lengths: audiorep against librosa and torch.

Workload: 5 s clips at 44.1 kHz, float32, power mel spectrogram (no dB) with centred,
zero-padded frames and a Hann window, hop a quarter of the frame, at frame (= FFT) lengths
400 (25 ms at 16 kHz), 882 (20 ms at 44.1 kHz) and 2048, with 40, 64 and 128 bands. Every
pipeline computes the same numbers (checked against librosa before timing, 1e-4 relative).

    python bench/bench_mel.py [--batch 16] [--repeat 5]        # table of clips/s and ratios
    python -m pytest bench/bench_mel.py --benchmark-only      # pytest-benchmark groups
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one thread for every library's matrix products

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import audiorep.dsp as dsp  # noqa: E402

SR = 44100
SECONDS = 5
GEOMETRIES = ((400, 40), (882, 64), (2048, 128))  # (n_fft, n_mels)
BATCH = 8


def make_clips(n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((n, SR * SECONDS))).astype(np.float32)


def run_audiorep(clips, n_fft, n_mels):
    return dsp.melspectrogram(clips, SR, n_fft=n_fft, hop_length=n_fft // 4, n_mels=n_mels, log=False, workers=1)


def run_librosa(clips, n_fft, n_mels):
    import librosa

    return np.stack([librosa.feature.melspectrogram(y=c, sr=SR, n_fft=n_fft, hop_length=n_fft // 4, n_mels=n_mels,
                                                    pad_mode="constant") for c in clips])


def run_torch(clips, n_fft, n_mels):
    import librosa
    import torch

    torch.set_num_threads(1)
    bank = torch.from_numpy(librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=n_mels).astype(np.float32))
    window = torch.hann_window(n_fft, periodic=True)
    with torch.no_grad():
        spec = torch.stft(torch.from_numpy(clips), n_fft, hop_length=n_fft // 4, window=window, center=True,
                          pad_mode="constant", return_complex=True)
        return (bank @ (spec.real**2 + spec.imag**2)).numpy()


def candidates():
    runs = [("audiorep", run_audiorep)]
    try:
        import librosa  # noqa: F401

        runs.append(("librosa", run_librosa))
        import torch  # noqa: F401

        runs.append(("torch.stft + librosa bank", run_torch))
    except ImportError:
        pass
    return runs


def best_time(fn, repeat: int) -> float:
    fn()
    best = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    runs = candidates()
    clips = make_clips(args.batch)
    print(f"{args.batch} clips of {SECONDS} s at {SR} Hz, float32, one thread, process time")
    print("| n_fft | n_mels | " + " | ".join(name for name, _ in runs) + " | audiorep vs librosa |")
    print("|---" * (len(runs) + 3) + "|")
    for n_fft, n_mels in GEOMETRIES:
        want = run_librosa(clips[:2], n_fft, n_mels)
        for name, fn in runs:
            got = fn(clips[:2], n_fft, n_mels)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(want.max()), err_msg=name)
        rates = {name: args.batch / best_time(lambda: fn(clips, n_fft, n_mels), args.repeat) for name, fn in runs}
        ratio = rates["audiorep"] / rates["librosa"] if "librosa" in rates else float("nan")
        print(f"| {n_fft} | {n_mels} | " + " | ".join(f"{r:.1f} clips/s" for r in rates.values()) +
              f" | {ratio:.2f}x |")
    return 0


@pytest.fixture(scope="module")
def clips():
    return make_clips(BATCH)


@pytest.mark.parametrize("n_fft, n_mels", GEOMETRIES)
@pytest.mark.parametrize("name, fn", [pytest.param(*run, id=run[0]) for run in candidates()])
def test_melspectrogram_throughput(benchmark, clips, name, fn, n_fft, n_mels):
    benchmark.group = f"melspectrogram {BATCH} clips, n_fft {n_fft}"
    out = benchmark(fn, clips, n_fft, n_mels)
    assert out.shape == (BATCH, n_mels, 1 + SR * SECONDS // (n_fft // 4))


if __name__ == "__main__":
    sys.exit(main())
