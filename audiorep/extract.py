"""Turn a dataset of audio files (or OBJ meshes) into a feature store.

Three ways to run, one result (the same rows, in the same order, with the same values):

- one process (``workers=1``);
- a pool of ``workers`` processes on this machine: decoding holds the GIL for much of its
  time, so threads would not scale;
- a Dask cluster (``scheduler="local:N"`` or ``"tcp://HOST:PORT"``).

Two kinds of store come out. A single Parquet file is written by this process as the
features arrive, and appears at its final path once every file has been processed. A
partitioned store (a directory, see :mod:`audiorep.store`; always on Dask, on request
locally) is cut into partitions of files, each worker writes its partition as one part, and
this process writes the shared metadata last. A part is written atomically and only once its
every file is handled, so a task that runs again (its worker died, or the run was
interrupted and started again) rewrites the same part, never a second copy of its rows; a
new run over the same directory skips the finished partitions.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import json
import logging
import multiprocessing
import re
import signal
import threading
import time
from pathlib import Path

import numpy as np

from ._util import check_cancel, check_cancel_token, positive_int, resolve_workers
from .errors import AudioFormatError, ObjFormatError, ParameterError
from .features import FeatureParams, compute_features, pool_lags

log = logging.getLogger(__name__)

__all__ = ["ExtractReport", "dask_client", "features_for_file", "extract_dataset"]


@dataclasses.dataclass
class ExtractReport:
    """What an extraction did: rows written and the files that were skipped, with reasons.

    For a partitioned store, ``partitions`` counts its partitions and
    ``resumed`` those that an earlier, interrupted run had already finished.
    """

    path: Path
    written: int
    failed: list[tuple[str, str]]
    seconds: float
    partitions: int = 0
    resumed: int = 0


def features_for_file(path, params: FeatureParams) -> np.ndarray:
    """Features of one audio file or height-field OBJ mesh, as a (frames, features) float32 array."""
    path = Path(path)
    if path.suffix.lower() == ".obj":
        from .mesh import heightfield_from_obj, read_obj

        _, _, grid = heightfield_from_obj(read_obj(path))
        grid = np.asarray(grid, dtype=np.float32)
        if params.kind != "autocorrelogram":
            raise ParameterError(f"{path}: an OBJ mesh holds an autocorrelogram; use kind='autocorrelogram'")
        curves = pool_lags(grid, params.lag_bins) if params.lag_bins else grid
        # A mesh carries no loudness; the energy column is constant.
        return np.concatenate([curves, np.zeros((grid.shape[0], 1), np.float32)], axis=1).astype(np.float32)
    from .audio import fix_length, load

    y, sr = load(path, sr=params.sr)
    if params.duration is not None:
        y = fix_length(y, int(round(params.duration * sr)))
    return compute_features(y, sr, params)


def _file_chunks(path: Path, params: FeatureParams, chunk_seconds) -> list[np.ndarray]:
    if chunk_seconds is None or path.suffix.lower() == ".obj":
        return [features_for_file(path, params)]
    from .audio import load
    from .datasets import split_chunks

    y, sr = load(path, sr=params.sr)
    return [compute_features(c, sr, params) for c in split_chunks(y, sr, chunk_seconds=chunk_seconds)]


_SKIPPABLE = (AudioFormatError, ObjFormatError, FileNotFoundError, ParameterError)

_DASK_MISSING = "extraction on a Dask cluster needs dask.distributed: pip install 'audiorep[dask]'"
_PLAN = "_extraction.json"
_PLAN_FORMAT = "audiorep-partitioned-extraction/1"
_DONE_DIR = "_done"


def dask_client(scheduler, *, timeout: float = 10.0):
    """Connect to a Dask cluster; return ``(client, close)`` where ``close()`` ends what was started.

    Parameters
    ----------
    scheduler : str or distributed.Client
        ``"local:N"`` starts a :class:`distributed.LocalCluster` of N worker processes (one
        thread each) on this machine; ``"tcp://HOST:PORT"`` (or ``tls://``) joins the cluster
        whose scheduler listens there (``dask scheduler``; workers join with
        ``dask worker tcp://HOST:PORT``). A client is used as it is and left open.
    timeout : float
        Seconds to wait for a remote scheduler.

    Raises
    ------
    ParameterError
        A malformed scheduler, an unreachable one, or no dask.distributed installed.

    Examples
    --------
    >>> dask_client("local:0")
    Traceback (most recent call last):
    ...
    audiorep.errors.ParameterError: scheduler='local:0': N in 'local:N' must be a positive number of worker processes
    """
    if not isinstance(scheduler, str):
        distributed = _import_distributed()
        if isinstance(scheduler, distributed.Client):
            return scheduler, lambda: None
        raise ParameterError(f"scheduler must be 'local:N', a scheduler address or a distributed.Client, "
                             f"got {type(scheduler).__name__}")
    # The address is checked before dask is imported: a typo is reported as one, with or without dask.
    local = re.fullmatch(r"local:(-?\d+)", scheduler.strip())
    remote = re.fullmatch(r"(tcp|tls)://([^/:\s]+|\[[0-9a-fA-F:]+\]):(\d{1,5})", scheduler.strip())
    if local and int(local.group(1)) < 1:
        raise ParameterError(f"scheduler={scheduler!r}: N in 'local:N' must be a positive number of worker "
                             f"processes")
    if not local and (not remote or not 0 < int(remote.group(3)) < 65536):
        raise ParameterError(f"scheduler={scheduler!r} must be 'local:N' (N worker processes on this machine) or the "
                             f"address of a Dask scheduler, such as 'tcp://10.0.0.5:8786'")
    distributed = _import_distributed()
    if local:
        # ":0": the scheduler's HTTP server on a free port. With None it still tries 8787 and, where
        # another cluster holds that port, warns and moves.
        cluster = distributed.LocalCluster(n_workers=int(local.group(1)), threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=logging.ERROR)
        client = distributed.Client(cluster)

        def close():
            client.close()
            cluster.close()

        return client, close
    try:
        client = distributed.Client(scheduler.strip(), timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ParameterError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); start one with "
                             f"'dask scheduler' and workers with 'dask worker {scheduler}'") from None
    return client, client.close


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ParameterError(_DASK_MISSING) from None
    return distributed


def _extract_files(instances, params: FeatureParams, chunk_seconds, strict: bool):
    """Yield ``(instance, chunks)`` for each readable file and ``(instance, reason)`` for the rest."""
    for inst in instances:
        try:
            yield inst, _file_chunks(inst.path, params, chunk_seconds)
        except _SKIPPABLE as exc:
            if strict:
                raise
            log.warning("skipping %s: %s", inst.filename, exc)
            yield inst, str(exc)


def _extract_partition(index: int, instances: list, params: FeatureParams, chunk_seconds, directory: str,
                       label_map: dict, meta: dict, strict: bool) -> dict:
    """Compute one partition and write it as part ``index``; runs on a worker.

    The part appears atomically; then a small marker records it as done (with the files that
    failed), so that a later run skips it. Run twice, it replaces the part with the same rows.
    """
    from ._util import atomic_path
    from .store import StoreWriter, part_path

    directory = Path(directory)
    failed, rows = [], 0
    with StoreWriter(part_path(directory, index), label_map=label_map, params=meta) as writer:
        for inst, result in _extract_files(instances, params, chunk_seconds, strict):
            if isinstance(result, str):
                failed.append((inst.filename, result))
                continue
            for nr, feats in enumerate(result):
                writer.add(dataclasses.replace(inst, chunk_nr=nr), feats)
                rows += 1
        if rows == 0:  # no readable file: no part (not one an earlier run left), only the marker
            writer.abort()
            part_path(directory, index).unlink(missing_ok=True)
    done = {"index": index, "rows": rows, "failed": failed}
    with atomic_path(directory / _DONE_DIR / f"part-{index:05d}.json") as tmp:
        tmp.write_text(json.dumps(done), encoding="utf-8")
    return done


def _plan(instances, meta: dict, label_map: dict, partition_files: int) -> dict:
    names = hashlib.sha256("\n".join(inst.filename for inst in instances).encode()).hexdigest()
    return {"format": _PLAN_FORMAT, "files": len(instances), "files_sha256": names,
            "partition_files": partition_files, "label_map": {str(k): v for k, v in label_map.items()},
            "params": {k: v for k, v in meta.items() if k != "audiorep_version"}}


def _start_or_resume(out: Path, plan: dict) -> dict[int, dict]:
    """Create the store directory with its plan, or check an existing one; return the finished partitions."""
    from ._util import atomic_path
    from .errors import StoreError

    if out.exists() and not out.is_dir():
        raise StoreError(f"{out} is a file; a partitioned store is a directory")
    plan_path = out / _PLAN
    if out.is_dir() and any(out.iterdir()):
        try:
            there = json.loads(plan_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise StoreError(f"{out} exists and is not a partitioned store written by audiorep; remove it or choose "
                             f"another output") from None
        differ = sorted(k for k in set(plan) | set(there) if plan.get(k) != there.get(k))
        if differ:
            raise StoreError(f"{out} holds an extraction with other {', '.join(differ)}; remove it or choose another "
                             f"output")
    else:
        (out / _DONE_DIR).mkdir(parents=True, exist_ok=True)
        with atomic_path(plan_path) as tmp:
            tmp.write_text(json.dumps(plan, indent=1), encoding="utf-8")
    (out / _DONE_DIR).mkdir(exist_ok=True)
    finished = {}
    for marker in (out / _DONE_DIR).glob("part-*.json"):
        try:
            done = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # markers are written atomically; an unreadable one is redone
        finished[int(done["index"])] = done
    return finished


class _DaskRunner:
    """Partition tasks on a Dask cluster: retried when a worker dies, cancelled when the run stops."""

    def __init__(self, client):
        import uuid

        self.client = client
        self.run = uuid.uuid4().hex[:8]  # task keys unique to this run: a shared cluster may hold an earlier run's

    def submit(self, index: int, *args):
        return self.client.submit(_extract_partition, index, *args, key=f"audiorep-extract-part-{index:05d}-{self.run}",
                                  retries=2, pure=False)

    def finished(self, futures) -> list:
        done = [f for f in futures if f.done()]
        if not done:
            time.sleep(0.1)
        return done

    def cancel(self, futures) -> None:
        self.client.cancel(list(futures))


class _PoolRunner:
    """Partition tasks on this machine's process pool (or, with one worker, in a thread of this process)."""

    def __init__(self, pool):
        self.pool = pool

    def submit(self, index: int, *args):
        return self.pool.submit(_extract_partition, index, *args)

    def finished(self, futures) -> list:
        done, _ = cf.wait(futures, timeout=0.1, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def cancel(self, futures) -> None:
        for future in futures:
            future.cancel()


def _extract_partitioned(instances, out, params: FeatureParams, meta: dict, label_map: dict, *, runner,
                         partition_files: int, strict: bool, chunk_seconds, bar, cancel) -> tuple[int, list, int, int]:
    """Cut the files into partitions, have ``runner`` write each as one part, then the shared metadata."""
    from .errors import StoreError
    from .store import finish_partitioned_store, part_path

    out = Path(out).absolute()  # the workers' working directories may differ from ours
    plan = _plan(instances, meta, label_map, partition_files)
    finished = _start_or_resume(out, plan)
    partitions = [instances[i:i + partition_files] for i in range(0, len(instances), partition_files)]
    resumed = {i: finished[i] for i in finished if i < len(partitions)}
    for i in resumed:
        bar.update(len(partitions[i]))
    if resumed:
        log.info("resuming %s: %d of %d partitions are finished", out, len(resumed), len(partitions))
    futures = {runner.submit(i, part, params, chunk_seconds, str(out), label_map, meta, strict): i
               for i, part in enumerate(partitions) if i not in resumed}
    results = dict(resumed)
    pending = set(futures)
    try:
        while pending:
            check_cancel(cancel, "extraction")
            for future in runner.finished(pending):  # waits briefly: a cancel must not wait for a partition
                pending.discard(future)
                results[futures[future]] = future.result()
                bar.update(len(partitions[futures[future]]))
    except BaseException:
        runner.cancel(pending)  # a shared cluster should not go on with a run that stopped
        raise
    written = sum(r["rows"] for r in results.values())
    failed = [tuple(f) for i in sorted(results) for f in results[i]["failed"]]
    if not written:
        raise _no_rows(instances, failed)
    unseen = [part_path(out, i).name for i in sorted(results)
              if results[i]["rows"] and not part_path(out, i).is_file()]
    if unseen:
        raise StoreError(f"the workers wrote {len(unseen)} part(s) that this machine does not see in {out} "
                         f"(first: {unseen[0]}); the output must lie on a file system that every worker and "
                         f"this client share, at the same path")
    # A worker killed while writing leaves its temporary file; readers skip it, but it is litter.
    for leftover in out.glob(".part-*.tmp"):
        leftover.unlink(missing_ok=True)
    finish_partitioned_store(out)
    return written, failed, len(partitions), len(resumed)


@contextlib.contextmanager
def _partition_runner(scheduler, workers: int):
    """Where partitions run: on the Dask cluster of ``scheduler``, else in this machine's process pool."""
    if scheduler is not None:
        client, close = dask_client(scheduler)
        try:
            yield _DaskRunner(client)
        finally:
            close()
        return
    pool = _process_pool(workers)
    try:
        yield _PoolRunner(pool)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _process_pool(workers: int) -> cf.Executor:
    """``workers`` processes, or for one worker a thread (nothing to start, nothing to send between processes)."""
    if workers == 1:
        return cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="audiorep-extract")
    # spawn, not fork: the caller may hold threads (torch, a progress bar) that fork would copy mid-state.
    # The workers ignore Ctrl-C, which reaches the whole process group: this process cancels them.
    return cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN))


def extract_dataset(dataset, out, params: FeatureParams, *, workers=1, scheduler=None, partitioned=False,
                    partition_files: int = 64, strict=False, chunk_seconds=None, progress=True,
                    cancel: threading.Event | None = None) -> ExtractReport:
    """Compute the features of every file of ``dataset`` and write them to the store ``out``.

    Parameters
    ----------
    dataset : audiorep.datasets.Dataset
        From :func:`audiorep.datasets.load_dataset`.
    out : path
        The Parquet store to write. A single file appears only when every file has been
        handled. A partitioned store (a directory; see :mod:`audiorep.store`) is written with
        ``partitioned`` or a ``scheduler``.
    params : FeatureParams
        What to compute; recorded in the store's metadata with the audiorep version.
    workers : int
        Processes that handle files at once on this machine; -1 means one per core, -2 all
        cores but one, and so on. Ignored with a ``scheduler``. The processes are spawned, so a
        script that asks for more than one needs the ``if __name__ == "__main__":`` guard.
    partitioned : bool
        Write a partitioned store: each worker writes the parts of its partitions itself, so
        writing is divided among the workers too (a single file is written by this process
        alone, which on 2 cores holds ``workers=2`` to about 1.45x one worker's throughput),
        and an interrupted run started again keeps its finished partitions.
    scheduler : str or distributed.Client, optional
        Run on Dask (``pip install 'audiorep[dask]'``): ``"local:N"`` (N worker processes
        here), ``"tcp://HOST:PORT"`` (an existing cluster; ``out`` must then lie on a file
        system that every worker sees at the same path) or a client (see :func:`dask_client`).
        A run over a directory that an interrupted run with the same files and parameters
        left behind keeps its finished partitions and computes only the others.
    partition_files : int
        Files per partition (one part file, one task) of a partitioned store.
    strict : bool
        Stop at the first unreadable file instead of skipping it with a warning.
    chunk_seconds : float, optional
        Split each file into chunks of this length, one row each (``chunk_nr`` counts them).
    progress : bool
        Show a progress bar on stderr.
    cancel : threading.Event, optional
        Set it to stop; :class:`audiorep.Cancelled` is raised and no store is written (on
        Dask, the finished parts stay for a later run to resume from).

    Returns
    -------
    ExtractReport

    Examples
    --------
    >>> import tempfile, os
    >>> from audiorep.examples import write_synthetic_dataset
    >>> from audiorep.datasets import load_dataset
    >>> from audiorep.features import FeatureParams
    >>> root = write_synthetic_dataset(tempfile.mkdtemp(), clips_per_class=5, seconds=0.5)
    >>> report = extract_dataset(load_dataset(root), os.path.join(root, "f.parquet"),
    ...                          FeatureParams(kind="mel", n_mels=32, frame_length=512, hop_length=256), progress=False)
    >>> report.written, report.failed
    (20, [])
    """
    import sys

    from tqdm import tqdm

    from . import __version__

    workers = resolve_workers(workers)
    partition_files = positive_int(partition_files, "partition_files")
    check_cancel_token(cancel)
    instances = list(dataset)
    if not instances:
        raise ParameterError(f"the dataset at {getattr(dataset, 'root', '?')} holds no files")
    meta = {**params.to_dict(), "audiorep_version": __version__, "chunk_seconds": chunk_seconds}
    start = time.perf_counter()
    partitions = resumed = 0
    bar = tqdm(total=len(instances), unit="file", desc="extract", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    try:
        if scheduler is not None or partitioned:
            with _partition_runner(scheduler, workers) as runner:
                written, failed, partitions, resumed = _extract_partitioned(
                    instances, out, params, meta, dataset.label_map, runner=runner, partition_files=partition_files,
                    strict=strict, chunk_seconds=chunk_seconds, bar=bar, cancel=cancel)
        else:
            written, failed = _extract_here(instances, out, params, meta, dataset.label_map, workers=workers,
                                            strict=strict, chunk_seconds=chunk_seconds, bar=bar, cancel=cancel)
    finally:
        bar.close()
    return ExtractReport(Path(out), written, failed, time.perf_counter() - start, partitions, resumed)


def _no_rows(instances, failed) -> AudioFormatError:
    return AudioFormatError(f"none of the {len(instances)} files could be read; first error: "
                            f"{failed[0][0]}: {failed[0][1]}")


def _extract_here(instances, out, params: FeatureParams, meta: dict, label_map: dict, *, workers: int, strict: bool,
                  chunk_seconds, bar, cancel) -> tuple[int, list]:
    import collections

    from .store import StoreWriter

    failed: list[tuple[str, str]] = []
    written = 0
    pool = _process_pool(workers)
    try:
        with StoreWriter(out, label_map=label_map, params=meta) as writer:
            todo = iter(instances)
            pending = collections.deque()
            for inst in todo:
                pending.append((inst, pool.submit(_file_chunks, inst.path, params, chunk_seconds)))
                if len(pending) >= 16 * workers:  # enough queued that a row group's write starves no worker
                    break
            while pending:
                check_cancel(cancel, "extraction")
                inst, future = pending.popleft()
                try:
                    chunks = future.result()
                except _SKIPPABLE as exc:
                    if strict:
                        raise
                    failed.append((inst.filename, str(exc)))
                    log.warning("skipping %s: %s", inst.filename, exc)
                else:
                    for nr, feats in enumerate(chunks):
                        writer.add(dataclasses.replace(inst, chunk_nr=nr), feats)
                        written += 1
                bar.update(1)
                nxt = next(todo, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(_file_chunks, nxt.path, params, chunk_seconds)))
            if written == 0:
                raise _no_rows(instances, failed)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return written, failed
