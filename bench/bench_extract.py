"""Feature extraction of a whole dataset, decoding included: audiorep against librosa.

For every clip of ESC-10 (``../shared/data/esc10``, 400 Ogg/Vorbis clips of 5 s at 44.1 kHz):

* autocorrelogram (frame 2048, hop 512, Hann, 1024 lags, lag-0 normalised):
  ``audiorep.extract_dataset`` (load + fused kernel + store) against
  ``librosa.load`` + ``librosa.util.frame`` + ``librosa.autocorrelate``;
* log-mel (n_fft 2048, hop 512, 128 bands):
  ``audiorep.extract_dataset`` against ``librosa.load`` + ``librosa.feature.melspectrogram`` + ``power_to_db``.

audiorep runs with 1 and 2 workers (files in parallel); the librosa pipelines run one
file at a time and with a thread pool of 2. Each pipeline runs once over all clips.

    python bench/bench_extract.py [--limit N] [--data ../shared/data/esc10]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import tempfile
import time
from pathlib import Path

import sys

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a source checkout with an in-place build; an installed package works too


def librosa_acg(path):
    import librosa

    y, sr = librosa.load(path, sr=None, mono=True)
    y = np.pad(y, 1024)
    frames = librosa.util.frame(y, frame_length=2048, hop_length=512, axis=0) * np.hanning(2050)[1:-1].astype(np.float32)
    r = librosa.autocorrelate(frames, max_size=1024, axis=-1)
    return r / np.maximum(r[:, :1], 1e-20)


def librosa_mel(path):
    import librosa

    y, sr = librosa.load(path, sr=None, mono=True)
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512, n_mels=128)
    return librosa.power_to_db(S, ref=np.max, top_db=80.0).T


def run_reference(func, files, workers):
    start = time.perf_counter()
    if workers == 1:
        for f in files:
            func(f)
    else:
        with cf.ThreadPoolExecutor(workers) as pool:
            list(pool.map(func, files))
    return time.perf_counter() - start


def run_audiorep(kind, dataset, workers):
    from audiorep.extract import extract_dataset
    from audiorep.features import FeatureParams

    params = FeatureParams(kind=kind, frame_length=2048, hop_length=512, n_mels=128, max_lag=1024, lag_bins=0)
    with tempfile.TemporaryDirectory() as tmp:
        report = extract_dataset(dataset, Path(tmp) / "f.parquet", params, workers=workers, progress=False)
    return report.seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "esc10"))
    parser.add_argument("--limit", type=int, default=None, help="use only the first N clips")
    args = parser.parse_args()

    from audiorep.datasets import load_dataset

    dataset = load_dataset(args.data)
    if args.limit:
        dataset.instances = dataset.instances[: args.limit]
    files = [str(inst.path) for inst in dataset]
    n = len(files)
    librosa_acg(files[0]), librosa_mel(files[0])  # warm up numba and the decoders
    print(f"{n} clips from {args.data}\n")
    print("| features | pipeline | workers | clips/s | audiorep speed-up |")
    print("|---|---|---|---|---|")
    for kind, ref in (("autocorrelogram", librosa_acg), ("mel", librosa_mel)):
        ours = {w: n / run_audiorep(kind, dataset, w) for w in (1, 2)}
        theirs = {w: n / run_reference(ref, files, w) for w in (1, 2)}
        for w in (1, 2):
            print(f"| {kind} | audiorep extract | {w} | {ours[w]:.1f} | |")
        for w in (1, 2):
            print(f"| {kind} | librosa | {w} | {theirs[w]:.1f} | {ours[w] / theirs[w]:.2f}x |")


if __name__ == "__main__":
    main()
