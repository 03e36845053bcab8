"""Training-time data augmentation: altered copies of a dataset's clips.

A speed-perturbed copy plays a clip faster or slower, pitch and tempo together, like a tape
run at another speed: the clip is resampled to ``sr / factor`` and played back at ``sr``.
Every copy carries its provenance. :func:`write_speed_copies` mirrors the dataset's folders,
names each copy after its clip (``1-100032-A.ogg`` -> ``1-100032-A-speed0.9.wav``) and lists
every copy in ``copies.csv`` beside them: the clip it was made from (its ``origin``, the clip's
file name in its own dataset), that clip's label and fold, and the alteration. Reading the
directory (:func:`audiorep.datasets.load_dataset`) takes label and fold from that list, never
from a file name, and ``audiorep extract`` carries the origin into the feature store, where
:func:`source_rows` matches each copy to its clip's row. Copies are meant for training only;
cross-validation keeps every copy out of the fold its clip is tested in, whatever the layout.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ._util import atomic_path, check_sr
from .errors import Cancelled, ParameterError

MIN_FACTOR, MAX_FACTOR = 0.5, 2.0


def _check_factors(factors) -> list[float]:
    if isinstance(factors, (int, float)):
        factors = [factors]
    try:
        factors = [float(f) for f in factors]
    except (TypeError, ValueError):
        raise ParameterError(f"speed factors must be numbers, got {factors!r}") from None
    if not factors:
        raise ParameterError("give at least one speed factor")
    bad = [f for f in factors if not (math.isfinite(f) and MIN_FACTOR <= f <= MAX_FACTOR)]
    if bad:
        raise ParameterError(f"speed factors must lie in [{MIN_FACTOR}, {MAX_FACTOR}], got {bad}")
    if len(set(factors)) != len(factors):
        raise ParameterError(f"speed factors repeat: {factors}")
    return factors


def speed_perturb(y, sr: float, factor: float) -> np.ndarray:
    """``y`` played ``factor`` times as fast (pitch and tempo together): ``len(y) / factor`` samples.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.sin(2 * np.pi * 100 * np.arange(8000) / 8000).astype(np.float32)
    >>> speed_perturb(y, 8000, 1.25).shape
    (6400,)
    """
    import soxr

    (factor,) = _check_factors([factor])
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind != "f":
        raise ParameterError(f"y must be a 1-D float array, got {y.dtype} {y.shape}")
    sr = check_sr(sr)
    if len(y) == 0:
        return np.zeros(0, np.float32)
    return soxr.resample(y, sr, sr / factor, quality="HQ").astype(np.float32)


def copy_name(filename: str, factor: float) -> str:
    """The file name of a speed copy of ``filename``: ``'1-100032-A.ogg' -> '1-100032-A-speed0.9.wav'``."""
    return f"{Path(filename).stem}-speed{factor}.wav"


def write_speed_copies(dataset, out_dir, factors: Sequence[float] = (0.9, 1.1), *, sr: int | None = None,
                       progress: bool = False, cancel=None) -> int:
    """Write speed-perturbed copies of every clip of a dataset; return how many files were written.

    The copies mirror the dataset's folders under ``out_dir`` and are listed, with their
    provenance, in ``out_dir/copies.csv``, which is written before any copy (so the directory is
    never read without it). A copy of a copy records the first clip as its origin.

    Parameters
    ----------
    dataset : path or :class:`audiorep.datasets.Dataset`
        The clips (any layout :func:`audiorep.datasets.load_dataset` reads).
    out_dir : path
        Where the copies go. Existing copies are kept, so an interrupted run can be restarted
        and more speeds added later; each file is written atomically.
    factors : sequence of float
        Speeds in [0.5, 2]: 0.9 plays 10 % slower (and lower), 1.1 10 % faster (and higher).
    sr : int, optional
        Sample rate of the copies (clips are resampled to it first); default: each clip's own.
    progress : bool
        Show a tqdm bar on stderr.
    cancel : threading.Event, optional
        Checked before each clip; when set, raises :class:`audiorep.Cancelled`. The copies
        already written stay (a rerun skips them); none is left half written.

    Examples
    --------
    >>> import tempfile
    >>> from audiorep.examples import write_synthetic_dataset
    >>> from audiorep.datasets import load_dataset
    >>> root = write_synthetic_dataset(tempfile.mkdtemp(), clips_per_class=1, seconds=0.5, sr=8000)
    >>> out = tempfile.mkdtemp()
    >>> write_speed_copies(root, out, factors=[0.9, 1.1])
    8
    >>> copy = load_dataset(out)[0]
    >>> copy.filename, copy.origin, copy.alteration
    ('001 - Chirp/1-0-A-speed0.9.wav', '001 - Chirp/1-0-A.wav', 'speed=0.9')
    """
    import soundfile as sf
    from tqdm.auto import tqdm

    from .audio import load
    from .datasets import COPIES_MANIFEST, Dataset, load_dataset, read_copies_manifest, write_copies_manifest

    factors = _check_factors(factors)
    sr = check_sr(sr, optional=True, whole=True)
    if not isinstance(dataset, Dataset):
        dataset = load_dataset(dataset)
    if any(inst.source != "audio" for inst in dataset.instances):
        raise ParameterError("speed copies need audio files, not meshes")
    out_dir = Path(out_dir)
    plan = {}  # copy file name -> (clip, factor)
    rows = []
    for inst in dataset.instances:
        for factor in factors:
            name = (Path(inst.filename).parent / copy_name(inst.filename, factor)).as_posix()
            if name in plan:
                raise ParameterError(f"{plan[name][0].filename} and {inst.filename} would both be copied to {name}")
            plan[name] = (inst, factor)
            alteration = f"speed={factor}"
            rows.append({"filename": name, "origin": inst.origin or inst.filename, "fold": inst.fold,
                         "label_numeric": inst.label_numeric, "label_nominal": inst.label_nominal,
                         "alteration": f"{inst.alteration},{alteration}" if inst.alteration else alteration})
    out_dir.mkdir(parents=True, exist_ok=True)
    listed = {}
    if (out_dir / COPIES_MANIFEST).is_file():
        listed = {row["filename"]: row for row in read_copies_manifest(out_dir)}
    for row in rows:
        old = listed.get(row["filename"])
        if old is not None and any(str(old[k]) != str(row[k]) for k in row):
            raise ParameterError(f"{out_dir / row['filename']} is listed as a copy of {old['origin']} (fold "
                                 f"{old['fold']}, {old['alteration']}); write copies of {row['origin']} elsewhere")
        listed[row["filename"]] = row
    write_copies_manifest(out_dir, listed.values())

    written = 0
    by_clip: dict[str, list[str]] = {}
    for name, (inst, _) in plan.items():
        by_clip.setdefault(inst.filename, []).append(name)
    for inst in tqdm(dataset.instances, desc="speed copies", unit="clip", disable=not progress):
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"speed copies cancelled after {written} files")
        todo = [name for name in by_clip[inst.filename] if not (out_dir / name).exists()]
        if not todo:
            continue
        y, rate = load(inst.path, sr=sr)
        for name in todo:
            target = out_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                sf.write(tmp, speed_perturb(y, rate, plan[name][1]), rate, format="WAV", subtype="FLOAT")
            written += 1
    return written


def source_rows(originals, copies, *, what: str = "copies") -> np.ndarray:
    """For each row of ``copies``, the row of ``originals`` that holds the clip it was made from.

    A copy's clip is the one its ``origin`` names (recorded by :func:`write_speed_copies` and
    kept by extraction); with chunks, the chunk of the same number, else the clip's first row.
    Its fold and label are then that row's: callers take them from ``originals``, never from the
    copy. A copy that records no origin, whose origin is not among ``originals``, or whose
    recorded fold or label differs from its clip's, is refused.

    Parameters
    ----------
    originals, copies : FeatureTable or any object with the arrays ``filename``, ``chunk_nr``,
        ``fold`` and ``label_numeric`` (``copies`` also ``origin``)
    what : str
        Names the copies in error messages (e.g. the store's path).

    Returns
    -------
    ndarray of int64, shape (len(copies.filename),)

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace as Rows
    >>> clips = Rows(filename=np.array(["a.wav", "b.wav"]), chunk_nr=np.zeros(2, int), fold=np.array([1, 2]),
    ...              label_numeric=np.array([0, 1]))
    >>> copies = Rows(filename=np.array(["b-speed0.9.wav"]), origin=np.array(["b.wav"]), chunk_nr=np.zeros(1, int),
    ...               fold=np.array([2]), label_numeric=np.array([1]))
    >>> source_rows(clips, copies).tolist()
    [1]
    """
    first, exact = {}, {}
    for i, (name, nr) in enumerate(zip(originals.filename, originals.chunk_nr)):
        first.setdefault(str(name), i)
        exact[str(name), int(nr)] = i
    origins = getattr(copies, "origin", None)
    if origins is None:
        origins = [None] * len(copies.filename)
    sources = np.empty(len(copies.filename), dtype=np.int64)
    for j, (name, origin, nr) in enumerate(zip(copies.filename, origins, copies.chunk_nr)):
        if origin is None:
            raise ParameterError(f"{what}: {name} records no origin clip, so its fold cannot be known; make "
                                 "copies with 'audiorep augment' (it lists each copy's clip in copies.csv) and "
                                 "extract them again")
        row = exact.get((str(origin), int(nr)), first.get(str(origin)))
        if row is None:
            raise ParameterError(f"{what}: {name} is a copy of {origin}, which is not among the clips here")
        for column, label in (("fold", "fold"), ("label_numeric", "label")):
            recorded, actual = int(getattr(copies, column)[j]), int(getattr(originals, column)[row])
            if recorded != actual:
                raise ParameterError(f"{what}: {name} records {label} {recorded} for its clip {origin}, which has "
                                     f"{label} {actual} here")
        sources[j] = row
    return sources
