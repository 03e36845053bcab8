"""Throughput of extraction and training on one, then two, processes, as ratios from one run.

Extraction of ESC-10 clips (``../shared/data/esc10``; Ogg/Vorbis decoding included, log-mel
with 128 bands, frame 2048, hop 512, the store written) with:

* the local process pool (``extract --workers 1`` and ``--workers 2``), writing one Parquet file
  (this process writes every row) and writing a partitioned store (``--partitioned``: each
  worker writes its own parts);
* a Dask LocalCluster of 1 and 2 worker processes (``--scheduler local:N``), started and warmed
  before the clock starts, writing a partitioned store.

Autoencoder training (LSTM, synthetic sequences) with ``torchrun --standalone
--nproc_per_node=1`` and ``=2``, the same global batch; the time is the one ``audiorep train``
reports (reading the store excluded, joining the process group included).

Also printed: the CPU time per clip (all processes together: where it does not grow with
the process count, the work divides without overhead, and the wall-clock ratio on a machine
with free cores follows the process count), and the bytes per clip of each store, the
figures ``docs/scale.md`` extrapolates from. Every process runs one thread (OMP_NUM_THREADS=1).

    python bench/bench_distributed.py [--limit N] [--repeat K] [--data ../shared/data/esc10] [--train-rows N]

``--repeat K`` extracts the clip list K times over (a longer run, where starting the worker
processes and importing the libraries weigh less than in 400 clips' 4-5 seconds).
"""

from __future__ import annotations

import os

# Before numpy loads its BLAS: one thread per process, the one-worker runs included (BLAS
# would otherwise spread one worker's matrix products over every core).
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a source checkout with an in-place build; an installed package works too


def store_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.glob("part-*.parquet"))
    return path.stat().st_size


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def extraction(dataset, params, tmp: Path) -> list[tuple[str, int, float, float, int]]:
    import distributed

    from audiorep.extract import extract_dataset

    rows = []
    for engine, partitioned in (("local processes, one file", False), ("local processes, partitioned", True)):
        for workers in (1, 2):
            out = tmp / f"local{workers}{'-parts' if partitioned else '.parquet'}"
            cpu = cpu_seconds()
            report = extract_dataset(dataset, out, params, workers=workers, partitioned=partitioned, progress=False)
            rows.append((engine, workers, report.seconds, cpu_seconds() - cpu, store_bytes(out)))
    for workers in (1, 2):
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
                distributed.Client(cluster) as client:
            client.run(lambda: __import__("audiorep.extract"))  # imports are not extraction
            out = tmp / f"dask{workers}"
            start, cpu = time.perf_counter(), cpu_seconds()
            workers_cpu = sum(client.run(time.process_time).values())
            extract_dataset(dataset, out, params, scheduler=client, partition_files=32, progress=False)
            seconds = time.perf_counter() - start
            used = cpu_seconds() - cpu + sum(client.run(time.process_time).values()) - workers_cpu
            rows.append(("Dask LocalCluster", workers, seconds, used, store_bytes(out)))
    return rows


def training(tmp: Path, n_rows: int, epochs: int) -> list[tuple[int, float, float]]:
    from audiorep.store import write_store

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_rows, 100, 64)).astype(np.float32)
    store = write_store(tmp / "train.parquet", dict(filename=[f"{i}.wav" for i in range(n_rows)],
                                                    label_nominal=["x"] * n_rows, label_numeric=[0] * n_rows,
                                                    cv_folds=[(1,)] * n_rows, fold=[1] * n_rows),
                        features=list(x), label_map={0: "x"}, params={"kind": "bench"})
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = []
    for nproc in (1, 2):
        cpu = cpu_seconds()
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                               f"--nproc_per_node={nproc}", "-m", "audiorep", "train", str(store),
                               "-o", str(tmp / f"ae{nproc}.pt"), "--epochs", str(epochs), "--batch-size", "32",
                               "--units", "64", "--layers", "2", "--patience", "100", "--no-progress"],
                              capture_output=True, text=True, env=env, check=True)
        seconds = float(re.search(r" in ([0-9.]+) s;", done.stdout).group(1))
        result.append((nproc, seconds, cpu_seconds() - cpu))  # CPU: the launcher and imports included
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "esc10"))
    parser.add_argument("--limit", type=int, default=None, help="use only the first N clips")
    parser.add_argument("--repeat", type=int, default=1, help="extract the clip list this many times over")
    parser.add_argument("--train-rows", type=int, default=256, help="sequences (100 x 64) to train on (0: no training)")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    from audiorep.datasets import load_dataset
    from audiorep.features import FeatureParams

    dataset = load_dataset(args.data)
    if args.limit:
        dataset.instances = dataset.instances[: args.limit]
    dataset.instances = dataset.instances * args.repeat
    n = len(dataset)
    params = FeatureParams(kind="mel", frame_length=2048, hop_length=512, n_mels=128)
    print(f"{n} clips from {args.data}; {os.cpu_count()} cores\n")
    with tempfile.TemporaryDirectory() as tmp:
        rows = extraction(dataset, params, Path(tmp))
        print("| extraction | workers | clips/s | vs 1 worker | CPU ms per clip | store MB per clip |")
        print("|---|---|---|---|---|---|")
        for engine, workers, seconds, cpu, size in rows:
            one = next(r[2] for r in rows if r[0] == engine and r[1] == 1)
            print(f"| {engine} | {workers} | {n / seconds:.1f} | {one / seconds:.2f}x | "
                  f"{1000 * cpu / n:.1f} | {size / n / 1e6:.3f} |")
        if not args.train_rows:
            return
        trained = training(Path(tmp), args.train_rows, args.epochs)
        print(f"\n| training ({args.train_rows} x 100 x 64, LSTM 2 x 64, global batch 32) | processes | "
              f"sequences/s | vs 1 process | CPU s, whole launch |")
        print("|---|---|---|---|---|")
        for nproc, seconds, cpu in trained:
            rate = args.train_rows * args.epochs / seconds
            print(f"| torchrun | {nproc} | {rate:.1f} | {trained[0][1] / seconds:.2f}x | {cpu:.1f} |")


if __name__ == "__main__":
    main()
