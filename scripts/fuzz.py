"""Fuzz the readers of untrusted files: each case in a worker process with a memory cap and a time limit.

    python scripts/fuzz.py --seconds 60 [--entry arep audio obj store] [--seed 0] [--memory-gib 4] [--timeout 20]

For each entry point, mutations of a valid file (byte flips, byte runs, truncations;
for ``.arep`` files the CRC is fixed after each mutation, so the header checks, not the
CRC, are under test) are read in a worker process capped at ``--memory-gib`` of
address space. Each case ends in one of:

* ``named``: an audiorep error (or FileNotFoundError and friends), the promised outcome;
* ``ok``: a result that passes the entry point's sanity check (finite samples, shapes
  that agree with each other);
* ``wrong``: a result that fails that check;
* ``unnamed``: any other exception type;
* ``crash``: the worker died (a signal, an abort, an out-of-memory kill);
* ``hang``: no answer within ``--timeout`` seconds.

The counts are printed per entry point; any ``wrong``, ``unnamed``, ``crash`` or ``hang``
makes the exit status 1 and is printed with its seed, so that the case can be replayed
with ``--replay ENTRY:SEED``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import struct
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUTCOMES = ("tried", "named", "ok", "unnamed", "crash", "hang", "wrong")
AUDIO_FORMATS = [("wav", "WAV", "PCM_16"), ("aiff", "AIFF", "PCM_24"), ("au", "AU", "ULAW"), ("w64", "W64", "FLOAT"),
                 ("caf", "CAF", "PCM_16"), ("flac", "FLAC", "PCM_16"), ("ogg", "OGG", "VORBIS"),
                 ("rf64", "RF64", "PCM_16"), ("nist", "NIST", "PCM_16"), ("voc", "VOC", "PCM_U8"),
                 ("mp3", "MP3", "MPEG_LAYER_III")]


# ---------------------------------------------------------------- seeds: one valid file per entry point

def make_seeds(root: Path) -> dict:
    import soundfile as sf

    from audiorep import codec, mesh, store

    t = np.arange(24000) / 24000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    seeds = {}
    codec.encode(tone, root / "seed.arep", sr=24000, quality=50)
    seeds["arep"] = [("arep", (root / "seed.arep").read_bytes())]
    seeds["audio"] = []
    for ext, fmt, subtype in AUDIO_FORMATS:
        path = root / f"seed.{ext}"
        try:
            sf.write(path, np.stack([tone, tone[::-1]], axis=1), 24000 if fmt != "VOC" else 22050, format=fmt,
                     subtype=subtype)
        except Exception:  # a libsndfile built without this format
            continue
        seeds["audio"].append((ext, path.read_bytes()))
    grid = np.outer(np.hanning(12), np.hanning(9))
    mesh.write_obj(root / "seed.obj", grid, normals=True)
    seeds["obj"] = [("obj", (root / "seed.obj").read_bytes())]
    cols = dict(filename=["a.wav", "b.wav", "c.wav"], label_nominal=["Rain", "Dog", "Dog"], label_numeric=[1, 0, 0],
                cv_folds=[(1, 0), (0, 1), (0, 1)], fold=[1, 2, 2])
    feats = [np.full((4, 3), i, np.float32) for i in range(3)]
    store.write_store(root / "seed.parquet", cols, features=feats, label_map={0: "Dog", 1: "Rain"},
                      params={"kind": "fuzz"})
    seeds["store"] = [("parquet", (root / "seed.parquet").read_bytes())]
    return seeds


# ---------------------------------------------------------------- mutations

def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def mutate(entry: str, data: bytes, rng: np.random.Generator) -> bytes:
    """A mutated copy of ``data``: truncation, byte flips or a run of one byte, mostly near the header."""
    arep = entry == "arep"
    body = bytearray(data[:-4] if arep else data)
    kind = rng.integers(0, 4)
    header = min(len(body), 64 if arep else 256)
    if kind == 0:
        body = body[: int(rng.integers(0, len(body)))]
    else:
        for _ in range(int(rng.integers(1, 5))):
            near_header = rng.random() < 0.7
            pos = int(rng.integers(0, header if near_header else len(body)))
            if kind == 1:
                body[pos] ^= int(rng.integers(1, 256))
            elif kind == 2:
                run = int(rng.integers(1, 9))
                body[pos: pos + run] = bytes([int(rng.choice([0, 0xFF, 0x7F, 0x80]))]) * len(body[pos: pos + run])
            else:
                body[pos] = int(rng.integers(0, 256))
    if arep and kind != 0:
        return with_crc(bytes(body))
    return bytes(body)


# ---------------------------------------------------------------- the worker

def check_result(entry: str, result) -> bool:
    """The entry point's sanity check of a successful read."""
    if entry == "arep":
        mel, info = result
        return mel.shape == (64, 1 + info.n_samples // 256) and bool(np.isfinite(mel).all())
    if entry == "audio":
        y, sr = result
        return y.ndim == 2 and y.shape[1] > 0 and sr > 0 and bool(np.isfinite(y).all())
    if entry == "obj":
        n = len(result.vertices)
        faces = result.faces[result.faces >= 0]
        return bool(np.isfinite(result.vertices).all()) and (faces.size == 0 or int(faces.max()) < n)
    if entry == "store":
        return (len(result.features) == result.n_rows == len(result.filename)
                and all(f.ndim == 2 and f.shape[1] == result.n_features for f in result.features))
    raise AssertionError(entry)


def read(entry: str, path: str):
    import warnings

    warnings.simplefilter("ignore")
    if entry == "arep":
        from audiorep.codec import decode_logmel

        return decode_logmel(path)
    if entry == "audio":
        from audiorep.audio import load

        return load(path, mono=False)
    if entry == "obj":
        from audiorep.mesh import read_obj

        return read_obj(path, workers=1)
    if entry == "store":
        from audiorep.store import read_store

        return read_store(path)
    raise AssertionError(entry)


def worker(conn, memory_bytes: int, workdir: str) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from audiorep.errors import AudiorepError

    named = (AudiorepError, FileNotFoundError, IsADirectoryError, PermissionError)
    while True:
        job = conn.recv()
        if job is None:
            return
        entry, ext, data = job
        path = os.path.join(workdir, f"case.{ext}")
        with open(path, "wb") as f:
            f.write(data)
        try:
            result = read(entry, path)
        except named:
            conn.send(("named", ""))
            continue
        except Exception:
            conn.send(("unnamed", traceback.format_exc(limit=3)))
            continue
        try:
            conn.send(("ok", "") if check_result(entry, result) else ("wrong", repr(result)[:300]))
        except Exception:
            conn.send(("wrong", traceback.format_exc(limit=3)))


class Worker:
    def __init__(self, memory_bytes: int, workdir: str):
        self.memory_bytes, self.workdir = memory_bytes, workdir
        self.proc = None

    def start(self):
        parent, child = mp.Pipe()
        self.conn = parent
        self.proc = mp.get_context("fork").Process(target=worker, args=(child, self.memory_bytes, self.workdir),
                                                   daemon=True)
        self.proc.start()

    def run(self, job, timeout: float) -> tuple[str, str]:
        if self.proc is None or not self.proc.is_alive():
            self.start()
        try:
            self.conn.send(job)
        except (BrokenPipeError, OSError):
            self.start()
            self.conn.send(job)
        if not self.conn.poll(timeout):
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join()
                self.proc = None
                return "hang", f"no answer in {timeout} s"
        try:
            return self.conn.recv()
        except EOFError:
            self.proc.join()
            code = self.proc.exitcode
            self.proc = None
            return "crash", f"worker exit code {code}"

    def stop(self):
        if self.proc is not None and self.proc.is_alive():
            self.conn.send(None)
            self.proc.join(5)


def case(entry: str, seeds: dict, seed: int):
    rng = np.random.default_rng(seed)
    ext, data = seeds[entry][int(rng.integers(0, len(seeds[entry])))]
    return ext, mutate(entry, data, rng)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="time per entry point")
    p.add_argument("--entry", nargs="+", default=["arep", "audio", "obj", "store"],
                   choices=["arep", "audio", "obj", "store"])
    p.add_argument("--seed", type=int, default=0, help="first case seed (cases are seed, seed + 1, ...)")
    p.add_argument("--memory-gib", type=float, default=4.0, help="address-space cap of the worker")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds before a case counts as a hang")
    p.add_argument("--replay", default=None, help="ENTRY:SEED: run one case in this process, with a traceback")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    with tempfile.TemporaryDirectory() as tmp:
        seeds = make_seeds(Path(tmp))
        if args.replay:
            entry, seed = args.replay.split(":")
            ext, data = case(entry, seeds, int(seed))
            path = Path(tmp) / f"case.{ext}"
            path.write_bytes(data)
            result = read(entry, str(path))
            print("ok" if check_result(entry, result) else "wrong", result if entry != "arep" else result[1])
            return 0
        bad = []
        print(f"{'entry':8s}" + "".join(f"{name:>9s}" for name in OUTCOMES))
        for entry in args.entry:
            pool = Worker(int(args.memory_gib * 2**30), tmp)
            counts = Counter()
            seed = args.seed
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                outcome, detail = pool.run((entry, *case(entry, seeds, seed)), args.timeout)
                counts["tried"] += 1
                counts[outcome] += 1
                if outcome not in ("named", "ok"):
                    bad.append((entry, seed, outcome, detail))
                seed += 1
            pool.stop()
            print(f"{entry:8s}" + "".join(f"{counts[name]:9d}" for name in OUTCOMES), flush=True)
        for entry, seed, outcome, detail in bad[:20]:
            print(f"\n{outcome}: --replay {entry}:{seed}\n{detail}")
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
