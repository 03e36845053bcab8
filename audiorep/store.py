"""The feature store: the instances of a dataset with their features, in Parquet.

A store is one Parquet file, or a partitioned store: a directory of part files
(``part-00000.parquet``, ...) that share one schema, plus ``_common_metadata`` (the
schema with the audiorep metadata) and ``_metadata`` (every part's footer).
``pyarrow.dataset``, pandas and Dask read the directory as one table; every
function here that reads a store takes either form.

One row per instance::

    filename       string                                  path relative to the dataset root
    chunk_nr       int32
    label_nominal  string
    label_numeric  int32
    cv_folds       list<int8>                              0 = train, 1 = validation, per fold
    partition      string (nullable)                       "train" / "devel" / "test"
    fold           int32                                   the instance's fold (for a copy: its clip's)
    features       list<fixed_size_list<float32, F>>       T frames of F values; T may vary per row
    feature_shape  list<int32>                             [T, F]
    origin         string (nullable)                       for an altered copy: the clip it was made from
    alteration     string (nullable)                       for an altered copy: how (e.g. "speed=0.9")

``origin`` and ``alteration`` are null for original clips; stores written before they existed
lack both columns and read as if every row were an original.

The schema metadata key ``audiorep`` holds JSON with the label map and the
parameters the features were computed with (kind, sr, frame_length, ...), so a
model can check it is fed what it was trained on (:func:`check_params`).

Files are written to a temporary file beside the target and renamed into place
only when complete: an interrupted extraction leaves no store behind. A
partitioned store is readable only once ``_common_metadata`` is written, after
its last part; until then its finished parts let an interrupted extraction resume.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ._util import temp_beside
from .datasets import PARTITIONS, Dataset, Instance, fold_indices
from .errors import ParameterError, StoreError

__all__ = [
    "COLUMNS",
    "FeatureTable",
    "StoreMetadata",
    "StoreWriter",
    "write_store",
    "read_store",
    "read_store_metadata",
    "check_params",
    "finish_partitioned_store",
    "is_store",
    "part_files",
    "part_path",
]

logger = logging.getLogger(__name__)

_META_KEY = b"audiorep"
_FORMAT = "audiorep-feature-store"
_FORMAT_VERSION = 1
COLUMNS = (
    "filename",
    "chunk_nr",
    "label_nominal",
    "label_numeric",
    "cv_folds",
    "partition",
    "fold",
    "features",
    "feature_shape",
    "origin",
    "alteration",
)
OPTIONAL_COLUMNS = ("origin", "alteration")
_LABEL_COLUMNS = ("filename", "chunk_nr", "label_nominal", "label_numeric", "cv_folds", "partition", "fold",
                  "origin", "alteration")
_REQUIRED_INPUT = ("filename", "label_nominal", "label_numeric", "cv_folds", "fold")
# A partitioned store is a directory of part files plus the Parquet summary files that pyarrow,
# pandas, Dask and Spark read; names starting with "_" or "." are skipped by their file discovery.
PART_PATTERN = "part-*.parquet"
COMMON_METADATA = "_common_metadata"
SUMMARY_METADATA = "_metadata"


_DICTIONARY_COLUMNS = ["filename", "label_nominal", "partition", "origin", "alteration"]


def _schema(n_features: int, metadata: bytes) -> pa.Schema:
    return pa.schema(
        [
            ("filename", pa.string()),
            ("chunk_nr", pa.int32()),
            ("label_nominal", pa.string()),
            ("label_numeric", pa.int32()),
            ("cv_folds", pa.list_(pa.int8())),
            ("partition", pa.string()),
            ("fold", pa.int32()),
            ("features", pa.list_(pa.list_(pa.float32(), n_features))),
            ("feature_shape", pa.list_(pa.int32())),
            ("origin", pa.string()),
            ("alteration", pa.string()),
        ],
        metadata={_META_KEY: metadata},
    )


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _check_label_map(label_map) -> dict[int, str]:
    if not isinstance(label_map, Mapping):
        raise TypeError(f"label_map must be a dict of int -> str, got {type(label_map).__name__}")
    result = {}
    for key, value in label_map.items():
        if isinstance(key, bool) or not isinstance(key, numbers.Integral) or not isinstance(value, str):
            raise ParameterError(f"label_map entry {key!r}: {value!r} must map an int to a str")
        result[int(key)] = value
    return dict(sorted(result.items()))


def _encode_metadata(label_map: dict[int, str], params, n_features: int, n_folds: int) -> bytes:
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict, got {type(params).__name__}")
    document = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "label_map": {str(k): v for k, v in label_map.items()},
        "params": dict(params),
        "n_features": n_features,
        "n_folds": n_folds,
    }
    try:
        return json.dumps(document, default=_json_default, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"params cannot be stored as JSON: {exc}") from None


def _as_frames(features, row: int) -> np.ndarray:
    array = np.asarray(features)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"features of row {row} have dtype {array.dtype}; expected real numbers")
    if array.ndim != 2:
        raise ParameterError(f"features of row {row} have shape {array.shape}; expected (frames, features)")
    return np.ascontiguousarray(array, dtype=np.float32)


def _rows_from(data, features) -> tuple[dict[str, list], list]:
    """Turn instances or a dict of columns plus features into columns and a list of feature arrays."""
    if isinstance(data, Dataset):
        data = data.instances
    if isinstance(data, Mapping):
        missing = [c for c in _REQUIRED_INPUT if c not in data]
        if missing:
            raise ParameterError(f"the columns lack {missing}; they need {list(_REQUIRED_INPUT)}")
        n = len(data["filename"])
        columns = {name: list(data[name]) for name in _LABEL_COLUMNS if name in data}
        columns.setdefault("chunk_nr", [0] * n)
        columns.setdefault("partition", [None] * n)
        for name in OPTIONAL_COLUMNS:
            columns.setdefault(name, [None] * n)
        for name, values in columns.items():
            if len(values) != n:
                raise ParameterError(f"column {name!r} has {len(values)} values, filename has {n}")
        if features is None:
            features = data.get("features")
    elif isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        instances = list(data)
        for inst in instances:
            if not isinstance(inst, Instance):
                raise TypeError(f"expected Instance objects or a dict of columns, got {type(inst).__name__}")
        columns = {name: [getattr(inst, name) for inst in instances] for name in _LABEL_COLUMNS}
        if features is None:
            features = [inst.features for inst in instances]
        n = len(instances)
    else:
        raise TypeError(f"expected a Dataset, a sequence of Instance or a dict of columns, got {type(data).__name__}")
    if features is None:
        raise ParameterError("no features given: pass features= or set Instance.features")
    features = list(features)
    if len(features) != n:
        raise ParameterError(f"{len(features)} feature arrays for {n} rows")
    for row, value in enumerate(features):
        if value is None:
            raise ParameterError(f"row {row} ({columns['filename'][row]}) has no features")
    return columns, features


class StoreWriter:
    """Write a feature store row group by row group; the file appears only on a successful close.

    Parameters
    ----------
    path : str or os.PathLike
        The store to create (replaced if it exists, but only once the new one is complete).
    label_map : dict of int -> str
        Numeric label -> class name.
    params : dict
        The feature parameters (kind, sr, frame_length, hop_length, ..., audiorep version);
        must be JSON serialisable.
    rows_per_group : int, default 64
        Rows buffered before a row group is written.

    Notes
    -----
    Used as a context manager, an exception (KeyboardInterrupt included) inside the
    ``with`` block removes the temporary file and leaves no output. Outside a ``with``
    block, call :meth:`close` to finish or :meth:`abort` to discard.

    Examples
    --------
    >>> import numpy as np, tempfile, os, audiorep.store as st
    >>> path = os.path.join(tempfile.mkdtemp(), "feats.parquet")
    >>> with st.StoreWriter(path, label_map={0: "Rain"}, params={"kind": "demo"}) as writer:
    ...     writer.add(dict(filename="1-1-A.wav", label_nominal="Rain", label_numeric=0, cv_folds=(1,), fold=1),
    ...                np.ones((3, 2)))
    >>> st.read_store(path).features[0].shape
    (3, 2)
    """

    def __init__(self, path, *, label_map, params, rows_per_group=64):
        self.path = Path(path)
        self.label_map = _check_label_map(label_map)
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a dict, got {type(params).__name__}")
        self.params = dict(params)
        _encode_metadata(self.label_map, self.params, 0, 0)  # fail early on params JSON cannot hold
        if isinstance(rows_per_group, bool) or not isinstance(rows_per_group, numbers.Integral) or rows_per_group < 1:
            raise ParameterError(f"rows_per_group={rows_per_group!r} must be a positive integer")
        self.rows_per_group = int(rows_per_group)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(2, "the directory for the store does not exist", str(self.path.parent))
        self.n_rows = 0
        self.n_features: int | None = None
        self.n_folds: int | None = None
        self._columns: dict[str, list] = {name: [] for name in _LABEL_COLUMNS}
        self._features: list[np.ndarray] = []
        self._tmp: Path | None = None
        self._file = None
        self._writer: pq.ParquetWriter | None = None
        self._closed = False

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False

    def _check_row(self, row: dict, frames: np.ndarray) -> dict:
        index = self.n_rows + len(self._features)
        where = f"row {index} ({row.get('filename')!r})"
        if not isinstance(row["filename"], str) or not row["filename"]:
            raise ParameterError(f"{where}: filename must be a non-empty str")
        if not isinstance(row["label_nominal"], str):
            raise ParameterError(f"{where}: label_nominal={row['label_nominal']!r} must be a str")
        for name in ("chunk_nr", "label_numeric", "fold"):
            value = row[name]
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ParameterError(f"{where}: {name}={value!r} must be an integer")
        if int(row["label_numeric"]) not in self.label_map:
            raise ParameterError(f"{where}: label_numeric={row['label_numeric']} is not in the label map")
        try:
            folds = tuple(int(v) for v in row["cv_folds"])
        except (TypeError, ValueError):
            raise ParameterError(f"{where}: cv_folds={row['cv_folds']!r} must be a sequence of 0/1 values") from None
        if any(v not in (0, 1) for v in folds):
            raise ParameterError(f"{where}: cv_folds={folds} must hold 0 (train) or 1 (validation)")
        if self.n_folds is None:
            self.n_folds = len(folds)
        elif len(folds) != self.n_folds:
            raise ParameterError(f"{where}: cv_folds has {len(folds)} entries, earlier rows {self.n_folds}")
        for name in OPTIONAL_COLUMNS:
            if row[name] is not None and (not isinstance(row[name], str) or not row[name]):
                raise ParameterError(f"{where}: {name}={row[name]!r} must be a non-empty str or None")
        if row["partition"] not in PARTITIONS:
            raise ParameterError(f"{where}: partition={row['partition']!r} is not one of {PARTITIONS}")
        if self.n_features is None:
            if frames.shape[1] < 1:
                raise ParameterError(f"{where}: features have shape {frames.shape}; need at least one feature")
            self.n_features = frames.shape[1]
        elif frames.shape[1] != self.n_features:
            raise ParameterError(
                f"{where}: features have {frames.shape[1]} values per frame, earlier rows {self.n_features}"
            )
        return {**row, "cv_folds": folds}

    def add(self, instance, features=None) -> None:
        """Append one row: an :class:`~audiorep.datasets.Instance` or a dict of its column values.

        ``features`` is ``(frames, features)``; None takes ``instance.features``.
        """
        if isinstance(instance, Instance):
            row = {name: getattr(instance, name) for name in _LABEL_COLUMNS}
            if features is None:
                features = instance.features
        elif isinstance(instance, Mapping):
            missing = [c for c in _REQUIRED_INPUT if c not in instance]
            if missing:
                raise ParameterError(f"the row lacks {missing}; it needs {list(_REQUIRED_INPUT)}")
            row = {"chunk_nr": 0, "partition": None, "origin": None, "alteration": None,
                   **{k: instance[k] for k in _LABEL_COLUMNS if k in instance}}
            if features is None:
                features = instance.get("features")
        else:
            raise TypeError(f"expected an Instance or a dict of column values, got {type(instance).__name__}")
        if features is None:
            raise ParameterError(f"row {row.get('filename')!r} has no features")
        self._append(row, features)

    def write(self, instances_or_columns, features=None) -> None:
        """Append many rows: a Dataset, a sequence of Instance, or a dict of columns, with their features."""
        columns, feature_list = _rows_from(instances_or_columns, features)
        names = list(columns)
        for i, frames in enumerate(feature_list):
            self._append({name: columns[name][i] for name in names}, frames)

    def _append(self, row: dict, features) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: the writer is already closed")
        frames = _as_frames(features, self.n_rows + len(self._features))
        row = self._check_row(row, frames)
        for name in _LABEL_COLUMNS:
            self._columns[name].append(row[name])
        self._features.append(frames)
        if len(self._features) >= self.rows_per_group:
            self._flush()

    def _open(self) -> None:
        self._tmp = temp_beside(self.path)
        self._file = open(self._tmp, "wb")
        metadata = _encode_metadata(self.label_map, self.params, self.n_features, self.n_folds or 0)
        # Page checksums let the reader tell a flipped byte from a different feature value.
        # Dictionary encoding only for the text columns: tried on the feature values it is
        # abandoned page after page, and writing a log-mel store took 2.5x as long for a file
        # 20 % larger.
        self._writer = pq.ParquetWriter(self._file, _schema(self.n_features, metadata), write_page_checksum=True,
                                        use_dictionary=_DICTIONARY_COLUMNS)

    def _flush(self) -> None:
        if not self._features:
            return
        if self._writer is None:
            self._open()
        lengths = np.array([f.shape[0] for f in self._features], dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(lengths)))
        if offsets[-1] > np.iinfo(np.int32).max:
            raise StoreError(f"{self.path}: a row group of {offsets[-1]} frames is too large; lower rows_per_group")
        flat = np.concatenate([f.reshape(-1) for f in self._features])
        frames = pa.FixedSizeListArray.from_arrays(pa.array(flat, type=pa.float32()), self.n_features)
        features = pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), frames)
        shapes = [[int(n), self.n_features] for n in lengths]
        cols = self._columns
        table = pa.Table.from_arrays(
            [
                pa.array(cols["filename"], pa.string()),
                pa.array(cols["chunk_nr"], pa.int32()),
                pa.array(cols["label_nominal"], pa.string()),
                pa.array(cols["label_numeric"], pa.int32()),
                pa.array(cols["cv_folds"], pa.list_(pa.int8())),
                pa.array(cols["partition"], pa.string()),
                pa.array(cols["fold"], pa.int32()),
                features,
                pa.array(shapes, pa.list_(pa.int32())),
                pa.array(cols["origin"], pa.string()),
                pa.array(cols["alteration"], pa.string()),
            ],
            schema=self._writer.schema,
        )
        self._writer.write_table(table)
        self.n_rows += len(self._features)
        self._columns = {name: [] for name in _LABEL_COLUMNS}
        self._features = []

    def close(self) -> Path:
        """Write what is buffered, finish the file and move it into place. Returns the path."""
        if self._closed:
            return self.path
        try:
            self._flush()
            if self._writer is None:
                if self.n_features is None:
                    raise StoreError(f"{self.path}: no rows were written, so the store has no feature width")
                self._open()
            self._writer.close()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        logger.info("wrote %s: %d rows, %s features per frame", self.path, self.n_rows, self.n_features)
        return self.path

    def abort(self) -> None:
        """Discard everything written so far; the target path is left as it was."""
        self._closed = True
        for closer in (self._writer, self._file):
            if closer is not None:
                try:
                    closer.close()
                except Exception:  # noqa: BLE001 - cleaning up after a failure already being raised
                    logger.debug("ignored an error while discarding %s", self._tmp, exc_info=True)
        if self._tmp is not None:
            try:
                self._tmp.unlink()
            except FileNotFoundError:
                pass
        self._writer = self._file = None


def write_store(path, instances_or_columns, *, features=None, label_map, params, rows_per_group=64) -> Path:
    """Write instances and their features to a Parquet feature store, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The store to create.
    instances_or_columns : Dataset, sequence of Instance, or dict of columns
        A dict needs ``filename, label_nominal, label_numeric, cv_folds, fold`` and may have
        ``chunk_nr`` (default 0) and ``partition`` (default None).
    features : sequence of array_like, optional
        One ``(frames, features)`` array per row, stored as float32; the frame count may vary,
        the feature count may not. None takes ``Instance.features`` (or the dict's ``features``).
    label_map : dict of int -> str
    params : dict
        JSON-serialisable feature parameters, recorded in the schema metadata.
    rows_per_group : int, default 64

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import numpy as np, tempfile, os, audiorep.store as st
    >>> path = os.path.join(tempfile.mkdtemp(), "feats.parquet")
    >>> cols = dict(filename=["a.wav", "b.wav"], label_nominal=["Rain", "Dog"], label_numeric=[1, 0],
    ...             cv_folds=[(1, 0), (0, 1)], fold=[1, 2])
    >>> _ = st.write_store(path, cols, features=[np.zeros((4, 3)), np.ones((2, 3))],
    ...                    label_map={0: "Dog", 1: "Rain"}, params={"kind": "demo"})
    >>> [f.shape for f in st.read_store(path).features]
    [(4, 3), (2, 3)]
    """
    columns, feature_list = _rows_from(instances_or_columns, features)
    with StoreWriter(path, label_map=label_map, params=params, rows_per_group=rows_per_group) as writer:
        writer.write(columns, feature_list)
    return writer.path


@dataclass(frozen=True)
class StoreMetadata:
    """What a store's footer says: label map, feature parameters, sizes."""

    path: Path
    label_map: dict[int, str]
    params: dict
    n_rows: int
    n_features: int
    n_folds: int
    columns: tuple[str, ...]


def _open_store(path) -> tuple[Path, pa.Schema, int, list[Path] | None]:
    """Where a store's rows are: ``(path, schema, rows, parts)``; ``parts`` is None for a single file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "feature store does not exist", str(path))
    if path.is_dir():
        return (path, *_open_dataset(path))
    try:
        with pq.ParquetFile(path) as handle:
            return path, handle.schema_arrow, handle.metadata.num_rows, None
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:  # a damaged footer can hold any bytes
        raise StoreError(f"{path} is not a Parquet file ({exc})") from None


def _open_dataset(path: Path) -> tuple[pa.Schema, int, list[Path]]:
    common = path / COMMON_METADATA
    if not common.is_file():
        raise StoreError(f"{path} is a directory, not a feature store file nor a complete partitioned store (no "
                         f"{COMMON_METADATA}; an extraction into it may still be running or was interrupted: "
                         f"run it again to finish it)")
    parts = part_files(path)
    try:
        schema = pq.read_schema(common)
        summary = path / SUMMARY_METADATA
        # The summary holds every part's footer: one read instead of one per part.
        n_rows = pq.read_metadata(summary).num_rows if summary.is_file() else \
            sum(pq.read_metadata(p).num_rows for p in parts)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: cannot read the partitioned store's metadata ({exc})") from None
    return schema, n_rows, parts


def part_files(directory) -> list[Path]:
    """The part files of a partitioned store, in row order (their names sort in partition order)."""
    return sorted(Path(directory).glob(PART_PATTERN))


def part_path(directory, index: int) -> Path:
    """The path of part ``index`` of a partitioned store."""
    return Path(directory) / f"part-{index:05d}.parquet"


def is_store(path) -> bool:
    """Whether ``path`` looks like a feature store: a Parquet file, or a finished partitioned store."""
    path = Path(path)
    if path.is_dir():
        return (path / COMMON_METADATA).is_file()
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError:
        return False


def finish_partitioned_store(directory) -> StoreMetadata:
    """Write the shared metadata of a partitioned store whose parts are all written, atomically.

    ``_common_metadata`` holds the schema with the audiorep metadata (label map, feature
    parameters); ``_metadata`` holds the footers of every part, so that a reader plans a scan
    without opening each part. The store is readable from the moment ``_common_metadata``
    appears, so it is written last.

    Parameters
    ----------
    directory : path
        Holds ``part-NNNNN.parquet`` files written by :class:`StoreWriter`, with identical schemas.

    Returns
    -------
    StoreMetadata

    Examples
    --------
    >>> import numpy as np, tempfile, os, audiorep.store as st
    >>> root = tempfile.mkdtemp()
    >>> for i, name in enumerate(["a.wav", "b.wav"]):
    ...     _ = st.write_store(st.part_path(root, i), dict(filename=[name], label_nominal=["Rain"],
    ...                        label_numeric=[0], cv_folds=[(1,)], fold=[1]), features=[np.zeros((2, 3))],
    ...                        label_map={0: "Rain"}, params={"kind": "demo"})
    >>> st.finish_partitioned_store(root).n_rows
    2
    >>> st.read_store(root).filename.tolist()
    ['a.wav', 'b.wav']
    """
    from ._util import atomic_path

    directory = Path(directory)
    parts = part_files(directory)
    if not parts:
        raise StoreError(f"{directory} holds no part files to finish a partitioned store with")
    schema = None
    footers = []
    for part in parts:
        try:
            footer = pq.read_metadata(part)
        except (pa.ArrowException, OSError) as exc:
            raise StoreError(f"{part} is not a Parquet file ({exc})") from None
        part_schema = footer.schema.to_arrow_schema()
        if schema is None:
            schema = part_schema
            _metadata_of(part, schema, footer.num_rows)
        elif not part_schema.equals(schema, check_metadata=True):
            raise StoreError(f"{part} has another schema or other audiorep metadata than {parts[0].name}")
        footer.set_file_path(part.name)
        footers.append(footer)
    with atomic_path(directory / SUMMARY_METADATA) as tmp:
        pq.write_metadata(schema, tmp, metadata_collector=footers)
    with atomic_path(directory / COMMON_METADATA) as tmp:
        pq.write_metadata(schema, tmp)
    return _metadata_of(directory, schema, sum(f.num_rows for f in footers))


def _metadata_of(path: Path, schema: pa.Schema, n_rows: int) -> StoreMetadata:
    raw = (schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise StoreError(f"{path} is a Parquet file but not an audiorep feature store (no '{_META_KEY.decode()}' metadata)")
    try:
        document = json.loads(raw)
        if document.get("format") != _FORMAT:
            raise ValueError(f"format is {document.get('format')!r}")
        version = int(document["format_version"])
        if version > _FORMAT_VERSION:
            raise StoreError(f"{path}: store format version {version} is newer than this audiorep reads ({_FORMAT_VERSION})")
        label_map = {int(k): str(v) for k, v in document["label_map"].items()}
        result = StoreMetadata(
            path=path,
            label_map=dict(sorted(label_map.items())),
            params=dict(document["params"]),
            n_rows=n_rows,
            n_features=int(document["n_features"]),
            n_folds=int(document["n_folds"]),
            columns=tuple(schema.names),
        )
    except StoreError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"{path}: malformed audiorep metadata ({exc})") from None
    missing = [c for c in COLUMNS if c not in schema.names and c not in OPTIONAL_COLUMNS]
    if missing:
        raise StoreError(f"{path}: the store lacks column(s) {missing}")
    _check_column_types(path, schema)
    feature_type = schema.field("features").type
    if not (
        pa.types.is_list(feature_type)
        and pa.types.is_fixed_size_list(feature_type.value_type)
        and feature_type.value_type.value_type == pa.float32()
        and feature_type.value_type.list_size == result.n_features
    ):
        raise StoreError(f"{path}: the features column has type {feature_type}, not list<fixed_size_list<float32>>")
    return result


def read_store_metadata(path) -> StoreMetadata:
    """Read a store's label map and feature parameters from its footer, without reading any rows.

    Examples
    --------
    >>> import numpy as np, tempfile, os, audiorep.store as st
    >>> path = os.path.join(tempfile.mkdtemp(), "feats.parquet")
    >>> _ = st.write_store(path, dict(filename=["a.wav"], label_nominal=["Rain"], label_numeric=[0],
    ...                    cv_folds=[(1,)], fold=[1]), features=[np.zeros((2, 5))],
    ...                    label_map={0: "Rain"}, params={"kind": "mel", "n_mels": 5})
    >>> meta = st.read_store_metadata(path)
    >>> meta.params["n_mels"], meta.n_rows, meta.label_map
    (5, 1, {0: 'Rain'})
    """
    path, schema, n_rows, _ = _open_store(path)
    return _metadata_of(path, schema, n_rows)


def _check_cv_index(value, name: str, n_folds: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name}={value!r} must be the index of a cross-validation fold or None")
    if not 0 <= value < n_folds:
        raise ParameterError(f"{name}={value} is out of range; the store has {n_folds} cross-validation fold(s)")
    return int(value)


@dataclass
class FeatureTable:
    """Rows of a feature store as numpy arrays; columns that were not read are None.

    Attributes
    ----------
    features : list of numpy.ndarray
        One ``(frames, features)`` float32 array per row.
    label_numeric : numpy.ndarray of int64
    label_nominal, filename, partition : numpy.ndarray of object
    chunk_nr, fold : numpy.ndarray of int32
    cv_folds : numpy.ndarray of int8, shape (rows, folds)
    feature_shape : numpy.ndarray of int32, shape (rows, 2)
    origin, alteration : numpy.ndarray of object
        For altered copies, the clip each was made from and how; None for original clips.
    label_map : dict of int -> str
    params : dict
    """

    label_map: dict[int, str]
    params: dict
    n_rows: int
    n_folds: int
    n_features: int
    filename: np.ndarray | None = None
    chunk_nr: np.ndarray | None = None
    label_nominal: np.ndarray | None = None
    label_numeric: np.ndarray | None = None
    cv_folds: np.ndarray | None = None
    partition: np.ndarray | None = None
    fold: np.ndarray | None = None
    features: list[np.ndarray] | None = field(default=None, repr=False)
    feature_shape: np.ndarray | None = None
    origin: np.ndarray | None = None
    alteration: np.ndarray | None = None

    def __len__(self) -> int:
        return self.n_rows

    def _need(self, name: str):
        value = getattr(self, name)
        if value is None:
            raise StoreError(f"the column {name!r} was not read; include it in read_store(columns=...)")
        return value

    def stacked(self, *, length=None, pad: str = "zero") -> np.ndarray:
        """Stack the features into one ``(rows, frames, features)`` float32 array.

        Parameters
        ----------
        length : int, optional
            Pad or crop every row to this many frames (cropping keeps the first frames). None
            requires all rows to have the same frame count.
        pad : {"zero", "wrap"}
            How a short row is padded: with zeros, or by repeating the row from its start (a
            clip played again, which keeps its statistics; used to train autoencoders on clips
            of different lengths).

        Examples
        --------
        >>> import numpy as np, audiorep.store as st
        >>> t = st.FeatureTable({}, {}, 2, 0, 3, features=[np.ones((2, 3), "f4"), np.ones((4, 3), "f4")])
        >>> t.stacked(length=3).shape
        (2, 3, 3)
        """
        features = self._need("features")
        if length is None:
            lengths = sorted({f.shape[0] for f in features})
            if len(lengths) > 1:
                raise ParameterError(
                    f"rows have different frame counts ({lengths[0]}..{lengths[-1]}); pass length= to pad or crop"
                )
            length = lengths[0] if lengths else 0
        elif isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 0:
            raise ParameterError(f"length={length!r} must be a non-negative integer")
        if pad not in ("zero", "wrap"):
            raise ParameterError(f"pad={pad!r} must be 'zero' or 'wrap'")
        out = np.zeros((len(features), int(length), self.n_features), dtype=np.float32)
        for i, frames in enumerate(features):
            n = min(int(length), frames.shape[0])
            if pad == "wrap" and 0 < n < length:
                out[i] = np.resize(frames, out.shape[1:])
            else:
                out[i, :n] = frames[:n]
        return out

    def frame_counts(self) -> np.ndarray:
        """The number of frames of each row."""
        return np.array([f.shape[0] for f in self._need("features")], dtype=np.int64)

    def subset(self, indices) -> FeatureTable:
        """Return the rows at ``indices`` (an index or boolean array) as a new table."""
        index = np.arange(self.n_rows)[np.asarray(indices)] if self.n_rows else np.zeros(0, dtype=np.int64)
        index = np.atleast_1d(index)
        values = {}
        for name in (*_LABEL_COLUMNS, "feature_shape"):
            column = getattr(self, name)
            values[name] = None if column is None else column[index]
        features = None if self.features is None else [self.features[i] for i in index]
        return FeatureTable(self.label_map, self.params, len(index), self.n_folds, self.n_features,
                            features=features, **values)

    def folds(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_idx, val_idx)`` row indices for each cross-validation fold."""
        return fold_indices(self._need("cv_folds"))

    def split(self, k) -> tuple[FeatureTable, FeatureTable]:
        """Return the (training, validation) tables of cross-validation fold ``k``."""
        k = _check_cv_index(k, "k", self.n_folds)
        train, val = list(self.folds())[k]
        return self.subset(train), self.subset(val)

    def torch_dataset(self, *, length=None):
        """Wrap the rows as a ``torch.utils.data.Dataset`` of ``(features, label)`` pairs.

        ``features`` is a float32 tensor ``(frames, features)`` (padded or cropped to ``length``
        frames when given), ``label`` an int64 scalar tensor.

        Examples
        --------
        >>> import numpy as np, audiorep.store as st
        >>> t = st.FeatureTable({0: "a"}, {}, 1, 0, 3, features=[np.ones((2, 3), "f4")],
        ...                     label_numeric=np.array([0]))
        >>> x, y = t.torch_dataset()[0]
        >>> tuple(x.shape), int(y)
        ((2, 3), 0)
        """
        features = self._need("features")
        labels = self._need("label_numeric")
        if length is not None:
            features = list(self.stacked(length=length))
        return _torch_dataset_class()(features, labels)


def _torch_dataset_class():
    """Define the torch Dataset class on first use, so that importing audiorep does not import torch."""
    cls = globals().get("FeatureDataset")
    if cls is not None:
        return cls
    import torch
    from torch.utils.data import Dataset as TorchDataset

    class FeatureDataset(TorchDataset):
        """``(features, label)`` pairs of a feature table."""

        def __init__(self, features, labels):
            self.features = [torch.from_numpy(np.ascontiguousarray(f)) for f in features]
            self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))

        def __len__(self):
            return len(self.features)

        def __getitem__(self, index):
            return self.features[index], self.labels[index]

    # Registered at module level so data-loader workers can pickle it by name.
    FeatureDataset.__module__ = __name__
    FeatureDataset.__qualname__ = "FeatureDataset"
    globals()["FeatureDataset"] = FeatureDataset
    return FeatureDataset


def __getattr__(name):
    # A data-loader worker unpickling a FeatureDataset looks the class up by name before
    # anything in that process has asked for a torch dataset.
    if name == "FeatureDataset":
        return _torch_dataset_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _features_to_numpy(column: pa.ChunkedArray, n_features: int) -> list[np.ndarray]:
    result = []
    for chunk in column.chunks:
        if chunk.null_count:
            raise StoreError("the features column holds nulls")
        lengths = np.diff(chunk.offsets.to_numpy())
        # flatten() honours slicing; one copy makes the rows writable and frees the Arrow buffers.
        flat = np.array(chunk.flatten().flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
        frames = flat.reshape(-1, n_features)
        result.extend(np.split(frames, np.cumsum(lengths)[:-1]) if len(lengths) else [])
    return result


def _list_to_matrix(column: pa.ChunkedArray, name: str, width: int, dtype) -> np.ndarray:
    rows = column.to_pylist()
    for i, r in enumerate(rows):
        if r is None or len(r) != width or any(v is None for v in r):
            raise StoreError(f"column {name!r} holds {r!r} at row {i}, not {width} values")
    return np.array(rows, dtype=dtype).reshape(len(rows), width)


# Columns every row must fill; partition, origin and alteration are empty for whole original clips.
_NOT_NULL = ("filename", "chunk_nr", "label_nominal", "label_numeric", "cv_folds", "fold", "features",
             "feature_shape")
# What each column must hold, checked on the schema before any row is read.
_COLUMN_KINDS = {
    "filename": ("a string", pa.types.is_string), "label_nominal": ("a string", pa.types.is_string),
    "partition": ("a string", pa.types.is_string), "origin": ("a string", pa.types.is_string),
    "alteration": ("a string", pa.types.is_string),
    "chunk_nr": ("an integer", pa.types.is_integer), "label_numeric": ("an integer", pa.types.is_integer),
    "fold": ("an integer", pa.types.is_integer),
    "cv_folds": ("a list of integers", lambda t: pa.types.is_list(t) and pa.types.is_integer(t.value_type)),
    "feature_shape": ("a list of integers", lambda t: pa.types.is_list(t) and pa.types.is_integer(t.value_type)),
}


def _check_column_types(path: Path, schema: pa.Schema) -> None:
    for name, (kind, test) in _COLUMN_KINDS.items():
        if name in schema.names and not test(schema.field(name).type):
            raise StoreError(f"{path}: column {name!r} has type {schema.field(name).type}, not {kind}")


def _check_nulls(path: Path, table: pa.Table) -> None:
    for name in table.column_names:
        column = table.column(name)
        if name in _NOT_NULL and column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise StoreError(f"{path}: column {name!r} is empty (null) at row {row}")


def _convert_column(result, name: str, column: pa.ChunkedArray, meta) -> None:
    """Set ``result.<name>`` from an Arrow column, as the FeatureTable holds it."""
    if name == "features":
        result.features = _features_to_numpy(column, meta.n_features)
    elif name == "cv_folds":
        result.cv_folds = _list_to_matrix(column, name, meta.n_folds, np.int8)
    elif name == "feature_shape":
        result.feature_shape = _list_to_matrix(column, name, 2, np.int32)
    elif name in ("filename", "label_nominal", "partition", *OPTIONAL_COLUMNS):
        setattr(result, name, np.array(column.to_pylist(), dtype=object))
    elif name == "label_numeric":
        result.label_numeric = column.to_numpy().astype(np.int64)
    else:
        setattr(result, name, column.to_numpy().astype(np.int32))


def _check_rows(path: Path, result) -> None:
    """Refuse rows whose values contradict the store's metadata or each other, naming the column and row."""
    if result.label_numeric is not None:
        unknown = np.flatnonzero(~np.isin(result.label_numeric, list(result.label_map)))
        if unknown.size:
            row = int(unknown[0])
            raise StoreError(f"{path}: column 'label_numeric' holds {result.label_numeric[row]} at row {row}, "
                             f"which the label map ({sorted(result.label_map)}) does not name")
    if result.features is not None and result.feature_shape is not None:
        for row, (frames, shape) in enumerate(zip(result.features, result.feature_shape)):
            if tuple(shape) != frames.shape:
                raise StoreError(f"{path}: column 'feature_shape' says {tuple(int(v) for v in shape)} at row "
                                 f"{row}, but the features there are {frames.shape}")


def read_store(path, *, columns=None, folds=None, validation=None, training=None) -> FeatureTable:
    """Read a feature store, or part of it, into numpy arrays.

    Parameters
    ----------
    path : str or os.PathLike
    columns : sequence of str, optional
        Columns to read (see :data:`COLUMNS`); None reads all. Leaving out ``"features"``
        skips the feature data on disk entirely.
    folds : sequence of int, optional
        Keep the rows whose file-name ``fold`` is one of these (filtered while reading).
    validation : int, optional
        Keep the validation rows of cross-validation fold ``validation`` (``cv_folds[k] == 1``).
    training : int, optional
        Keep the training rows of cross-validation fold ``training`` (``cv_folds[k] == 0``).

    Returns
    -------
    FeatureTable

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    StoreError
        The file is not Parquet, or Parquet but not an audiorep feature store.
    ParameterError
        An unknown column or a bad filter.

    Examples
    --------
    >>> import numpy as np, tempfile, os, audiorep.store as st
    >>> path = os.path.join(tempfile.mkdtemp(), "feats.parquet")
    >>> cols = dict(filename=["a.wav", "b.wav"], label_nominal=["Rain", "Dog"], label_numeric=[1, 0],
    ...             cv_folds=[(1, 0), (0, 1)], fold=[1, 2])
    >>> _ = st.write_store(path, cols, features=[np.zeros((4, 3)), np.ones((2, 3))],
    ...                    label_map={0: "Dog", 1: "Rain"}, params={})
    >>> t = st.read_store(path, columns=["filename"], folds=[2])
    >>> t.filename.tolist(), t.features is None
    (['b.wav'], True)
    """
    path, schema, n_rows, parts = _open_store(path)
    meta = _metadata_of(path, schema, n_rows)
    if columns is None:
        wanted = list(COLUMNS)
    else:
        if isinstance(columns, str):
            columns = [columns]
        wanted = list(dict.fromkeys(columns))
        unknown = [c for c in wanted if c not in COLUMNS]
        if unknown:
            raise ParameterError(f"unknown column(s) {unknown}; a store has {list(COLUMNS)}")
    validation = _check_cv_index(validation, "validation", meta.n_folds)
    training = _check_cv_index(training, "training", meta.n_folds)
    filters = None
    if folds is not None:
        if isinstance(folds, (str, bytes)) or not isinstance(folds, (Sequence, np.ndarray, set, frozenset)):
            raise ParameterError(f"folds={folds!r} must be a sequence of fold numbers")
        fold_list = []
        for value in folds:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ParameterError(f"folds={folds!r} must hold integers, not {value!r}")
            fold_list.append(int(value))
        filters = [("fold", "in", fold_list)]
    read_columns = list(wanted)
    if (validation is not None or training is not None) and "cv_folds" not in read_columns:
        read_columns.append("cv_folds")
    absent = [name for name in read_columns if name in OPTIONAL_COLUMNS and name not in meta.columns]
    read_columns = [name for name in read_columns if name not in absent]
    try:
        # The parts are listed in partition order: rows come back in the order they were extracted.
        source = path if parts is None else [str(p) for p in parts]
        table = pq.read_table(source, columns=read_columns, filters=filters, partitioning=None, schema=schema,
                              page_checksum_verification=True)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: cannot read the store ({exc})") from None
    _check_nulls(path, table)

    n_folds = meta.n_folds
    result = FeatureTable(meta.label_map, meta.params, table.num_rows, n_folds, meta.n_features)
    for name in read_columns:
        column = table.column(name)
        try:
            _convert_column(result, name, column, meta)
        except StoreError as exc:
            raise StoreError(f"{path}: {exc}") from None
        except (UnicodeDecodeError, pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
            raise StoreError(f"{path}: column {name!r} cannot be read ({exc})") from None
    _check_rows(path, result)

    for name in absent:  # a store from before the column existed: every row is an original clip
        setattr(result, name, np.full(result.n_rows, None, dtype=object))
    if validation is not None or training is not None:
        keep = np.ones(result.n_rows, dtype=bool)
        if validation is not None:
            keep &= result.cv_folds[:, validation] == 1
        if training is not None:
            keep &= result.cv_folds[:, training] == 0
        result = result.subset(keep)
        if "cv_folds" not in wanted:
            result.cv_folds = None
    logger.debug("read %s: %d rows, columns %s", path, result.n_rows, wanted)
    return result


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def check_params(stored, expected) -> None:
    """Check that a store's feature parameters match the ones expected.

    Parameters
    ----------
    stored : dict, StoreMetadata or FeatureTable
        The parameters recorded in the store (or anything with a ``params`` dict).
    expected : dict
        The parameters wanted; only these keys are compared. Numbers compare with a relative
        tolerance of 1e-9, sequences element by element (a tuple equals the stored JSON list).

    Raises
    ------
    StoreError
        Naming every parameter that is missing from the store or differs.

    Examples
    --------
    >>> import audiorep.store as st
    >>> st.check_params({"kind": "mel", "n_mels": 64}, {"n_mels": 64})
    >>> st.check_params({"kind": "mel", "n_mels": 64}, {"n_mels": 40})
    Traceback (most recent call last):
    ...
    audiorep.errors.StoreError: feature parameters differ: n_mels: the store has 64, expected 40
    """
    params = getattr(stored, "params", stored)
    if not isinstance(params, Mapping) or not isinstance(expected, Mapping):
        raise TypeError("check_params compares two dicts of parameters")
    problems = []
    for key, want in expected.items():
        if key not in params:
            problems.append(f"{key}: not recorded in the store (expected {want!r})")
        elif not _same(params[key], want):
            problems.append(f"{key}: the store has {params[key]!r}, expected {want!r}")
    if problems:
        raise StoreError("feature parameters differ: " + "; ".join(problems))
