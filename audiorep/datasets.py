"""Datasets in the ESC layouts: which files there are, their labels and their folds.

Three layouts are read, and :func:`load_dataset` tells them apart:

``esc50``
    ``meta/esc50.csv`` (columns filename, fold, target, category, esc10,
    src_file, take) with the clips in ``audio/``, as ESC-50 ships.
``folders``
    One folder per class, ``NNN - Class name/F-ID-T.ogg``, as ESC-10 ships.
    The fold is the first character of the file name, the label the folder
    name without its ``NNN - `` prefix, and the numeric label the rank of the
    folder number (0-based). Class folders without a number prefix are ranked
    by name. The same layout holding OBJ meshes instead of audio is listed the
    same way, with ``Instance.source == "obj"``.
``copies``
    Altered copies of another dataset's clips (:mod:`audiorep.augment`), listed
    in ``copies.csv`` (columns filename, origin, fold, label_numeric,
    label_nominal, alteration). Each copy's label and fold are those its origin
    clip had, recorded when the copy was made; its own file name plays no part.

Cross-validation is stored per instance as ``cv_folds``: one entry per fold,
0 when the instance trains that fold and 1 when it validates it. The datasets
here use leave-one-fold-out over their folds, but the representation
holds any scheme, overlapping ones included.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import numbers
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._util import check_sr
from .audio import fix_length
from .errors import ParameterError

__all__ = [
    "AUDIO_EXTENSIONS",
    "COPIES_MANIFEST",
    "MESH_EXTENSIONS",
    "Instance",
    "Dataset",
    "load_dataset",
    "read_copies_manifest",
    "write_copies_manifest",
    "fold_indices",
    "split_chunks",
    "chunk",
]

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".caf", ".w64"})
MESH_EXTENSIONS = frozenset({".obj"})

_ESC50_COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
COPIES_MANIFEST = "copies.csv"
COPIES_COLUMNS = ("filename", "origin", "fold", "label_numeric", "label_nominal", "alteration")
_CLASS_DIR = re.compile(r"^(\d+) - (.+)$")
PARTITIONS = ("train", "devel", "test", None)


@dataclass
class Instance:
    """One example: a file (or a chunk of it) with its labels and folds.

    Attributes
    ----------
    filename : str
        Path relative to the dataset root, with ``/`` separators.
    chunk_nr : int
        Index of the chunk within the file; 0 for a whole file.
    label_nominal : str
        Class name, e.g. ``"Dog bark"``.
    label_numeric : int
        Class index, 0-based.
    cv_folds : tuple of int
        One entry per cross-validation fold: 0 = train, 1 = validation.
    partition : {"train", "devel", "test"} or None
        A fixed split, where the dataset has one.
    fold : int
        The fold written in the file name (ESC: its first character).
    path : pathlib.Path
        Absolute path of the file.
    features : numpy.ndarray or None
        ``(frames, features)`` once extracted.
    source : {"audio", "obj"}
        What kind of file ``path`` is.
    origin : str or None
        For an altered copy of another dataset's clip: that clip's ``filename`` in its own
        dataset. None for an original clip.
    alteration : str or None
        For a copy: how it was altered (e.g. ``"speed=0.9"``).
    """

    filename: str
    chunk_nr: int
    label_nominal: str
    label_numeric: int
    cv_folds: tuple[int, ...]
    partition: str | None
    fold: int
    path: Path
    features: np.ndarray | None = field(default=None, repr=False)
    source: str = "audio"
    origin: str | None = None
    alteration: str | None = None


def fold_indices(cv_folds) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(train_idx, val_idx)`` for each column of a cv_folds matrix.

    Parameters
    ----------
    cv_folds : array_like of int, shape (n_instances, n_folds)
        0 = train, 1 = validation; any other value leaves the instance out of that fold.

    Yields
    ------
    train_idx, val_idx : numpy.ndarray of int64
        Row indices, ascending.

    Examples
    --------
    >>> import audiorep.datasets as ds
    >>> [(t.tolist(), v.tolist()) for t, v in ds.fold_indices([[1, 0], [0, 1], [0, 1]])]
    [([1, 2], [0]), ([0], [1, 2])]
    """
    matrix = np.asarray(cv_folds)
    if matrix.ndim != 2:
        raise ParameterError(f"cv_folds must be a 2-D (instances, folds) matrix, got shape {matrix.shape}")
    for k in range(matrix.shape[1]):
        column = matrix[:, k]
        yield np.flatnonzero(column == 0), np.flatnonzero(column == 1)


@dataclass
class Dataset:
    """The instances of a dataset with its label map and folds.

    Attributes
    ----------
    instances : list of Instance
    label_map : dict of int -> str
        Numeric label -> class name.
    n_folds : int
        Length of every instance's ``cv_folds``.
    root : pathlib.Path
        The directory the dataset was read from.
    layout : {"esc50", "folders", "copies"}
        Which layout it was read in.
    """

    instances: list[Instance]
    label_map: dict[int, str]
    n_folds: int
    root: Path
    layout: str

    def __len__(self) -> int:
        return len(self.instances)

    def __iter__(self) -> Iterator[Instance]:
        return iter(self.instances)

    def __getitem__(self, index) -> Instance:
        return self.instances[index]

    @property
    def cv_folds(self) -> np.ndarray:
        """``(n_instances, n_folds)`` int8 matrix of the instances' cv_folds."""
        return np.array([inst.cv_folds for inst in self.instances], dtype=np.int8).reshape(len(self), self.n_folds)

    @property
    def labels(self) -> np.ndarray:
        """Numeric labels as an int64 array."""
        return np.array([inst.label_numeric for inst in self.instances], dtype=np.int64)

    def folds(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_idx, val_idx)`` index arrays for each cross-validation fold.

        Examples
        --------
        >>> import audiorep.datasets as ds
        >>> from pathlib import Path
        >>> insts = [ds.Instance(f"{f}-x.wav", 0, "a", 0, (int(f == 1), int(f == 2)), None, f, Path(f"/{f}-x.wav"))
        ...          for f in (1, 2, 2)]
        >>> d = ds.Dataset(insts, {0: "a"}, 2, Path("/"), "folders")
        >>> [v.tolist() for _, v in d.folds()]
        [[0], [1, 2]]
        """
        return fold_indices(self.cv_folds)


def _leave_one_fold_out(fold: int, fold_values: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(fold == value) for value in fold_values)


def _check_extensions(extensions) -> frozenset[str]:
    if extensions is None:
        return AUDIO_EXTENSIONS | MESH_EXTENSIONS
    if isinstance(extensions, str):
        extensions = (extensions,)
    result = set()
    for ext in extensions:
        if not isinstance(ext, str) or not ext:
            raise ParameterError(f"extensions must be strings such as '.ogg', got {ext!r}")
        result.add(("." + ext.lstrip(".")).lower())
    if not result:
        raise ParameterError("extensions must name at least one file extension")
    return frozenset(result)


def _source_of(path: Path) -> str:
    return "obj" if path.suffix.lower() in MESH_EXTENSIONS else "audio"


def _file_fold(path: Path) -> int:
    first = path.name[:1]
    if not first.isdigit():
        raise ParameterError(
            f"{path}: the file name must start with its fold number (ESC style 'F-ID-T{path.suffix}')"
        )
    return int(first)


def _class_folders(root: Path, extensions: frozenset[str]) -> list[tuple[Path, list[Path]]]:
    folders = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(
            p for p in sub.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in extensions
        )
        if files:
            folders.append((sub, files))
    return folders


def _read_folders(root: Path, extensions: frozenset[str]) -> Dataset:
    folders = _class_folders(root, extensions)
    if not folders:
        raise ParameterError(f"{root}: no class folders with {sorted(extensions)} files")
    matches = [_CLASS_DIR.match(sub.name) for sub, _ in folders]
    if all(matches):
        keyed = sorted(zip(matches, folders), key=lambda item: int(item[0].group(1)))
        numbers_seen = [int(m.group(1)) for m, _ in keyed]
        if len(set(numbers_seen)) != len(numbers_seen):
            raise ParameterError(f"{root}: two class folders share a number ({numbers_seen})")
        classes = [(m.group(2), sub, files) for m, (sub, files) in keyed]
    elif not any(matches):
        classes = [(sub.name, sub, files) for sub, files in folders]
    else:
        numbered = [sub.name for (sub, _), m in zip(folders, matches) if m]
        plain = [sub.name for (sub, _), m in zip(folders, matches) if not m]
        raise ParameterError(
            f"{root}: class folders mix 'NNN - Class' names ({numbered[:3]}) with plain names ({plain[:3]})"
        )

    label_map = {index: name for index, (name, _, _) in enumerate(classes)}
    rows = []
    for index, (name, _, files) in enumerate(classes):
        for path in files:
            rows.append((path, name, index, _file_fold(path)))
    sources = {_source_of(path) for path, *_ in rows}
    if len(sources) > 1:
        raise ParameterError(f"{root}: holds both audio and OBJ files; pass extensions= to choose one kind")
    fold_values = sorted({fold for *_, fold in rows})
    instances = [
        Instance(
            filename=path.relative_to(root).as_posix(),
            chunk_nr=0,
            label_nominal=name,
            label_numeric=index,
            cv_folds=_leave_one_fold_out(fold, fold_values),
            partition=None,
            fold=fold,
            path=path.resolve(),
            source=_source_of(path),
        )
        for path, name, index, fold in rows
    ]
    return Dataset(instances, label_map, len(fold_values), root, "folders")


def _parse_bool(value: str, where: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ParameterError(f"{where}: esc10={value!r} is not a boolean (True/False)")


def _parse_int(value: str, name: str, where: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ParameterError(f"{where}: {name}={value!r} is not an integer") from None


def _read_esc50(root: Path, *, esc10_only: bool, extensions: frozenset[str]) -> Dataset:
    meta = root / "meta" / "esc50.csv"
    audio_dir = root / "audio"
    with open(meta, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in _ESC50_COLUMNS if c not in header]
        if missing:
            raise ParameterError(f"{meta}: missing column(s) {missing}; found {header}")
        rows = []
        for line, record in enumerate(reader, start=2):
            where = f"{meta}, line {line}"
            if esc10_only and not _parse_bool(record["esc10"], where):
                continue
            name = record["filename"].strip()
            if not name:
                raise ParameterError(f"{where}: empty filename")
            path = audio_dir / name
            if path.suffix.lower() not in extensions:
                continue
            target = _parse_int(record["target"], "target", where)
            fold = _parse_int(record["fold"], "fold", where)
            rows.append((path, record["category"].strip(), target, fold, where))
    if not rows:
        raise ParameterError(f"{meta}: no rows left{' with esc10=True' if esc10_only else ''}")

    categories: dict[int, str] = {}
    for _, category, target, _, where in rows:
        if categories.setdefault(target, category) != category:
            raise ParameterError(f"{where}: target {target} is {category!r} here but {categories[target]!r} before")
    # Numeric labels are the rank of the target, so a subset (ESC-10 of ESC-50) gets 0..K-1.
    rank = {target: index for index, target in enumerate(sorted(categories))}
    label_map = {rank[target]: name for target, name in categories.items()}
    missing_files = [path for path, *_ in rows if not path.is_file()]
    if missing_files:
        raise FileNotFoundError(
            f"{len(missing_files)} file(s) listed in {meta} are missing, e.g. {missing_files[0]}"
        )
    fold_values = sorted({fold for _, _, _, fold, _ in rows})
    instances = [
        Instance(
            filename=path.relative_to(root).as_posix(),
            chunk_nr=0,
            label_nominal=category,
            label_numeric=rank[target],
            cv_folds=_leave_one_fold_out(fold, fold_values),
            partition=None,
            fold=fold,
            path=path.resolve(),
            source=_source_of(path),
        )
        for path, category, target, fold, _ in rows
    ]
    return Dataset(instances, dict(sorted(label_map.items())), len(fold_values), root, "esc50")


def read_copies_manifest(root) -> list[dict]:
    """The rows of a copies directory's ``copies.csv``, checked: one dict per copy.

    Each row has ``filename`` (relative to ``root``), ``origin`` (the clip it was made from, as
    named in its own dataset), ``fold`` and ``label_numeric`` (ints), ``label_nominal`` and
    ``alteration`` (strs). A malformed manifest raises ParameterError naming the line.
    """
    meta = Path(root) / COPIES_MANIFEST
    with open(meta, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in COPIES_COLUMNS if c not in header]
        if missing:
            raise ParameterError(f"{meta}: missing column(s) {missing}; found {header}")
        rows, seen = [], {}
        for line, record in enumerate(reader, start=2):
            where = f"{meta}, line {line}"
            row = {name: (record[name] or "").strip() for name in COPIES_COLUMNS}
            for name in ("filename", "origin", "label_nominal", "alteration"):
                if not row[name]:
                    raise ParameterError(f"{where}: empty {name}")
            name = row["filename"]
            if Path(name).is_absolute() or ".." in Path(name).parts:
                raise ParameterError(f"{where}: filename {name!r} must be a path inside {root}")
            if name in seen:
                raise ParameterError(f"{where}: {name} is listed twice (first on line {seen[name]})")
            seen[name] = line
            row["fold"] = _parse_int(row["fold"], "fold", where)
            row["label_numeric"] = _parse_int(row["label_numeric"], "label_numeric", where)
            if row["label_numeric"] < 0:
                raise ParameterError(f"{where}: label_numeric={row['label_numeric']} must not be negative")
            row["line"] = line
            rows.append(row)
    return rows


def write_copies_manifest(root, rows) -> Path:
    """Write ``copies.csv`` in ``root`` atomically, rows sorted by file name; returns its path."""
    import io

    from ._util import atomic_path

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COPIES_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: r["filename"]):
        writer.writerow(row)
    path = Path(root) / COPIES_MANIFEST
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def _read_copies(root: Path, extensions: frozenset[str]) -> Dataset:
    rows = [r for r in read_copies_manifest(root) if Path(r["filename"]).suffix.lower() in extensions]
    meta = root / COPIES_MANIFEST
    if not rows:
        raise ParameterError(f"{meta}: lists no {sorted(extensions)} files")
    label_map: dict[int, str] = {}
    for row in rows:
        known = label_map.setdefault(row["label_numeric"], row["label_nominal"])
        if known != row["label_nominal"]:
            raise ParameterError(f"{meta}, line {row['line']}: label {row['label_numeric']} is "
                                 f"{row['label_nominal']!r} here but {known!r} before")
    missing = [row["filename"] for row in rows if not (root / row["filename"]).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} copies listed in {meta} are missing, e.g. {root / missing[0]} "
                                "(an interrupted 'audiorep augment' finishes when run again)")
    fold_values = sorted({row["fold"] for row in rows})
    instances = [
        Instance(
            filename=row["filename"],
            chunk_nr=0,
            label_nominal=row["label_nominal"],
            label_numeric=row["label_numeric"],
            cv_folds=_leave_one_fold_out(row["fold"], fold_values),
            partition=None,
            fold=row["fold"],
            path=(root / row["filename"]).resolve(),
            source=_source_of(Path(row["filename"])),
            origin=row["origin"],
            alteration=row["alteration"],
        )
        for row in rows
    ]
    return Dataset(instances, dict(sorted(label_map.items())), len(fold_values), root, "copies")


def load_dataset(root, *, layout="auto", esc10_only=False, extensions=None) -> Dataset:
    """List a dataset's instances with labels and leave-one-fold-out cross-validation folds.

    Parameters
    ----------
    root : str or os.PathLike
        The dataset directory.
    layout : {"auto", "esc50", "folders", "copies"}
        ``"auto"`` picks ``"copies"`` when ``copies.csv`` exists (a directory written by
        :func:`audiorep.augment.write_speed_copies`), else ``"esc50"`` when ``meta/esc50.csv``
        exists, else ``"folders"``.
    esc10_only : bool, default False
        ESC-50 layout only: keep the rows whose ``esc10`` column is True. Labels are renumbered
        0..K-1 in the order of the original targets.
    extensions : iterable of str, optional
        File extensions to list (``".ogg"``, ``".obj"``, ...). Default: the audio formats
        libsndfile reads plus ``.obj``; a dataset must not mix audio and OBJ files.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        ``root`` does not exist, or files listed in ``meta/esc50.csv`` are missing.
    ParameterError
        ``root`` is not a directory or is in neither layout, or the metadata is malformed.

    Examples
    --------
    >>> import numpy as np, soundfile, tempfile, os, audiorep.datasets as ds
    >>> root = tempfile.mkdtemp()
    >>> for folder, name in [("001 - Dog bark", "1-1-A.wav"), ("002 - Rain", "2-2-A.wav")]:
    ...     os.makedirs(os.path.join(root, folder))
    ...     soundfile.write(os.path.join(root, folder, name), np.zeros(100), 8000)
    >>> d = ds.load_dataset(root)
    >>> d.label_map, d.n_folds, [i.cv_folds for i in d]
    ({0: 'Dog bark', 1: 'Rain'}, 2, [(1, 0), (0, 1)])
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(2, "dataset root does not exist", str(root))
    if not root.is_dir():
        raise ParameterError(f"dataset root {root} is not a directory")
    root = root.resolve()
    if layout not in ("auto", "esc50", "folders", "copies"):
        raise ParameterError(f"layout={layout!r} is not one of 'auto', 'esc50', 'folders', 'copies'")
    exts = _check_extensions(extensions)
    has_csv = (root / "meta" / "esc50.csv").is_file()
    has_copies = (root / COPIES_MANIFEST).is_file()
    if layout == "auto":
        if has_copies:
            layout = "copies"
        elif has_csv:
            layout = "esc50"
        elif _class_folders(root, exts):
            layout = "folders"
        else:
            raise ParameterError(
                f"{root} is neither an ESC-50 root (meta/esc50.csv and audio/) nor a folder of class "
                f"folders ('NNN - Class/F-ID-T.ogg') holding {sorted(exts)} files"
            )
    if layout == "copies":
        if not has_copies:
            raise ParameterError(f"{root}: no {COPIES_MANIFEST}, so it is not a directory of copies")
        if esc10_only:
            raise ParameterError("esc10_only=True needs the ESC-50 layout (meta/esc50.csv)")
        dataset = _read_copies(root, exts)
    elif layout == "esc50":
        if not has_csv:
            raise ParameterError(f"{root}: no meta/esc50.csv, so it is not in the ESC-50 layout")
        dataset = _read_esc50(root, esc10_only=bool(esc10_only), extensions=exts)
    else:
        if esc10_only:
            raise ParameterError("esc10_only=True needs the ESC-50 layout (meta/esc50.csv)")
        dataset = _read_folders(root, exts)
    logger.info(
        "%s: %d instances, %d classes, %d folds (%s layout)",
        root, len(dataset), len(dataset.label_map), dataset.n_folds, dataset.layout,
    )
    return dataset


def split_chunks(y, sr, *, chunk_seconds, last="pad") -> list[np.ndarray]:
    """Split a signal into consecutive chunks of ``chunk_seconds`` along its last axis.

    Parameters
    ----------
    y : array_like
        ``(..., samples)``.
    sr : int or float
        Sampling rate of ``y``.
    chunk_seconds : float
        Chunk length; ``round(chunk_seconds * sr)`` samples, at least one.
    last : {"pad", "drop"}
        What to do with a shorter final chunk: zero-pad it to full length, or drop it.

    Returns
    -------
    list of numpy.ndarray
        Each ``(..., chunk_samples)``; empty when ``last="drop"`` and ``y`` is shorter than one chunk.

    Examples
    --------
    >>> import numpy as np, audiorep.datasets as ds
    >>> [c.tolist() for c in ds.split_chunks(np.arange(5.0), 2, chunk_seconds=1.0)]
    [[0.0, 1.0], [2.0, 3.0], [4.0, 0.0]]
    """
    y = np.asarray(y)
    if y.ndim == 0:
        raise ParameterError("split_chunks needs a signal with a samples axis, got a scalar")
    sr = check_sr(sr)
    if (
        isinstance(chunk_seconds, bool)
        or not isinstance(chunk_seconds, numbers.Real)
        or not math.isfinite(chunk_seconds)
        or chunk_seconds <= 0
    ):
        raise ParameterError(f"chunk_seconds={chunk_seconds!r} must be a positive number of seconds")
    if last not in ("pad", "drop"):
        raise ParameterError(f"last={last!r} is not one of 'pad', 'drop'")
    size = int(round(chunk_seconds * sr))
    if size < 1:
        raise ParameterError(f"chunk_seconds={chunk_seconds} is shorter than one sample at sr={sr}")
    n = y.shape[-1]
    chunks = [y[..., start : start + size] for start in range(0, n, size)]
    if chunks and chunks[-1].shape[-1] < size:
        if last == "drop":
            chunks.pop()
        else:
            chunks[-1] = fix_length(chunks[-1], size)
    return chunks


def chunk(instance: Instance, y, sr, *, chunk_seconds, last="pad") -> list[tuple[Instance, np.ndarray]]:
    """Split one instance's signal into fixed-length chunks, each its own instance.

    Parameters
    ----------
    instance : Instance
        The whole-file instance; its labels and folds are copied to every chunk.
    y : array_like
        The instance's signal, ``(..., samples)``.
    sr : int or float
        Sampling rate of ``y``.
    chunk_seconds : float
        Chunk length in seconds.
    last : {"pad", "drop"}
        Zero-pad the shorter final chunk, or drop it.

    Returns
    -------
    list of (Instance, numpy.ndarray)
        Chunk instances numbered ``chunk_nr = 0 .. k-1`` with their samples.

    Examples
    --------
    >>> import numpy as np, audiorep.datasets as ds
    >>> from pathlib import Path
    >>> inst = ds.Instance("1-1-A.wav", 0, "Rain", 1, (1,), None, 1, Path("/1-1-A.wav"))
    >>> [(c.chunk_nr, x.shape) for c, x in ds.chunk(inst, np.zeros(25), 10, chunk_seconds=1.0, last="drop")]
    [(0, (10,)), (1, (10,))]
    """
    if not isinstance(instance, Instance):
        raise TypeError(f"instance must be an Instance, got {type(instance).__name__}")
    pieces = split_chunks(y, sr, chunk_seconds=chunk_seconds, last=last)
    return [(dataclasses.replace(instance, chunk_nr=i, features=None), piece) for i, piece in enumerate(pieces)]
