"""Turn a dataset of audio files (or OBJ meshes) into a feature store.

Files are decoded and transformed on a thread pool: soundfile and the compiled
kernels release the GIL, so threads scale without the cost of processes.
Features are written to the store as they arrive, and the store only appears
at its final path once every file has been processed.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import logging
import threading
from pathlib import Path

import numpy as np

from ._util import check_cancel, check_cancel_token, resolve_workers
from .errors import AudioFormatError, ObjFormatError, ParameterError
from .features import FeatureParams, compute_features, pool_lags

log = logging.getLogger(__name__)

__all__ = ["ExtractReport", "features_for_file", "extract_dataset"]


@dataclasses.dataclass
class ExtractReport:
    """What an extraction did: rows written and the files that were skipped, with reasons."""

    path: Path
    written: int
    failed: list[tuple[str, str]]
    seconds: float


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


def extract_dataset(dataset, out, params: FeatureParams, *, workers=1, strict=False, chunk_seconds=None,
                    progress=True, cancel: threading.Event | None = None) -> ExtractReport:
    """Compute the features of every file of ``dataset`` and write them to the store ``out``.

    Parameters
    ----------
    dataset : audiorep.datasets.Dataset
        From :func:`audiorep.datasets.load_dataset`.
    out : path
        The Parquet store to write. It appears only when every file has been handled.
    params : FeatureParams
        What to compute; recorded in the store's metadata with the audiorep version.
    workers : int
        Files processed at once; -1 means one per core, -2 all cores but one, and so on.
    strict : bool
        Stop at the first unreadable file instead of skipping it with a warning.
    chunk_seconds : float, optional
        Split each file into chunks of this length, one row each (``chunk_nr`` counts them).
    progress : bool
        Show a progress bar on stderr.
    cancel : threading.Event, optional
        Set it to stop; :class:`audiorep.Cancelled` is raised and no store is written.

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
    import collections
    import sys
    import time

    from tqdm import tqdm

    from . import __version__
    from .store import StoreWriter

    workers = resolve_workers(workers)
    check_cancel_token(cancel)
    instances = list(dataset)
    if not instances:
        raise ParameterError(f"the dataset at {getattr(dataset, 'root', '?')} holds no files")
    meta = {**params.to_dict(), "audiorep_version": __version__, "chunk_seconds": chunk_seconds}
    start = time.perf_counter()
    failed: list[tuple[str, str]] = []
    written = 0
    bar = tqdm(total=len(instances), unit="file", desc="extract", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="audiorep-extract")
    try:
        with StoreWriter(out, label_map=dataset.label_map, params=meta) as writer:
            todo = iter(instances)
            pending = collections.deque()
            for inst in todo:
                pending.append((inst, pool.submit(_file_chunks, inst.path, params, chunk_seconds)))
                if len(pending) >= 2 * workers:
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
                raise AudioFormatError(f"none of the {len(instances)} files could be read; first error: "
                                       f"{failed[0][0]}: {failed[0][1]}")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return ExtractReport(Path(out), written, failed, time.perf_counter() - start)
