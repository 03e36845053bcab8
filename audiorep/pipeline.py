"""The representation workflow as functions: extract -> pool / train -> represent -> fuse -> evaluate.

Every front end (the ``audiorep`` command line, ``audiorep run``, the web app, cluster runs)
calls these; none of them holds workflow logic of its own. Each function takes paths and
keyword-only options, writes its outputs atomically and returns a small typed result. A
``cancel`` argument is an Event-like token (``is_set()``) polled during long steps.

Provenance travels with every row: a copy made by :func:`augment` records the clip it came from,
and every function that mixes copies into training (:func:`train`, :func:`evaluate`,
:func:`select`) gives each copy its clip's fold and label.

Examples
--------
>>> import tempfile, os
>>> from audiorep import pipeline
>>> from audiorep.examples import write_synthetic_dataset
>>> from audiorep.features import FeatureParams
>>> work = tempfile.mkdtemp()
>>> data = write_synthetic_dataset(os.path.join(work, "data"), clips_per_class=5, seconds=0.5, sr=8000)
>>> params = FeatureParams(kind="mel", n_mels=16, frame_length=256, hop_length=128)
>>> _ = pipeline.extract(data, os.path.join(work, "mel.parquet"), params)
>>> _ = pipeline.pool(os.path.join(work, "mel.parquet"), os.path.join(work, "stats.parquet"))
>>> report = pipeline.evaluate([os.path.join(work, "stats.parquet")], repeats=1, epochs=50)
>>> report.result.fold_accuracies.shape
(1, 5)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._util import atomic_path
from .errors import ParameterError, StoreError

log = logging.getLogger(__name__)

__all__ = [
    "AugmentReport",
    "DeployedModel",
    "EvaluationReport",
    "FOLD_FIELD",
    "PoolReport",
    "Prediction",
    "Recipe",
    "RepresentReport",
    "Representations",
    "RunReport",
    "TrainReport",
    "audio_files",
    "augment",
    "describe",
    "evaluate",
    "export",
    "export_run",
    "export_system",
    "extract",
    "failures_path",
    "figures",
    "fold_files",
    "format_predictions",
    "load_copies",
    "load_model",
    "load_representations",
    "mesh",
    "pool",
    "predict",
    "represent",
    "run",
    "select",
    "self_check",
    "train",
    "write_representations",
]

FOLD_FIELD = "{fold}"
# Columns a representation store keeps from the features it summarises, provenance included.
_ROW_COLUMNS = ("filename", "chunk_nr", "label_nominal", "label_numeric", "cv_folds", "partition", "fold", "origin",
                "alteration")


# ---------------------------------------------------------------- single files

def self_check() -> dict:
    """Transform an embedded test tone (440 Hz with a weaker 1320 Hz partial) and find its peak.

    Examples
    --------
    >>> self_check()["peak_hz"]
    440.0
    """
    from .dsp import rfft

    sr = 16000
    t = np.arange(sr, dtype=np.float32) / sr
    y = (np.sin(2 * np.pi * 440.0 * t) + 0.3 * np.sin(2 * np.pi * 1320.0 * t)).astype(np.float32)
    peak = int(np.argmax(np.abs(rfft(y))))
    return {"samples": len(y), "sr": sr, "peak_bin": peak, "peak_hz": peak * sr / len(y)}


def describe(path) -> dict:
    """What a file is: ``{"kind": "audio", "info": AudioInfo}``, ``{"kind": "store", ...}`` or a model.

    A feature store is described by its rows, frame counts, folds, classes (with row counts)
    and feature parameters; a model file written by audiorep (``"autoencoder"``,
    ``"classifier"``) by its settings and provenance; anything else is read as audio
    (:func:`audiorep.audio.info`).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "no such file", str(path))
    magic = b""
    if path.is_file():
        with open(path, "rb") as handle:
            magic = handle.read(4)
    if magic == b"PK\x03\x04" and path.suffix in (".pt", ".pth", ".ckpt"):  # a torch file
        return _describe_model(path)
    from .store import is_store

    if not is_store(path):
        from .audio import info

        return {"kind": "audio", "info": info(path)}
    from .store import read_store

    table = read_store(path, columns=["label_numeric", "fold", "feature_shape"])
    frames = table.feature_shape[:, 0] if table.feature_shape is not None and len(table.feature_shape) else None
    return {"kind": "store", "rows": table.n_rows, "n_features": table.n_features, "n_folds": table.n_folds,
            "frames": None if frames is None else (int(frames.min()), int(frames.max())),
            "classes": {name: int(np.sum(table.label_numeric == k)) for k, name in sorted(table.label_map.items())},
            "params": table.params}


def _describe_model(path: Path) -> dict:
    from .evaluate import load_classifier
    from .train import load_model, model_training_info

    try:
        ae, params = load_model(path)
    except ParameterError:
        pass
    else:
        return {"kind": "autoencoder", "config": ae.config, "embedding_size": ae.embedding_size,
                "parameters": sum(p.numel() for p in ae.parameters()), "feature_params": params,
                "training": model_training_info(path)}
    mlp, _, names = load_classifier(path)  # raises ParameterError naming the file if it is no classifier
    return {"kind": "classifier", "config": mlp.config, "label_names": names,
            "parameters": sum(p.numel() for p in mlp.parameters())}


def mesh(audio, output, *, sr=None, frame_length=2048, hop_length=512, max_lag=None, normals=False):
    """Write the autocorrelogram of an audio file as an OBJ height field; returns the autocorrelogram."""
    from .audio import load
    from .dsp import autocorrelogram
    from .mesh import write_obj

    y, rate = load(audio, sr=sr)
    acg = autocorrelogram(y, rate, frame_length=frame_length, hop_length=hop_length, max_lag=max_lag)
    write_obj(output, acg, normals=normals)
    return acg


def figures(audio, output_dir, *, sr=None, frame_length=2048, hop_length=512, max_lag=None) -> dict:
    """Waveform, spectrogram and 3-D autocorrelogram figures of an audio file (:func:`audiorep.plot.plot_clip`)."""
    from .audio import load
    from .plot import plot_clip

    y, rate = load(audio, sr=sr)
    return plot_clip(y, rate, output_dir, stem=Path(audio).stem, frame_length=frame_length, hop_length=hop_length,
                     max_lag=max_lag)


# ---------------------------------------------------------------- features and copies

def extract(dataset, output, params=None, *, workers=1, strict=False, chunk_seconds=None, progress=False,
            cancel=None, scheduler=None, partitioned=False, partition_files=64):
    """Features of every file of a dataset into a store: :func:`audiorep.extract.extract_dataset`.

    ``dataset`` is a directory (any layout :func:`audiorep.datasets.load_dataset` reads) or a
    :class:`~audiorep.datasets.Dataset`; ``params`` a :class:`~audiorep.features.FeatureParams`
    (default: log-mel). With ``partitioned`` or a Dask ``scheduler`` the output is a
    partitioned store, each part written by the worker that computed it.
    Returns an :class:`~audiorep.extract.ExtractReport`. Files that cannot be read are skipped
    (unless ``strict``) and listed in :func:`failures_path` beside the store.
    """
    from .datasets import Dataset, load_dataset
    from .extract import extract_dataset
    from .features import FeatureParams

    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    log.info("%d files, %d classes, %d folds in %s", len(data), len(data.label_map), data.n_folds, data.root)
    report = extract_dataset(data, output, params or FeatureParams(), workers=workers, strict=strict,
                             chunk_seconds=chunk_seconds, progress=progress, cancel=cancel, scheduler=scheduler,
                             partitioned=partitioned, partition_files=partition_files)
    listing = failures_path(output)
    if report.failed:
        # Tabs and line ends in a reason would break the one-line-per-file listing.
        lines = (f"{name}\t{' '.join(str(reason).split())}\n" for name, reason in report.failed)
        with atomic_path(listing) as tmp:
            tmp.write_text("".join(lines), encoding="utf-8", errors="backslashreplace")
    elif listing.exists():
        listing.unlink()  # left by an earlier run, whose unreadable files have since been fixed
    return report


def failures_path(output) -> Path:
    """Where :func:`extract` lists the files it skipped: beside the store, ``STORE.failed.tsv``.

    One line per file: its name, a tab, the reason. The list exists only after a run that skipped files.

    Examples
    --------
    >>> failures_path("features/esc10.parquet").name
    'esc10.parquet.failed.tsv'
    """
    output = Path(output)
    return output.with_name(output.name + ".failed.tsv")


@dataclasses.dataclass
class AugmentReport:
    """What :func:`augment` did: copies written now (existing ones are kept), where, how long."""

    path: Path
    written: int
    speeds: list
    seconds: float


def augment(dataset, output, *, speeds=(0.9, 1.1), sr=None, progress=False, cancel=None) -> AugmentReport:
    """Speed-perturbed copies of a dataset's clips, listed with their provenance in ``copies.csv``.

    See :func:`audiorep.augment.write_speed_copies`.
    """
    from .augment import write_speed_copies

    start = time.perf_counter()
    written = write_speed_copies(dataset, output, speeds, sr=sr, progress=progress, cancel=cancel)
    return AugmentReport(Path(output), written, list(speeds), time.perf_counter() - start)


# ---------------------------------------------------------------- representation stores

def write_representations(path, table, reps, meta: Mapping) -> Path:
    """Write one (D,) representation per row of ``table`` (a FeatureTable) to a store, atomically.

    The rows keep the table's names, labels, folds and provenance; ``meta`` (what made them)
    goes into the store's parameters, with ``size`` and the ``features`` they summarise.
    """
    from .store import write_store

    reps = np.asarray(reps, dtype=np.float32)
    columns = {name: getattr(table, name) for name in _ROW_COLUMNS}
    return write_store(path, columns, features=[r[None, :] for r in reps], label_map=table.label_map,
                       params={**meta, "size": int(reps.shape[1]), "features": table.params})


@dataclasses.dataclass
class PoolReport:
    """What :func:`pool` wrote: ``rows`` summaries of ``size`` values each."""

    path: Path
    rows: int
    size: int


def pool(features, output) -> PoolReport:
    """Summarise each row of a feature store by its mean and std over time (the no-autoencoder baseline)."""
    from .store import read_store

    table = read_store(features)
    reps = np.stack([np.concatenate([f.mean(axis=0), f.std(axis=0)]) for f in table.features]).astype(np.float32)
    write_representations(output, table, reps, {"kind": "mean+std"})
    return PoolReport(Path(output), reps.shape[0], reps.shape[1])


def fold_files(template) -> dict[int, Path]:
    """The files a path template with ``{fold}`` names, by fold number (e.g. ``ae_x{fold}.parquet``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for f in (1, 2): (d / f"ae_x{f}.parquet").touch()
    >>> sorted(fold_files(str(d / "ae_x{fold}.parquet")))
    [1, 2]
    """
    path = Path(template)
    if FOLD_FIELD in str(path.parent) or path.name.count(FOLD_FIELD) != 1:
        raise ParameterError(f"{template}: put {FOLD_FIELD} once, in the file name")
    head, tail = path.name.split(FOLD_FIELD)
    pattern = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail))
    found: dict[int, Path] = {}
    if path.parent.is_dir():
        for candidate in path.parent.iterdir():
            match = pattern.fullmatch(candidate.name)
            if match:
                fold = int(match.group(1))
                if fold in found:
                    raise ParameterError(f"{template}: {found[fold].name} and {candidate.name} both name fold {fold}")
                found[fold] = candidate
    if not found:
        raise FileNotFoundError(f"{template}: no file matches (the fold number goes where {FOLD_FIELD} is)")
    return found


@dataclasses.dataclass
class Representations:
    """Fused representation stores: the rows (of the first store) and their fused values.

    Attributes
    ----------
    table : FeatureTable
        Names, labels, folds and provenance of the rows.
    reps : ndarray (N, D), or dict of fold -> ndarray (N, D)
        Per held-out fold when a path had ``{fold}``.
    paths : list of str
    """

    table: object
    reps: object
    paths: list

    @property
    def per_fold(self) -> bool:
        return isinstance(self.reps, dict)

    @property
    def label_names(self) -> list[str]:
        return [self.table.label_map[k] for k in sorted(self.table.label_map)]


def _same_rows(table, reference, what: str, reference_name: str) -> None:
    if list(table.filename) != list(reference.filename) or list(table.chunk_nr) != list(reference.chunk_nr):
        raise StoreError(f"{what} does not hold the same rows in the same order as {reference_name}")


def load_representations(paths) -> Representations:
    """Read and fuse (concatenate) representation stores; a path with ``{fold}`` names one per fold.

    Every store must hold the same rows in the same order. A store for fold f whose autoencoder
    was trained on fold f (recorded by :func:`train` with ``exclude_folds``) is refused; one that
    records nothing about its folds is used with a warning, since it cannot be checked.
    """
    from .evaluate import fuse
    from .store import read_store

    paths = [str(p) for p in paths]
    if not paths:
        raise ParameterError("give at least one representation store")
    templates = {p: fold_files(p) for p in paths if FOLD_FIELD in p}
    cache: dict[str, object] = {}

    def table_of(path):
        if path not in cache:
            cache[path] = read_store(path)
            first_path, first = next(iter(cache.items()))
            _same_rows(cache[path], first, path, first_path)
        return cache[path]

    def matrix(path):
        return np.stack([f.reshape(-1) for f in table_of(path).features])

    head = paths[0]
    first = table_of(str(templates[head][min(templates[head])]) if head in templates else head)
    if not templates:
        return Representations(first, fuse(*[matrix(p) for p in paths]), paths)
    folds = sorted(int(f) for f in np.unique(first.fold))
    reps, unchecked = {}, set()
    for fold in folds:
        members = []
        for p in paths:
            if p not in templates:
                members.append(p)
                continue
            if fold not in templates[p]:
                raise FileNotFoundError(f"{p}: no file for fold {fold} (found folds {sorted(templates[p])})")
            member = str(templates[p][fold])
            excluded = table_of(member).params.get("excluded_folds")
            if excluded is not None and fold not in excluded:
                raise ParameterError(f"{member} is used for held-out fold {fold}, but its autoencoder was "
                                     f"trained on that fold (it excluded folds {excluded})")
            if excluded is None and p not in unchecked:
                unchecked.add(p)
                log.warning("%s: cannot check that each fold's store comes from a model that never saw that "
                            "fold (%s records no excluded folds)", p, Path(member).name)
            members.append(member)
        reps[fold] = fuse(*[matrix(m) for m in members])
    return Representations(first, reps, paths)


def load_copies(paths, n_inputs: int, reference: Representations, what: str = "copies"):
    """Extra training rows for ``reference``: altered copies of its clips, fused like its inputs.

    ``paths`` holds one store per input (in the inputs' order), or several such groups (e.g.
    copies at different speeds), joined row-wise. Each copy is matched to the row of its clip
    (:func:`audiorep.augment.source_rows`). Returns ``(reps, source)`` as ``augment`` of
    :func:`audiorep.evaluate.cross_validate` takes it; ``reps`` is per fold when a path has
    ``{fold}``.
    """
    from .augment import source_rows

    paths = [str(p) for p in paths]
    if not paths or len(paths) % n_inputs:
        raise ParameterError(f"{what} needs one store per input ({n_inputs}), or several such groups; "
                             f"got {len(paths)} store(s)")
    sources, parts = [], []
    for i in range(0, len(paths), n_inputs):
        group = load_representations(paths[i:i + n_inputs])
        sources.append(source_rows(reference.table, group.table, what=f"{what} {paths[i]}"))
        parts.append(group.reps)
    source = np.concatenate(sources)
    per_fold = [p for p in parts if isinstance(p, dict)]
    if not per_fold:
        return np.concatenate(parts), source
    fold_ids = sorted(per_fold[0])
    lacking = [paths[i * n_inputs] for i, p in enumerate(parts) if isinstance(p, dict) and sorted(p) != fold_ids]
    if lacking:
        raise ParameterError(f"{what}: the groups starting with {lacking} do not cover folds {fold_ids}")
    joined = {f: np.concatenate([p[f] if isinstance(p, dict) else p for p in parts]) for f in fold_ids}
    return joined, source


# ---------------------------------------------------------------- autoencoders

@dataclasses.dataclass
class TrainReport:
    """What :func:`train` did: the model file, sequences and copies trained on, the loss history.

    ``rank`` is this process's rank under torchrun; only rank 0 writes the model file.
    """

    path: Path
    sequences: int
    copies: int
    frames: int
    n_features: int
    history: dict
    seconds: float
    rank: int = 0


def train(features, output, *, config: Mapping | None = None, exclude_folds: Sequence[int] | None = None,
          copies: Sequence | None = None, seed: int = 0, device="cpu", epochs: int = 50, batch_size: int = 64,
          lr: float = 1e-3, patience: int = 10, scaling: str = "dimension", mask_time: float = 0.0,
          mask_freq: float = 0.0, noise: float = 0.0, contrastive: float = 0.0, reconstruction: float = 1.0,
          predictive: float = 0.0, predict_ahead: int = 3, checkpoint=None, resume: bool = False,
          progress: bool = False, cancel=None) -> TrainReport:
    """Train an autoencoder on a feature store and save it (:func:`audiorep.train.train_autoencoder`).

    Parameters
    ----------
    features : path
        The feature store.
    output : path
        The model file to write; its provenance records ``excluded_folds`` and ``copies``.
    config : mapping, optional
        :class:`~audiorep.models.Seq2SeqAutoencoder` settings.
    exclude_folds : sequence of int, optional
        Train without these folds' rows (an autoencoder per cross-validation fold).
    copies : sequence of paths, optional
        Stores of altered copies of the clips (extracted alike), matched to their clips by the
        origin each records; copies of excluded and of early-stopping clips are left out.
    checkpoint : path, optional
        Default ``OUTPUT.ckpt``.
    seed, device, epochs, batch_size, lr, patience, scaling, mask_time, mask_freq, noise, contrastive,
    reconstruction, predictive, predict_ahead, resume,
    progress, cancel
        As for :func:`audiorep.train.train_autoencoder`.
    """
    from .augment import source_rows
    from .store import read_store
    from .train import process_rank, save_model, train_autoencoder

    table = read_store(features)
    x = training_sequences(table)
    counts = table.frame_counts()
    if len(np.unique(counts)) > 1:
        log.info("%s: clips of %d..%d frames train at %d frames", features, counts.min(), counts.max(), x.shape[1])
    keep = np.ones(len(x), dtype=bool)
    if exclude_folds:
        exclude_folds = sorted({int(f) for f in exclude_folds})
        unknown = sorted(set(exclude_folds) - set(np.unique(table.fold).tolist()))
        if unknown:
            raise ParameterError(f"exclude_folds: {features} has no rows in fold(s) {unknown}")
        keep = ~np.isin(table.fold, exclude_folds)
        if not keep.any():
            raise ParameterError(f"excluding folds {exclude_folds} leaves no rows to train on")
        x = x[keep]
    extra = None
    if copies:
        rows, sources = [], []
        for path in copies:
            copy_table = read_store(path)
            if copy_table.params != table.params:
                raise ParameterError(f"copies {path} were extracted with other settings than {features}")
            rows.append(copy_table.stacked(length=x.shape[1], pad="wrap"))
            sources.append(source_rows(table, copy_table, what=f"copies {path}"))
        source = np.concatenate(sources)
        new_row = np.cumsum(keep) - 1  # row numbers after the exclusion
        used = keep[source]  # copies of excluded clips go with them
        extra = (np.concatenate(rows)[used], new_row[source[used]])
    start = time.perf_counter()
    model, history = train_autoencoder(x, config=config, seed=seed, device=device, epochs=epochs,
                                       batch_size=batch_size, lr=lr, patience=patience, scaling=scaling,
                                       augment=extra, mask_time=mask_time, mask_freq=mask_freq, noise=noise,
                                       contrastive=contrastive, reconstruction=reconstruction,
                                       predictive=predictive, predict_ahead=predict_ahead,
                                       checkpoint_path=checkpoint or f"{output}.ckpt", resume=resume,
                                       progress=progress, cancel=cancel)
    training = {"excluded_folds": list(exclude_folds)} if exclude_folds else {}
    if copies:
        training["augment"] = [str(p) for p in copies]
    rank = process_rank()
    if rank == 0:  # under torchrun every process holds the same model
        save_model(output, model, feature_params=table.params, training=training)
    return TrainReport(Path(output), int(x.shape[0]), 0 if extra is None else len(extra[0]), int(x.shape[1]),
                       int(x.shape[2]), history, time.perf_counter() - start, rank)


def training_sequences(table) -> np.ndarray:
    """A feature table's rows as the ``(rows, frames, features)`` array autoencoders train on.

    Clips of different lengths train at the median length: longer ones keep their first
    frames, shorter ones are played again from the start (a zero tail would be learnt as sound).
    """
    counts = table.frame_counts()
    return table.stacked(length=int(np.median(counts)) if len(counts) else 0, pad="wrap")


def encode_rows(model, table, *, readout: str | None = None) -> np.ndarray:
    """Encode every row of a feature table at its own length (rows of one length batch together),
    as a deployed system encodes a whole file."""
    from .train import represent as encode

    counts = table.frame_counts()
    if len(np.unique(counts)) <= 1:
        return encode(model, table.stacked(), readout=readout)
    out = None
    for n in np.unique(counts):
        rows = np.flatnonzero(counts == n)
        reps = encode(model, table.subset(rows).stacked(), readout=readout)
        if out is None:
            out = np.zeros((len(counts), reps.shape[1]), dtype=np.float32)
        out[rows] = reps
    return out


@dataclasses.dataclass
class RepresentReport:
    """What :func:`represent` wrote: ``rows`` representations of ``size`` values."""

    path: Path
    rows: int
    size: int


def represent(model, features, output, *, device="cpu", readout: str | None = None) -> RepresentReport:
    """Encode every row of a feature store with a trained autoencoder into a representation store.

    The store records which folds the autoencoder never saw, so that :func:`load_representations`
    can refuse a per-fold store whose model saw its fold. ``readout`` reads the encoder another
    way than the model's own (see :class:`~audiorep.models.Seq2SeqAutoencoder`).
    """
    from .store import read_store
    from .train import load_model, model_training_info

    table = read_store(features)
    ae, _ = load_model(model, device=device, expected_feature_params=table.params)
    reps = encode_rows(ae, table, readout=readout)
    write_representations(output, table, reps, {"kind": "representation", "model": Path(model).name,
                                                "readout": readout or ae.readout, **model_training_info(model)})
    return RepresentReport(Path(output), reps.shape[0], reps.shape[1])


# ---------------------------------------------------------------- evaluation

@dataclasses.dataclass
class EvaluationReport:
    """A cross-validation (or nested selection) and what was written for it.

    ``files`` maps ``"confusion_txt"``, ``"confusion_png"`` and ``"json"`` to their paths when
    an ``output_dir`` was given; ``mlp`` is the saved classifier, if any.
    """

    result: object
    label_names: list
    files: dict
    meta: dict
    seconds: float
    mlp: Path | None = None


def _write_evaluation(result, names, output_dir, meta: dict) -> dict:
    from .evaluate import write_confusion_text
    from .plot import plot_confusion

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"confusion_txt": out / "confusion.txt", "confusion_png": out / "confusion.png", "json": out / "cv.json"}
    write_confusion_text(result.confusion, files["confusion_txt"], label_names=names)
    plot_confusion(result.confusion, files["confusion_png"], label_names=names,
                   title=f"accuracy {100 * result.mean:.1f}% +- {100 * result.std:.1f}")
    with atomic_path(files["json"]) as tmp:
        tmp.write_text(json.dumps({**result.to_dict(), **meta}, indent=1))
    return files


def _classifier_options(hidden, dropout, epochs, lr, ensemble, device) -> dict:
    return dict(hidden=tuple(hidden), dropout=dropout, epochs=epochs, lr=lr, ensemble=ensemble, device=device)


def evaluate(inputs, *, copies=None, k: int | None = None, repeats: int = 5, seed: int = 0,
             hidden=(150, 150), dropout: float = 0.4, epochs: int = 400, lr: float = 1e-3, ensemble: int = 1,
             device="cpu", output_dir=None, save_mlp=None, progress: bool = False) -> EvaluationReport:
    """Cross-validate an MLP on fused representation stores (:func:`audiorep.evaluate.cross_validate`).

    Parameters
    ----------
    inputs : sequence of paths
        Representation stores, fused in order; ``{fold}`` in a name gives each held-out fold its
        own store (see :func:`load_representations`).
    copies : sequence of paths, optional
        Extra training rows (altered copies of the clips): one store per input, or several such
        groups (see :func:`load_copies`). Each copy follows its clip, so none trains the fold its
        clip is tested in.
    k : int, optional
        Random stratified folds instead of the data's.
    repeats, seed, hidden, dropout, epochs, lr, ensemble, device, progress
        As for :func:`audiorep.evaluate.cross_validate`.
    output_dir : path, optional
        Where ``confusion.txt``, ``confusion.png`` and ``cv.json`` go.
    save_mlp : path, optional
        Also train one classifier on every row (and copy) and save it there.
    """
    from .evaluate import cross_validate, save_classifier, train_classifier

    inputs = [str(p) for p in inputs]
    if save_mlp and ensemble != 1:
        raise ParameterError("save_mlp saves one classifier; it cannot be combined with an ensemble")
    if any(FOLD_FIELD in p for p in inputs) and (k or save_mlp):
        raise ParameterError(f"representations per fold ({FOLD_FIELD} in a path) work with the data's folds only, "
                             "and without save_mlp")
    data = load_representations(inputs)
    extra = load_copies(copies, len(inputs), data, "copies") if copies else None
    options = _classifier_options(hidden, dropout, epochs, lr, ensemble, device)
    start = time.perf_counter()
    result = cross_validate(data.reps, data.table.label_numeric, None if k else data.table.fold, k=k or 5,
                            label_names=data.label_names, repeats=repeats, seed=seed, augment=extra,
                            progress=progress, **options)
    meta = {"inputs": inputs, "seed": seed, "ensemble": ensemble, "augment": [str(p) for p in copies or []],
            "seconds": time.perf_counter() - start}
    files = _write_evaluation(result, data.label_names, output_dir, meta) if output_dir is not None else {}
    mlp_path = None
    if save_mlp:
        x, y = data.reps, data.table.label_numeric
        if extra is not None:
            x, y = np.concatenate([x, extra[0]]), np.concatenate([y, y[extra[1]]])
        mlp, scaler = train_classifier(x, y, hidden=tuple(hidden), dropout=dropout, epochs=epochs, lr=lr, seed=seed,
                                       device=device)
        save_classifier(save_mlp, mlp, scaler, label_names=data.label_names)
        mlp_path = Path(save_mlp)
    return EvaluationReport(result, data.label_names, files, meta, meta["seconds"], mlp_path)


def select(candidates: Mapping, *, copies: Mapping | None = None, k: int | None = None, repeats: int = 5,
           inner_repeats: int = 1, seed: int = 0, hidden=(150, 150), dropout: float = 0.4, epochs: int = 400,
           lr: float = 1e-3, ensemble: int = 1, device="cpu", output_dir=None,
           progress: bool = False) -> EvaluationReport:
    """Cross-validate a choice among candidate fusions made inside each training part (nested).

    ``candidates`` maps names to sequences of representation stores (fused as for
    :func:`evaluate`); ``copies`` maps some names to their extra training rows (as ``copies``
    of :func:`evaluate`). See :func:`audiorep.evaluate.nested_cross_validate`.
    """
    from .evaluate import nested_cross_validate

    if not isinstance(candidates, Mapping) or not candidates:
        raise ParameterError("candidates must map names to lists of representation stores")
    candidate_paths = {name: [str(p) for p in paths] for name, paths in candidates.items()}
    copies = {name: [str(p) for p in paths] for name, paths in (copies or {}).items()}
    unknown = sorted(set(copies) - set(candidate_paths))
    if unknown:
        raise ParameterError(f"copies for {unknown}, which are not candidates")
    if k and any(FOLD_FIELD in p for paths in candidate_paths.values() for p in paths):
        raise ParameterError(f"representations per fold ({FOLD_FIELD} in a path) work with the data's folds only")
    loaded, first = {}, None
    for name, paths in candidate_paths.items():
        data = load_representations(paths)
        if first is None:
            first = (name, data)
        _same_rows(data.table, first[1].table, f"candidate {name!r}", f"candidate {first[0]!r}")
        loaded[name] = data
    reference = first[1]
    extra = {name: load_copies(paths, len(candidate_paths[name]), reference, f"copies for {name}")
             for name, paths in copies.items()}
    start = time.perf_counter()
    result = nested_cross_validate({name: d.reps for name, d in loaded.items()}, reference.table.label_numeric,
                                   None if k else reference.table.fold, k=k or 5, inner_repeats=inner_repeats,
                                   label_names=reference.label_names, repeats=repeats, seed=seed, augment=extra,
                                   progress=progress, **_classifier_options(hidden, dropout, epochs, lr, ensemble,
                                                                            device))
    meta = {"candidates": candidate_paths, "augment": copies, "seed": seed, "inner_repeats": inner_repeats,
            "ensemble": ensemble, "seconds": time.perf_counter() - start}
    files = _write_evaluation(result, reference.label_names, output_dir, meta) if output_dir is not None else {}
    return EvaluationReport(result, reference.label_names, files, meta, meta["seconds"])


# ---------------------------------------------------------------- deployment

def export(model, output, *, mlp=None) -> dict:
    """TorchScript files of a trained autoencoder (and classifier) in ``output``: :func:`audiorep.export.export`."""
    from .evaluate import load_classifier
    from .export import export as write_export
    from .train import load_model

    ae, _ = load_model(model)
    classifier = scaler = names = None
    if mlp:
        classifier, scaler, names = load_classifier(mlp)
    return write_export(ae, classifier, out_dir=output, scaler=scaler, label_names=names)



# ---------------------------------------------------------------- the whole recipe

@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything :func:`run` does, fixed before it starts (and recorded in its report).

    Attributes
    ----------
    views : dict of str -> dict
        Feature views to extract (:class:`~audiorep.features.FeatureParams` settings), by name.
    learn_from : str
        The view the autoencoders read, or two views joined by ``+`` (``"mel+cg"``: a log-mel
        and a correlogram view with the same framing), read side by side as one input of kind
        ``mel+correlogram`` (the log-mel view's ``top_db`` for both; see :meth:`learning_view`).
    autoencoder : dict
        :class:`~audiorep.models.Seq2SeqAutoencoder` settings.
    training : dict
        :func:`train` settings (epochs, batch_size, lr, patience, mask_time, ...).
    per_fold : bool
        One autoencoder per fold, trained without that fold's audio (else one on all clips,
        which sees every test clip's audio, though never a label).
    speeds : tuple of float
        Speed-perturbed copies of every clip that join autoencoder training (empty: none).
    classifier_speeds : tuple of float
        Speed-perturbed copies of every clip that join the classifier's training parts, in
        every system (their pooled statistics, and their representations by each fold's
        autoencoder); a copy never trains the fold its clip is tested in (empty: none).
    classifier : dict
        :func:`evaluate` settings (hidden, dropout, epochs, lr, repeats).
    export : bool
        Also train one autoencoder and one classifier on every clip and export them.
    """

    views: dict
    learn_from: str
    autoencoder: dict
    training: dict
    per_fold: bool = True
    speeds: tuple = ()
    classifier_speeds: tuple = ()
    classifier: dict = dataclasses.field(default_factory=lambda: {"hidden": (150, 150), "dropout": 0.4,
                                                                   "epochs": 400, "lr": 1e-3, "repeats": 5})
    export: bool = False

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping) -> "Recipe":
        """The recipe of :meth:`to_dict`'s form, or of a run's ``recipe.json`` (``{"recipe": {...}, ...}``).

        >>> Recipe.from_dict(Recipe.default().to_dict()) == Recipe.default()
        True
        """
        if isinstance(data, Mapping) and isinstance(data.get("recipe"), Mapping):
            data = data["recipe"]
        if not isinstance(data, Mapping):
            raise ParameterError(f"a recipe is a JSON object, not {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ParameterError(f"unknown recipe settings {unknown}; a recipe has {sorted(fields)}")
        required = [name for name, f in fields.items()
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise ParameterError(f"the recipe lacks {missing}")
        values = dict(data)
        for name in ("views", "autoencoder", "training", "classifier"):
            if name in values and not isinstance(values[name], Mapping):
                raise ParameterError(f"recipe setting {name!r} must be an object, not {values[name]!r}")
        for name in ("speeds", "classifier_speeds"):
            if name in values:
                speeds = values[name]
                if not isinstance(speeds, Sequence) or isinstance(speeds, str) or not all(
                        isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in speeds):
                    raise ParameterError(f"recipe setting {name!r} must be a list of positive numbers, not {speeds!r}")
                values[name] = tuple(float(v) for v in speeds)
        for name in ("per_fold", "export"):
            if name in values and not isinstance(values[name], bool):
                raise ParameterError(f"recipe setting {name!r} must be true or false, not {values[name]!r}")
        if not isinstance(values["learn_from"], str):
            raise ParameterError(f"recipe setting 'learn_from' must be a view name, not {values['learn_from']!r}")
        classifier = values.get("classifier")
        if classifier is not None and isinstance(classifier.get("hidden"), list):
            values["classifier"] = {**classifier, "hidden": tuple(classifier["hidden"])}
        recipe = cls(**{k: (dict(v) if isinstance(v, Mapping) else v) for k, v in values.items()})
        recipe.learning_view()  # the autoencoders' input must name the views
        return recipe

    @classmethod
    def load(cls, path) -> "Recipe":
        """Read a recipe from a JSON file (see :meth:`from_dict`), with errors that name the file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise ParameterError(f"cannot read the recipe {path}: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ParameterError(f"{path} is not a JSON recipe: {exc}") from None
        try:
            return cls.from_dict(data)
        except ParameterError as exc:
            raise ParameterError(f"{path}: {exc}") from None

    def learning_view(self) -> tuple[str, dict]:
        """The autoencoders' input: its name (the store's stem) and its feature settings.

        >>> recipe = Recipe(views={"mel": {"kind": "mel"}, "cg": {"kind": "correlogram"}}, learn_from="mel+cg",
        ...                 autoencoder={}, training={})
        >>> recipe.learning_view()[1]["kind"]
        'mel+correlogram'
        """
        names = self.learn_from.split("+")
        unknown = [n for n in names if n not in self.views]
        if unknown or len(names) > 2:
            raise ParameterError(f"learn_from={self.learn_from!r} must name one of the views {sorted(self.views)} or "
                                 f"two joined by '+'")
        if len(names) == 1:
            return self.learn_from, dict(self.views[self.learn_from])
        mel, cg = (dict(self.views[n]) for n in names)
        if mel.get("kind", "mel") != "mel" or cg.get("kind") != "correlogram":
            raise ParameterError(f"learn_from={self.learn_from!r} joins a 'mel' view and a 'correlogram' view, in "
                                 f"that order")
        framing = ("sr", "frame_length", "hop_length", "duration", "fmax")
        differ = [k for k in framing if mel.get(k) != cg.get(k)]
        if differ:
            raise ParameterError(f"learn_from={self.learn_from!r}: the views differ in {differ}; joined views share "
                                 f"their frames")
        joined = {**cg, **mel, "kind": "mel+correlogram"}
        for k in ("n_bands", "lag_bins", "fmin", "max_lag"):  # the correlogram's own settings
            if k in cg:
                joined[k] = cg[k]
        return self.learn_from, joined

    @classmethod
    def demo(cls, *, epochs: int | None = None) -> "Recipe":
        """The small recipe for the synthetic example set that ships with the package."""
        frames = {"sr": 16000, "frame_length": 512, "hop_length": 256}
        return cls(views={"mel": {"kind": "mel", "n_mels": 40, **frames},
                          "cg": {"kind": "correlogram", "n_bands": 8, "lag_bins": 8, **frames}},
                   learn_from="mel",
                   autoencoder={"cell": "gru", "units": 64, "layers": 1, "teacher_forcing": 1.0, "readout": "pooled"},
                   training={"epochs": epochs or 30, "batch_size": 16, "lr": 1e-3, "patience": 10},
                   classifier={"hidden": (150, 150), "dropout": 0.4, "epochs": 200, "lr": 1e-3, "repeats": 2},
                   export=True)

    @classmethod
    def default(cls, *, epochs: int | None = None) -> "Recipe":
        """The recommended recipe for a dataset of labelled clips (see the README's results)."""
        frames = {"sr": 22050, "frame_length": 2048, "hop_length": 882}
        return cls(views={"mel": {"kind": "mel", "n_mels": 128, "top_db": 60.0, **frames},
                          "cg": {"kind": "correlogram", "n_bands": 16, "lag_bins": 16, **frames}},
                   learn_from="mel",
                   autoencoder={"cell": "gru", "units": 512, "layers": 1, "teacher_forcing": 1.0,
                                "readout": "pooled"},
                   training={"epochs": epochs or 40, "batch_size": 64, "lr": 1e-3, "patience": 10})


@dataclasses.dataclass
class RunReport:
    """What :func:`run` measured: each system's cross-validated accuracy and the time it took."""

    path: Path
    systems: dict
    seconds: float
    steps: dict


def _train_job(job: dict) -> dict:
    """Train one autoencoder (in a worker process when folds train side by side)."""
    import torch

    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    report = train(job["features"], job["output"], **job["options"])
    return {"seconds": report.seconds, "epochs": len(report.history["train_loss"])}


def _run_jobs(jobs: list, workers: int, cancel) -> list:
    """Run training jobs in-process (one worker) or in a pool of processes; poll ``cancel``."""
    from ._util import check_cancel

    if workers <= 1 or len(jobs) <= 1:
        results = []
        for job in jobs:
            check_cancel(cancel, "the run")
            results.append(_train_job({**job, "options": {**job["options"], "cancel": cancel}}))
        return results
    import multiprocessing
    import os

    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = multiprocessing.get_context("spawn").Pool(workers)
    try:
        pending = [pool.apply_async(_train_job, ({**job, "threads": threads},)) for job in jobs]
        while not all(p.ready() for p in pending):
            check_cancel(cancel, "the run")
            time.sleep(0.2)
        results = [p.get() for p in pending]
        pool.close()
        return results
    finally:
        pool.terminate()
        pool.join()


def run(dataset=None, workdir="audiorep-run", recipe: Recipe | None = None, *, workers: int = 1, seed: int = 0,
        progress: bool = False, cancel=None, echo=None) -> RunReport:
    """Run a recipe end to end and write ``WORKDIR/report.json``.

    Steps: extract every feature view; pool each into mean+std statistics; train the
    autoencoders (one per fold, none seeing its test fold's audio, unless the recipe says
    otherwise), on the clips and, if the recipe asks, their speed copies; encode every clip;
    then cross-validate the same MLP on three systems: ``learned`` (the autoencoder's
    representation alone), ``pooled`` (the statistics of every view), and ``fused`` (both);
    with several views, also ``pooled_input``, the statistics of the autoencoder's own input.
    Steps whose outputs exist are skipped, so an interrupted run continues where it stopped;
    a workdir made with another recipe is refused.

    Parameters
    ----------
    dataset : path, optional
        Any layout :func:`audiorep.datasets.load_dataset` reads. None writes the synthetic
        example set into ``WORKDIR/data`` and uses :meth:`Recipe.demo`.
    workdir : path
        Where every output goes.
    recipe : Recipe, optional
        Default :meth:`Recipe.default` (or :meth:`Recipe.demo` without a dataset).
    workers : int
        Autoencoders trained side by side, each in its own process (-1: one per core).
    seed : int
        Seeds the autoencoders and the classifiers.
    echo : callable, optional
        Called with a line of text as each step starts and ends.

    Returns
    -------
    RunReport
        ``systems[name]`` holds ``mean``, ``std`` and per-fold accuracies (``folds``).
    """
    from ._util import check_cancel, check_cancel_token, resolve_workers
    from .datasets import load_dataset
    from .features import FeatureParams

    check_cancel_token(cancel)
    workers = resolve_workers(workers)
    say = echo or (lambda text: None)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    if dataset is None:
        from .examples import write_synthetic_dataset

        recipe = recipe or Recipe.demo()
        dataset = work / "data"
        if not dataset.is_dir():
            write_synthetic_dataset(dataset, clips_per_class=10, seconds=2.0, sr=16000, seed=seed)
        say(f"dataset: the synthetic example set ({dataset})")
    recipe = recipe or Recipe.default()
    recorded = work / "recipe.json"
    wanted = {"recipe": recipe.to_dict(), "dataset": str(Path(dataset).resolve()), "seed": seed}
    if recorded.exists():
        there = json.loads(recorded.read_text())
        if there != wanted:
            raise ParameterError(f"{work} holds a run with another recipe, dataset or seed ({recorded}); "
                                 "use another working directory")
    else:
        with atomic_path(recorded) as tmp:
            tmp.write_text(json.dumps(wanted, indent=1))
    learn_name, learn_view = recipe.learning_view()
    joined = learn_name not in recipe.views  # its own store, beside the views it joins

    steps: dict[str, float] = {}
    start = time.perf_counter()

    def step(name: str, output: Path, func, *args, **kwargs):
        check_cancel(cancel, "the run")
        if Path(output).exists():
            say(f"skip {name}: {output} exists")
            return None
        say(f"{name} -> {output}")
        t0 = time.perf_counter()
        result = func(*args, **kwargs)
        steps[name] = time.perf_counter() - t0
        return result

    data = load_dataset(dataset)
    folds = sorted({inst.fold for inst in data})
    for name, view in recipe.views.items():
        step(f"extract {name}", work / f"{name}.parquet", extract, data, work / f"{name}.parquet",
             FeatureParams(**view), progress=progress, cancel=cancel)
        step(f"pool {name}", work / f"pool_{name}.parquet", pool, work / f"{name}.parquet",
             work / f"pool_{name}.parquet")
    if joined:
        step(f"extract {learn_name}", work / f"{learn_name}.parquet", extract, data, work / f"{learn_name}.parquet",
             FeatureParams(**learn_view), progress=progress, cancel=cancel)
        step(f"pool {learn_name}", work / f"pool_{learn_name}.parquet", pool, work / f"{learn_name}.parquet",
             work / f"pool_{learn_name}.parquet")
    copies = []
    if recipe.speeds:
        step("augment", work / "copies" / "copies.csv", augment, data, work / "copies", speeds=recipe.speeds,
             sr=learn_view.get("sr"), progress=progress, cancel=cancel)
        copies = [work / f"copies_{learn_name}.parquet"]
        step(f"extract copies {learn_name}", copies[0], extract, work / "copies", copies[0],
             FeatureParams(**learn_view), progress=progress, cancel=cancel)

    extra: dict[str, str] = {}  # view or "learned" -> the store of the classifier's copies
    if recipe.classifier_speeds:
        step("augment for the classifier", work / "mlp_copies" / "copies.csv", augment, data, work / "mlp_copies",
             speeds=recipe.classifier_speeds, sr=learn_view.get("sr"), progress=progress, cancel=cancel)
        for name, view in {**recipe.views, learn_name: learn_view}.items():
            step(f"extract copies {name}", work / f"mlp_copies_{name}.parquet", extract, work / "mlp_copies",
                 work / f"mlp_copies_{name}.parquet", FeatureParams(**view), progress=progress, cancel=cancel)
            step(f"pool copies {name}", work / f"pool_mlp_copies_{name}.parquet", pool,
                 work / f"mlp_copies_{name}.parquet", work / f"pool_mlp_copies_{name}.parquet")
            extra[name] = str(work / f"pool_mlp_copies_{name}.parquet")

    features = work / f"{learn_name}.parquet"
    options = {"config": recipe.autoencoder, "seed": seed, "copies": copies, **recipe.training}
    excluded = [[f] for f in folds] if recipe.per_fold else [[]]
    names = [f"ae_x{f[0]}" if f else "ae" for f in excluded]
    jobs = [{"features": features, "output": work / f"{name}.pt", "options": {**options, "exclude_folds": ex}}
            for name, ex in zip(names, excluded) if not (work / f"{name}.pt").exists()]
    if recipe.export and recipe.per_fold and not (work / "ae.pt").exists():
        jobs.append({"features": features, "output": work / "ae.pt", "options": {**options, "exclude_folds": []}})
    if jobs:
        say(f"train {len(jobs)} autoencoder(s), {min(workers, len(jobs))} at a time")
        t0 = time.perf_counter()
        _run_jobs(jobs, workers, cancel)
        steps["train"] = time.perf_counter() - t0
    for name in names:
        step(f"represent {name}", work / f"{name}.parquet", represent, work / f"{name}.pt", features,
             work / f"{name}.parquet")

    if recipe.classifier_speeds:
        for name in names:
            step(f"represent copies {name}", work / f"mlp_copies_{name}.parquet", represent, work / f"{name}.pt",
                 work / f"mlp_copies_{learn_name}.parquet", work / f"mlp_copies_{name}.parquet")
        extra["learned"] = str(work / ("mlp_copies_ae_x{fold}.parquet" if recipe.per_fold else
                                       "mlp_copies_ae.parquet"))

    learned = [str(work / ("ae_x{fold}.parquet" if recipe.per_fold else "ae.parquet"))]
    pooled = [str(work / f"pool_{name}.parquet") for name in recipe.views]
    settings = dict(recipe.classifier)
    repeats = settings.pop("repeats", 5)
    systems = {}
    plan = [("learned", learned, ["learned"]), ("pooled", pooled, list(recipe.views)),
            ("fused", pooled + learned, [*recipe.views, "learned"])]
    if len(recipe.views) > 1:  # the statistics of the autoencoder's own input: what it has to beat
        plan.append(("pooled_input", [str(work / f"pool_{learn_name}.parquet")], [learn_name]))
    for system, inputs, parts in plan:
        check_cancel(cancel, "the run")
        say(f"evaluate {system}: {', '.join(Path(p).name for p in inputs)}")
        t0 = time.perf_counter()
        report = evaluate(inputs, copies=[extra[p] for p in parts] if extra else None, repeats=repeats, seed=seed,
                          output_dir=work / "evaluation" / system, progress=progress, **settings)
        steps[f"evaluate {system}"] = time.perf_counter() - t0
        result = report.result
        systems[system] = {"mean": result.mean, "std": result.std, "inputs": inputs,
                           "copies": [extra[p] for p in parts] if extra else [], "fold_ids": result.fold_ids,
                           "folds": result.fold_accuracies.mean(axis=0).tolist()}
        say(f"  {system}: {100 * result.mean:.1f} % +- {100 * result.std:.1f}")
    seconds = time.perf_counter() - start
    document = {**{name: {"mean": s["mean"], "std": s["std"]} for name, s in systems.items()},
                "folds": [{"fold": f, **{name: s["folds"][i] for name, s in systems.items()}}
                          for i, f in enumerate(systems["learned"]["fold_ids"])],
                "systems": systems, "seconds": seconds, "steps": steps, "workers": workers, **wanted}
    with atomic_path(work / "report.json") as tmp:
        tmp.write_text(json.dumps(document, indent=1))
    if recipe.export:
        step("export", work / "deploy" / "model.json", export_run, work, work / "deploy", system="fused",
             progress=progress, cancel=cancel)
    return RunReport(work / "report.json", systems, seconds, steps)


# ---------------------------------------------------------------- deployable systems and predictions

_NOT_FEATURE_SETTINGS = ("audiorep_version", "chunk_seconds")


def _view_of(params: dict, where: str) -> dict:
    from .features import FeatureParams

    if params.get("chunk_seconds") is not None:
        raise ParameterError(f"{where} was extracted in chunks of {params['chunk_seconds']} s; a deployed system "
                             "classifies whole files")
    view = {k: v for k, v in params.items() if k not in _NOT_FEATURE_SETTINGS}
    try:
        FeatureParams(**view)
    except TypeError as exc:
        raise ParameterError(f"{where} does not record usable feature settings ({exc})") from None
    return view


def export_system(inputs, output, *, autoencoder=None, features=None, copies=None, seed: int = 0,
                  hidden=(150, 150), dropout: float = 0.4, epochs: int = 400, lr: float = 1e-3, device="cpu",
                  info: Mapping | None = None) -> dict:
    """Export an evaluated system (the stores :func:`evaluate` fused) as one deployable directory.

    The classifier is trained on every row (and on ``copies``, as in :func:`evaluate`), and the
    system is written with :func:`audiorep.export.export_system`: ``system.pt`` and ``model.json``
    (feature settings of every view, the fusion order, label names, standardisation inside,
    versions and checksums). :func:`predict` reads it.

    Parameters
    ----------
    inputs : sequence of paths
        The representation stores, in fusion order: pooled statistics (:func:`pool`) and at
        most one learned representation (:func:`represent`). A per-fold template
        (``ae_x{fold}.parquet``) stands for its final model: give ``autoencoder``, trained on
        every fold, and the ``features`` store it reads, and the classifier trains on that
        model's representations of every clip.
    autoencoder : path, optional
        The model of the learned input.
    features : path, optional
        The feature store the autoencoder reads (needed with a per-fold template).
    copies : sequence of paths, optional
        Extra training rows for the classifier, as for :func:`evaluate` (not with a template).
    """
    from .evaluate import train_classifier
    from .export import export_system as write_system
    from .store import read_store
    from .train import load_model, model_training_info

    inputs = [str(p) for p in inputs]
    if not inputs:
        raise ParameterError("give the representation stores of the system to export")
    parts, views, matrices, table = [], {}, [], None
    learned = 0
    for path in inputs:
        member = str(fold_files(path)[min(fold_files(path))]) if FOLD_FIELD in path else path
        store = read_store(member)
        if table is None:
            table = store
        _same_rows(store, table, member, inputs[0])
        params = store.params
        view = _view_of(params.get("features", {}), member)
        name = next((n for n, v in views.items() if v == view), None)
        if name is None:
            name = view["kind"] if view["kind"] not in views else f"{view['kind']}{len(views)}"
        views[name] = view
        if params.get("kind") == "mean+std":
            parts.append({"kind": "pooled", "view": name})
            matrices.append(np.stack([f.reshape(-1) for f in store.features]))
            continue
        if params.get("kind") != "representation":
            raise ParameterError(f"{member} is neither pooled statistics nor an autoencoder's representations")
        learned += 1
        if learned > 1:
            raise ParameterError("a deployed system holds at most one learned representation")
        if autoencoder is None:
            raise ParameterError(f"{path} is an autoencoder's representation: give the model (autoencoder=...)")
        ae, model_params = load_model(autoencoder, expected_feature_params=params["features"])
        readout = params.get("readout", ae.readout)
        if ae.readout != readout:  # the store was read out another way than the model's own
            reread = type(ae)(**{**ae.config, "readout": readout})
            reread.load_state_dict(ae.state_dict())
            ae = reread.eval()
        if FOLD_FIELD in path:
            if model_training_info(autoencoder).get("excluded_folds"):
                raise ParameterError(f"{autoencoder} was trained without folds "
                                     f"{model_training_info(autoencoder)['excluded_folds']}; the deployed model of "
                                     f"{path} is one trained on every fold")
            if features is None:
                raise ParameterError(f"{path} holds one store per fold: give the feature store the final "
                                     "autoencoder reads (features=...)")
            feats = read_store(features)
            _same_rows(feats, table, str(features), inputs[0])
            matrices.append(encode_rows(ae, feats, readout=readout))
        else:
            if Path(autoencoder).name != params.get("model"):
                raise ParameterError(f"{member} was made by {params.get('model')}, not {Path(autoencoder).name}")
            matrices.append(np.stack([f.reshape(-1) for f in store.features]))
        parts.append({"kind": "learned", "view": name, "autoencoder": ae})
    x, y = np.concatenate(matrices, axis=1), table.label_numeric
    if copies:
        if any(FOLD_FIELD in p for p in inputs):
            raise ParameterError("copies cannot join the classifier of a system with a per-fold template")
        extra, source = load_copies(copies, len(inputs), Representations(table, x, inputs), "copies")
        x, y = np.concatenate([x, extra]), np.concatenate([y, y[source]])
    mlp, scaler = train_classifier(x, y, n_classes=max(table.label_map) + 1, hidden=tuple(hidden), dropout=dropout,
                                   epochs=epochs, lr=lr, seed=seed, device=device)
    names = [table.label_map[k] for k in sorted(table.label_map)]
    provenance = {"inputs": inputs, "autoencoder": None if autoencoder is None else str(autoencoder),
                  "copies": [str(p) for p in copies or []], "seed": seed, "rows": int(len(x)),
                  "classifier": {"hidden": list(hidden), "dropout": dropout, "epochs": epochs, "lr": lr},
                  **dict(info or {})}
    return write_system(parts, views, mlp, scaler, names, output, info=provenance)


def export_run(workdir, output, *, system: str = "fused", progress: bool = False, cancel=None) -> dict:
    """Export one system that :func:`run` evaluated in ``workdir`` (``"learned"``, ``"pooled"`` or ``"fused"``).

    A per-fold system is deployed with an autoencoder trained on every fold, with the run's
    recipe and seed; it is trained here unless the run already made it (``ae.pt``). The
    deployed classifier trains on the clips themselves, without the copies of
    ``classifier_speeds``.
    """
    work = Path(workdir)
    recorded, report_path = work / "recipe.json", work / "report.json"
    if not recorded.is_file() or not report_path.is_file():
        raise FileNotFoundError(f"{work} holds no finished run (recipe.json and report.json)")
    report = json.loads(report_path.read_text())
    if system not in report.get("systems", {}):
        raise ParameterError(f"system={system!r} is not one of the run's systems {sorted(report.get('systems', {}))}")
    run_info = json.loads(recorded.read_text())
    recipe = Recipe(**{**run_info["recipe"], "speeds": tuple(run_info["recipe"]["speeds"]),
                       "classifier_speeds": tuple(run_info["recipe"].get("classifier_speeds", ()))})
    inputs = report["systems"][system]["inputs"]
    learn_name, _ = recipe.learning_view()
    features = work / f"{learn_name}.parquet"
    autoencoder = None
    if any("ae" in Path(p).name for p in inputs):
        autoencoder = work / "ae.pt"
        if not autoencoder.exists():
            copies = [work / f"copies_{learn_name}.parquet"] if recipe.speeds else []
            train(features, autoencoder, config=recipe.autoencoder, seed=run_info["seed"], copies=copies,
                  progress=progress, cancel=cancel, **recipe.training)
    classifier = dict(recipe.classifier)
    classifier.pop("repeats", None)
    evaluated = {key: report["systems"][system][key] for key in ("mean", "std", "folds")}
    return export_system(inputs, output, autoencoder=autoencoder, features=features, seed=run_info["seed"],
                         info={"run": str(work), "system": system, "cross_validation": evaluated}, **classifier)


@dataclasses.dataclass
class Prediction:
    """The classes of one input: the most probable ``label`` and its ``probability``, the ``top`` k.

    For an input that could not be read, ``error`` says why and the rest is empty.
    """

    source: str
    label: str | None = None
    probability: float | None = None
    top: list = dataclasses.field(default_factory=list)
    error: str | None = None


class DeployedModel:
    """A system written by :func:`export_system`, ready to classify audio (files or arrays).

    Features are computed with audiorep's kernels exactly as they were for training (the
    manifest's view settings, sample rate and duration).
    """

    def __init__(self, path, *, device="cpu"):
        from .export import load_system
        from .features import FeatureParams

        self.manifest, self.system = load_system(path, device=device)
        self.path = Path(path)
        self.labels = list(self.manifest["label_names"])
        self.sample_rate = self.manifest["sample_rate"]
        self.views = {name: FeatureParams(**view) for name, view in self.manifest["views"].items()}

    def features(self, item) -> dict:
        """The feature views of a path, an array at the model's rate, or an ``(array, sr)`` pair."""
        from .audio import fix_length, resample
        from .extract import features_for_file
        from .features import compute_features

        if isinstance(item, (str, Path)):
            return {name: features_for_file(item, params) for name, params in self.views.items()}
        y, sr = item if isinstance(item, tuple) else (item, self.sample_rate)
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1 or y.size == 0 or not np.isfinite(y).all():
            raise ParameterError(f"audio must be a non-empty, finite 1-D array, got shape {y.shape}")
        if sr != self.sample_rate:
            y = resample(y, sr, self.sample_rate)
        out = {}
        for name, params in self.views.items():
            signal = fix_length(y, int(round(params.duration * self.sample_rate))) if params.duration else y
            out[name] = compute_features(signal, self.sample_rate, params)
        return out

    def probabilities(self, views: dict) -> np.ndarray:
        """Class probabilities (n_classes,) of one input's feature views."""
        import torch

        with torch.no_grad():
            tensors = {name: torch.from_numpy(np.ascontiguousarray(x))[None] for name, x in views.items()}
            return self.system(tensors)[0].double().numpy()

    def top(self, item, k: int = 3) -> list[dict]:
        """``[{"label", "probability"}, ...]``: the ``k`` most probable classes of one input, best first."""
        probs = self.probabilities(self.features(item))
        best = np.argsort(-probs, kind="stable")[:k]
        return [{"label": self.labels[i], "probability": float(probs[i])} for i in best]


def load_model(path, *, device="cpu") -> DeployedModel:
    """Load a deployed system (the directory :func:`export_system` wrote), checking its checksums."""
    return DeployedModel(path, device=device)


def audio_files(paths) -> list[str]:
    """The given paths, with each directory replaced by the audio files below it (sorted)."""
    from .datasets import AUDIO_EXTENSIONS

    files = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                raise FileNotFoundError(2, "no audio files in this directory", str(path))
            files += [str(p) for p in found]
        else:
            files.append(str(path))
    return files


def format_predictions(results, *, fmt: str = "csv", top: int = 3) -> str:
    """Predictions as CSV (``path,label,probability`` and the top ``top`` classes) or JSON; failures left out."""
    import csv
    import io

    good = [r for r in results if not r.error]
    if fmt == "json":
        return json.dumps([{"path": r.source, "label": r.label, "probability": r.probability,
                            "top": [{"label": label, "probability": p} for label, p in r.top]} for r in good],
                          indent=1) + "\n"
    if fmt != "csv":
        raise ParameterError(f"fmt={fmt!r} must be 'csv' or 'json'")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label", "probability"]
                    + [f"{kind}{k}" for k in range(1, top + 1) for kind in ("label", "probability")])
    for r in good:
        writer.writerow([r.source, r.label, f"{r.probability:.6f}"]
                        + [value for label, p in r.top for value in (label, f"{p:.6f}")])
    return buffer.getvalue()


def predict(model, items, *, top: int = 3, workers: int = 1, progress: bool = False, cancel=None) -> list:
    """Classify audio files or arrays with a deployed system; one :class:`Prediction` per input, in order.

    Parameters
    ----------
    model : path or DeployedModel
    items : sequence
        Audio file paths, arrays at the model's sample rate, or ``(array, sr)`` pairs.
    top : int
        How many classes each :class:`Prediction` lists.
    workers : int
        Inputs whose features are computed at once (threads; the kernels release the GIL).
    progress, cancel
        A progress bar on stderr; an Event-like token that stops the run (:class:`~audiorep.Cancelled`).

    An input that cannot be read (a file that is not audio, say) gets a :class:`Prediction` with
    its ``error`` set; the others are still classified.
    """
    import concurrent.futures as cf

    from tqdm.auto import tqdm

    from ._util import check_cancel, check_cancel_token, positive_int, resolve_workers
    from .errors import AudiorepError

    check_cancel_token(cancel)
    top = positive_int(top, "top")
    workers = resolve_workers(workers)
    deployed = model if isinstance(model, DeployedModel) else load_model(model)
    items = list(items)

    def name_of(i, item):
        return str(item) if isinstance(item, (str, Path)) else f"array {i}"

    def one(item):
        return deployed.features(item)

    results = []
    with cf.ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(items), desc="predict", unit="file", disable=not progress) as bar:
        futures = [pool.submit(one, item) for item in items]
        for i, (item, future) in enumerate(zip(items, futures)):
            check_cancel(cancel, "prediction")
            try:
                views = future.result()
            except (AudiorepError, OSError) as exc:
                results.append(Prediction(name_of(i, item), error=str(exc)))
            else:
                probs = deployed.probabilities(views)
                best = np.argsort(-probs, kind="stable")[:top]
                results.append(Prediction(name_of(i, item), deployed.labels[best[0]], float(probs[best[0]]),
                                          [(deployed.labels[j], float(probs[j])) for j in best]))
            bar.update(1)
    return results
