"""The ``audiorep`` command line.

Every command has ``--help`` with an example. Errors in the input (an unreadable
file, a bad parameter) print one line naming the problem and exit with 1; a
cancelled run (Ctrl-C or SIGTERM) exits with 130. No file is ever left half
written; a command that writes several files keeps those it finished (``train``
its checkpoint, ``augment`` its copies, ``run`` its finished steps).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from ._util import atomic_path
from .errors import ParameterError

log = logging.getLogger("audiorep")

EXIT_ERROR = 1
EXIT_CANCELLED = 130


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


# ---------------------------------------------------------------- commands

def _demo(args) -> int:
    from . import dsp

    sr = 16000
    t = np.arange(sr, dtype=np.float32) / sr
    # An embedded test tone: 440 Hz with a weaker 1320 Hz partial.
    y = (np.sin(2 * np.pi * 440.0 * t) + 0.3 * np.sin(2 * np.pi * 1320.0 * t)).astype(np.float32)
    spectrum = np.abs(dsp.rfft(y))
    peak = int(np.argmax(spectrum))
    print(f"test tone: {len(y)} samples at {sr} Hz")
    print(f"spectrum peak: bin {peak} = {peak * sr / len(y):.1f} Hz (expected 440.0 Hz)")
    return 0


def _feature_params(args):
    from .features import FeatureParams

    return FeatureParams(kind=args.kind, sr=args.sr, frame_length=args.frame_length, hop_length=args.hop_length,
                         n_mels=args.n_mels, max_lag=args.max_lag, lag_bins=args.lag_bins, n_bands=args.n_bands,
                         fmin=args.fmin, fmax=args.fmax, top_db=args.top_db, duration=args.duration)


def _extract(args) -> int:
    from .datasets import load_dataset
    from .extract import extract_dataset

    params = _feature_params(args)
    dataset = load_dataset(args.dataset)
    log.info("%d files, %d classes, %d folds in %s", len(dataset), len(dataset.label_map), dataset.n_folds,
             args.dataset)
    report = extract_dataset(dataset, args.output, params, workers=args.workers, strict=args.strict,
                             chunk_seconds=args.chunk_seconds, progress=not args.no_progress, cancel=_CANCEL)
    rate = len(dataset) / report.seconds if report.seconds > 0 else float("inf")
    print(f"wrote {report.written} rows to {report.path} ({params.kind}, {params.n_features} values per frame) "
          f"in {report.seconds:.1f} s ({rate:.1f} files/s)")
    if report.failed:
        print(f"{len(report.failed)} file(s) skipped:", file=sys.stderr)
        for name, reason in report.failed:
            print(f"  {name}: {reason}", file=sys.stderr)
    return 0


def _augment(args) -> int:
    from .augment import write_speed_copies

    start = time.perf_counter()
    written = write_speed_copies(args.dataset, args.output, args.speeds, sr=args.sr, progress=not args.no_progress,
                                 cancel=_CANCEL)
    print(f"wrote {written} speed copies ({', '.join(f'{f}x' for f in args.speeds)}) under {args.output} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def _is_store(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PAR1"
    except IsADirectoryError:
        return False


def _info(args) -> int:
    path = Path(args.file)
    if not path.exists():
        raise FileNotFoundError(2, "no such file", str(path))
    if path.is_file() and _is_store(path):
        from .store import read_store

        table = read_store(path, columns=["label_numeric", "fold", "feature_shape"])
        shapes = table.feature_shape
        print(f"{path}: feature store, {table.n_rows} rows, {table.n_features} values per frame")
        if shapes is not None and len(shapes):
            print(f"  frames per row: {int(shapes[:, 0].min())}..{int(shapes[:, 0].max())}")
        print(f"  folds: {table.n_folds}; classes: {len(table.label_map)}")
        for k, name in sorted(table.label_map.items()):
            print(f"    {k}: {name} ({int(np.sum(table.label_numeric == k))} rows)")
        print("  params: " + json.dumps(table.params, sort_keys=True))
        return 0
    from .audio import info

    i = info(path)
    print(f"{path}: {i.format}/{i.subtype}, {i.samplerate} Hz, {i.channels} channel(s), {i.frames} frames "
          f"({i.duration:.3f} s)")
    return 0


def _obj(args) -> int:
    from .audio import load
    from .dsp import autocorrelogram
    from .mesh import write_obj

    y, sr = load(args.audio, sr=args.sr)
    acg = autocorrelogram(y, sr, frame_length=args.frame_length, hop_length=args.hop_length, max_lag=args.max_lag)
    write_obj(args.output, acg, normals=args.normals)
    rows, cols = acg.values.shape
    print(f"wrote {args.output}: {rows} x {cols} height field ({rows * cols} vertices)")
    return 0


def _plot(args) -> int:
    from .audio import load
    from .plot import plot_clip

    y, sr = load(args.audio, sr=args.sr)
    paths = plot_clip(y, sr, args.output, stem=Path(args.audio).stem, frame_length=args.frame_length,
                      hop_length=args.hop_length, max_lag=args.max_lag)
    for name, p in paths.items():
        print(f"{name}: {p}")
    return 0


def _load_features(path, *, length=None):
    from .store import read_store

    table = read_store(path)
    return table, table.stacked(length=length) if length else table.stacked()


def _copy_sources(table, copies, path) -> np.ndarray:
    """For each row of ``copies``, the row of ``table`` holding the clip it was made from.

    A copy's file name, without extension, is its clip's name without extension, optionally
    followed by ``-`` and anything (``a/1-100032-A.ogg`` -> ``a/1-100032-A-speed0.9.wav`` or
    ``a/1-100032-A.wav``); the longest such clip name wins. The chunk number, label and fold must
    agree.
    """
    index = {(str(Path(name).with_suffix("")), int(chunk)): i
             for i, (name, chunk) in enumerate(zip(table.filename, table.chunk_nr))}
    sources = np.empty(len(copies.filename), dtype=np.int64)
    for j, (name, chunk) in enumerate(zip(copies.filename, copies.chunk_nr)):
        stem = str(Path(name).with_suffix(""))
        found = index.get((stem, int(chunk)))
        while found is None and "-" in stem:
            stem = stem.rsplit("-", 1)[0]
            found = index.get((stem, int(chunk)))
        if found is None:
            raise ParameterError(f"{path}: {name} (chunk {chunk}) is no copy of a clip in the features "
                                 "(a copy is named after its clip: CLIP or CLIP-anything)")
        if copies.label_numeric[j] != table.label_numeric[found] or copies.fold[j] != table.fold[found]:
            raise ParameterError(f"{path}: {name} has another label or fold than its clip {table.filename[found]}")
        sources[j] = found
    return sources


def _train(args) -> int:
    from .train import save_model, train_autoencoder

    table, x = _load_features(args.features)
    keep = np.ones(len(x), dtype=bool)
    if args.exclude_folds:
        unknown = sorted(set(args.exclude_folds) - set(np.unique(table.fold).tolist()))
        if unknown:
            raise ParameterError(f"--exclude-folds: {args.features} has no rows in fold(s) {unknown}")
        keep = ~np.isin(table.fold, args.exclude_folds)
        if not keep.any():
            raise ParameterError(f"--exclude-folds {args.exclude_folds} leaves no rows to train on")
        x = x[keep]
    augment = None
    if args.augment:
        extras, sources = [], []
        for path in args.augment:
            copies, extra = _load_features(path, length=x.shape[1])
            if copies.params != table.params:
                raise ParameterError(f"--augment {path} was extracted with other settings than {args.features}")
            extras.append(extra)
            sources.append(_copy_sources(table, copies, path))
        source = np.concatenate(sources)
        new_row = np.cumsum(keep) - 1  # row numbers after --exclude-folds
        used = keep[source]  # copies of excluded clips go with them
        augment = (np.concatenate(extras)[used], new_row[source[used]])
    config = dict(units=args.units, layers=args.layers, cell=args.cell,
                  bidirectional_encoder=args.bidirectional, bidirectional_decoder=args.bidirectional_decoder,
                  dropout=args.dropout, reverse_targets=not args.no_reverse, teacher_forcing=args.teacher_forcing)
    checkpoint = args.checkpoint or str(args.output) + ".ckpt"
    start = time.perf_counter()
    model, history = train_autoencoder(x, config=config, seed=args.seed, device=args.device, epochs=args.epochs,
                                       batch_size=args.batch_size, lr=args.lr, patience=args.patience,
                                       scaling=args.scaling, augment=augment,
                                       checkpoint_path=checkpoint, resume=args.resume, cancel=_CANCEL.is_set,
                                       progress=not args.no_progress)
    training = {"excluded_folds": sorted(args.exclude_folds)} if args.exclude_folds else {}
    if augment is not None:
        training["augment"] = [str(p) for p in args.augment]
    save_model(args.output, model, feature_params=table.params, training=training)
    copies = f" and {len(augment[0])} copies" if augment is not None else ""
    print(f"trained on {x.shape[0]} sequences{copies} of {x.shape[1]} x {x.shape[2]} "
          f"in {time.perf_counter() - start:.1f} s; "
          f"best held-out loss {history['best_loss']:.4f} at epoch {history['best_epoch']}; wrote {args.output}")
    return 0


def _represent(args) -> int:
    from .train import load_model, model_training_info, represent

    table, x = _load_features(args.features)
    model, params = load_model(args.model, device=args.device, expected_feature_params=table.params)
    reps = represent(model, x)
    # Which folds the autoencoder never saw travels with the representations (see _load_reps).
    _write_reps(args.output, table, reps, {"kind": "representation", "model": str(Path(args.model).name),
                                           **model_training_info(args.model)})
    print(f"wrote {reps.shape[0]} representations of size {reps.shape[1]} to {args.output}")
    return 0


def _write_reps(path, table, reps, meta) -> None:
    from .store import write_store

    columns = {name: getattr(table, name) for name in ("filename", "chunk_nr", "label_nominal", "label_numeric",
                                                       "cv_folds", "partition", "fold")}
    write_store(path, columns, features=[r[None, :] for r in reps], label_map=table.label_map,
                params={**meta, "size": int(reps.shape[1]), "features": table.params})


def _pool(args) -> int:
    from .store import read_store

    table = read_store(args.features)
    reps = np.stack([np.concatenate([f.mean(axis=0), f.std(axis=0)]) for f in table.features]).astype(np.float32)
    _write_reps(args.output, table, reps, {"kind": "mean+std"})
    print(f"wrote {reps.shape[0]} mean+std summaries of size {reps.shape[1]} to {args.output}")
    return 0


FOLD_FIELD = "{fold}"


def _fold_files(template: str) -> dict[int, Path]:
    """The files a path template with ``{fold}`` names, by fold number (e.g. ``ae_x{fold}.parquet``)."""
    import re

    path = Path(template)
    if FOLD_FIELD in str(path.parent) or path.name.count(FOLD_FIELD) != 1:
        raise ParameterError(f"{template}: put {FOLD_FIELD} once, in the file name")
    head, tail = path.name.split(FOLD_FIELD)
    pattern = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail))
    found = {}
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


def _check_same_rows(table, reference, what: str, reference_name: str) -> None:
    if list(table.filename) != list(reference.filename) or list(table.chunk_nr) != list(reference.chunk_nr):
        from .errors import StoreError

        raise StoreError(f"{what} does not hold the same rows in the same order as {reference_name}")


def _load_reps(paths):
    """Read and fuse representation stores; any path with ``{fold}`` holds one store per fold.

    Returns the first store's table and either an (N, D) array or, with templates, a dict
    mapping each fold to its (N, D) fused array. A store for fold f whose autoencoder was
    trained on fold f (recorded by ``train --exclude-folds``) is refused.
    """
    from .evaluate import fuse
    from .store import read_store

    paths = [str(p) for p in paths]
    templates = {p: _fold_files(p) for p in paths if FOLD_FIELD in p}
    cache = {}

    def table_of(path):
        if path not in cache:
            cache[path] = read_store(path)
            first_path, first = next(iter(cache.items()))
            _check_same_rows(cache[path], first, path, first_path)
        return cache[path]

    def matrix(path):
        return np.stack([f.reshape(-1) for f in table_of(path).features])

    head = paths[0]
    first = table_of(str(templates[head][min(templates[head])]) if head in templates else head)
    if not templates:
        return first, fuse(*[matrix(p) for p in paths])
    folds = sorted(int(f) for f in np.unique(first.fold))
    reps, unchecked = {}, set()
    for fold in folds:
        members = []
        for p in paths:
            if p in templates:
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
            else:
                members.append(p)
        reps[fold] = fuse(*[matrix(m) for m in members])
    return first, reps


def _load_augment(paths, n_inputs: int, table, what: str):
    """Extra training rows: one store per input, fused like the inputs, or several such groups.

    The groups (e.g. copies at different speeds) are joined row-wise. Returns ``(reps, labels,
    folds)`` for ``cross_validate``'s ``augment``; ``reps`` is per fold when a path has ``{fold}``.
    """
    paths = [str(p) for p in paths]
    if not paths or len(paths) % n_inputs:
        raise ParameterError(f"{what} needs one store per input ({n_inputs}), or several such groups; "
                             f"got {len(paths)} store(s)")
    tables, parts = [], []
    for i in range(0, len(paths), n_inputs):
        group_table, reps = _load_reps(paths[i:i + n_inputs])
        if group_table.label_map != table.label_map:
            raise ParameterError(f"{what} stores {paths[i:i + n_inputs]} have labels {group_table.label_map}, "
                                 f"the inputs {table.label_map}")
        tables.append(group_table)
        parts.append(reps)
    labels = np.concatenate([t.label_numeric for t in tables])
    folds = np.concatenate([t.fold for t in tables])
    per_fold = [p for p in parts if isinstance(p, dict)]
    if not per_fold:
        return np.concatenate(parts), labels, folds
    fold_ids = sorted(per_fold[0])
    lacking = [paths[i * n_inputs] for i, p in enumerate(parts) if isinstance(p, dict) and sorted(p) != fold_ids]
    if lacking:
        raise ParameterError(f"{what}: the groups starting with {lacking} do not cover folds {fold_ids}")
    joined = {f: np.concatenate([p[f] if isinstance(p, dict) else p for p in parts]) for f in fold_ids}
    return joined, labels, folds


def _evaluate(args) -> int:
    from .evaluate import cross_validate, save_classifier, train_classifier

    if args.save_mlp and args.ensemble != 1:
        raise ParameterError("--save-mlp saves one classifier; it cannot be combined with --ensemble")
    if any(FOLD_FIELD in str(p) for p in args.reps) and (args.k or args.save_mlp):
        raise ParameterError(f"representations per fold ({FOLD_FIELD} in a path) work with the data's folds only, "
                             "and without --save-mlp")
    table, reps = _load_reps(args.reps)
    names = [table.label_map[k] for k in sorted(table.label_map)]
    folds = None if args.k else table.fold
    augment = None
    if args.augment:
        if args.k:
            raise ParameterError("--augment works with the data's folds only")
        augment = _load_augment(args.augment, len(args.reps), table, "--augment")
    start = time.perf_counter()
    result = cross_validate(reps, table.label_numeric, folds, k=args.k or 5, label_names=names,
                            repeats=args.repeats, seed=args.seed, hidden=tuple(args.hidden), dropout=args.dropout,
                            epochs=args.epochs, lr=args.lr, ensemble=args.ensemble, augment=augment,
                            device=args.device, progress=not args.no_progress)
    out = _report(result, names, Path(args.output_dir), {"inputs": [str(p) for p in args.reps], "seed": args.seed,
                                                         "ensemble": args.ensemble,
                                                         "augment": [str(p) for p in args.augment or []],
                                                         "seconds": time.perf_counter() - start})
    if args.save_mlp:
        x, y = reps, table.label_numeric
        if augment is not None:
            x, y = np.concatenate([x, augment[0]]), np.concatenate([y, augment[1]])
        mlp, scaler = train_classifier(x, y, hidden=tuple(args.hidden), dropout=args.dropout,
                                       epochs=args.epochs, lr=args.lr, seed=args.seed, device=args.device)
        save_classifier(args.save_mlp, mlp, scaler, label_names=names)
        print(f"wrote the classifier trained on all {len(reps)} rows to {args.save_mlp}")
    print(f"wrote {out / 'confusion.txt'}, {out / 'confusion.png'}, {out / 'cv.json'}")
    return 0


def _report(result, names, out: Path, meta: dict) -> Path:
    """Print a cross-validation result; write confusion.txt/.png and cv.json (with ``meta``) to ``out``."""
    from .evaluate import write_confusion_png, write_confusion_text

    print(result)
    width = max(len(n) for n in names)
    print(f"  {'class':<{width}}  precision  recall")
    for name, p, r in zip(names, result.precision, result.recall):
        print(f"  {name:<{width}}  {100 * p:8.1f}%  {100 * r:5.1f}%")
    out.mkdir(parents=True, exist_ok=True)
    write_confusion_text(result.confusion, out / "confusion.txt", label_names=names)
    write_confusion_png(result.confusion, out / "confusion.png", label_names=names,
                        title=f"accuracy {100 * result.mean:.1f}% +- {100 * result.std:.1f}")
    with atomic_path(out / "cv.json") as tmp:
        tmp.write_text(json.dumps({**result.to_dict(), **meta}, indent=1))
    return out


def _add_classifier_options(p) -> None:
    p.add_argument("--hidden", type=int, nargs="+", default=[150, 150])
    p.add_argument("--dropout", type=float, default=0.4)
    p.add_argument("--epochs", type=int, default=400)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ensemble", type=int, default=1,
                   help="classifiers per fold (different seeds) whose probabilities are averaged")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--output-dir", default="evaluation", help="where confusion.txt/.png and cv.json go")
    p.add_argument("--no-progress", action="store_true")


def _parse_candidate(text: str) -> tuple[str, list[str]]:
    name, sep, files = text.partition("=")
    if not sep:
        name, files = text, text
    paths = [f for f in files.split(",") if f]
    if not name or not paths:
        raise ParameterError(f"candidate {text!r}: expected NAME=FILE[,FILE...] or FILE[,FILE...]")
    return name, paths


def _select(args) -> int:
    from .evaluate import nested_cross_validate

    parsed = [_parse_candidate(c) for c in args.candidates]
    if args.k and any(FOLD_FIELD in p for _, paths in parsed for p in paths):
        raise ParameterError(f"representations per fold ({FOLD_FIELD} in a path) work with the data's folds only")
    if len({name for name, _ in parsed}) != len(parsed):
        raise ParameterError(f"candidate names must be distinct: {[name for name, _ in parsed]}")
    candidate_paths = dict(parsed)
    augment_paths = {}
    for text in args.augment or []:
        name, paths = _parse_candidate(text)
        if name == text:
            raise ParameterError(f"--augment {text!r}: expected NAME=FILE[,FILE...]")
        if name not in candidate_paths:
            raise ParameterError(f"--augment {text!r}: {name!r} is not a candidate")
        if name in augment_paths:
            raise ParameterError(f"--augment {text!r}: {name!r} already has an --augment option")
        augment_paths[name] = paths
    if augment_paths and args.k:
        raise ParameterError("--augment works with the data's folds only")
    candidates, table = {}, None
    for name, paths in parsed:
        t, reps = _load_reps(paths)
        if table is None:
            table = t
        _check_same_rows(t, table, f"candidate {name!r}", f"candidate {parsed[0][0]!r}")
        candidates[name] = reps
    augment = {name: _load_augment(paths, len(candidate_paths[name]), table, f"--augment {name}")
               for name, paths in augment_paths.items()}
    names = [table.label_map[k] for k in sorted(table.label_map)]
    start = time.perf_counter()
    result = nested_cross_validate(candidates, table.label_numeric, None if args.k else table.fold, k=args.k or 5,
                                   inner_repeats=args.inner_repeats, label_names=names, repeats=args.repeats,
                                   seed=args.seed, hidden=tuple(args.hidden), dropout=args.dropout, epochs=args.epochs,
                                   lr=args.lr, ensemble=args.ensemble, augment=augment, device=args.device,
                                   progress=not args.no_progress)
    for fold, choice in zip(result.fold_ids, result.selected):
        inner = ", ".join(f"{n} {100 * result.selection_scores[n][result.fold_ids.index(fold)]:.1f}%"
                          for n in result.selection_scores)
        print(f"fold {fold}: chose {choice} (inner accuracy: {inner})")
    out = _report(result, names, Path(args.output_dir),
                  {"candidates": candidate_paths, "augment": augment_paths, "seed": args.seed,
                   "inner_repeats": args.inner_repeats, "ensemble": args.ensemble,
                   "seconds": time.perf_counter() - start})
    print(f"wrote {out / 'confusion.txt'}, {out / 'confusion.png'}, {out / 'cv.json'}")
    return 0


def _export(args) -> int:
    from .evaluate import load_classifier
    from .export import export
    from .train import load_model

    model, _ = load_model(args.model)
    mlp = scaler = names = None
    if args.mlp:
        mlp, scaler, names = load_classifier(args.mlp)
    paths = export(model, mlp, out_dir=args.output, scaler=scaler, label_names=names)
    for name, p in sorted(paths.items()):
        print(f"{name}: {p}")
    return 0


def _encode(args) -> int:
    from .codec import encode

    info = encode(args.audio, args.output, bitrate=args.bitrate_target, quality=args.quality, model=args.model,
                  cancel=_CANCEL, progress=not args.no_progress)
    print(f"wrote {args.output}: {info.duration:.2f} s (input at {info.input_sr} Hz, coded at {info.sr} Hz) "
          f"in {info.n_bytes} bytes "
          f"({info.kbps:.2f} kbit/s, quantiser step {info.step:.4g})")
    return 0


def _decode(args) -> int:
    from .codec import decode

    y, sr = decode(args.arep, args.output, sr=args.sr, model=args.model, cancel=_CANCEL)
    print(f"wrote {args.output}: {len(y)} samples at {sr} Hz ({len(y) / sr:.2f} s)")
    return 0


def _serve(args) -> int:
    try:
        from .serve import serve
    except ModuleNotFoundError as exc:  # the serve extra is not installed; the message says how to get it
        print(f"audiorep serve: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    serve(host=args.host, port=args.port, model=args.model, model_features=args.model_features,
          max_upload_mb=args.max_upload_mb, jobs=args.jobs, max_queued=args.max_queued,
          expire_minutes=args.expire_minutes, announce=lambda url: print(f"serving {url} (Ctrl-C stops)", flush=True))
    return 0


def _run(args) -> int:
    from .examples import write_synthetic_dataset

    work = Path(args.output)
    work.mkdir(parents=True, exist_ok=True)
    if args.dataset is None:
        dataset = write_synthetic_dataset(work / "data", clips_per_class=10, seconds=2.0, sr=16000)
        print(f"dataset: the embedded synthetic set ({dataset})")
        extract_opts = ["--frame-length", "512", "--hop-length", "256", "--n-mels", "40"]
        train_opts = ["--epochs", str(args.epochs or 30), "--units", "64", "--layers", "1", "--batch-size", "16"]
    else:
        dataset = Path(args.dataset)
        extract_opts = ["--sr", "16000", "--frame-length", "1024", "--hop-length", "512", "--n-mels", "64"]
        train_opts = ["--epochs", str(args.epochs or 30), "--units", "128", "--layers", "1"]
    quiet = ["--no-progress"] if args.no_progress else []
    steps = [
        ["extract", str(dataset), "-o", str(work / "features.parquet"), "--kind", "mel", *extract_opts, *quiet],
        ["train", str(work / "features.parquet"), "-o", str(work / "ae.pt"), "--seed", str(args.seed), *train_opts,
         *quiet],
        ["represent", str(work / "ae.pt"), str(work / "features.parquet"), "-o", str(work / "reps.parquet")],
        ["evaluate", str(work / "reps.parquet"), "--repeats", "1", "--output-dir", str(work / "evaluation"),
         "--save-mlp", str(work / "mlp.pt"), "--seed", str(args.seed), *quiet],
        ["export", str(work / "ae.pt"), "--mlp", str(work / "mlp.pt"), "-o", str(work / "deploy")],
    ]
    parser = build_parser()
    for step in steps:
        print(f"\n$ audiorep {' '.join(step)}")
        rc = _dispatch(parser.parse_args(step))
        if rc:
            return rc
    return 0


# ---------------------------------------------------------------- parser

def _add_feature_options(p, *, kind=True):
    if kind:
        p.add_argument("--kind", choices=("mel", "autocorrelogram", "correlogram"), default="mel",
                       help="feature kind")
    p.add_argument("--sr", type=int, default=None, help="resample to this rate (default: keep the file's)")
    p.add_argument("--frame-length", type=int, default=2048, help="samples per frame (the FFT size for mel)")
    p.add_argument("--hop-length", type=int, default=512, help="samples between frames")
    p.add_argument("--max-lag", type=int, default=None, help="lags kept (default: frame_length // 2)")
    if kind:
        p.add_argument("--n-mels", type=int, default=128, help="mel bands (kind mel)")
        p.add_argument("--lag-bins", type=int, default=64,
                       help="log-spaced lag bins per correlation curve; 0 keeps every lag")
        p.add_argument("--n-bands", type=int, default=32, help="frequency bands (kind correlogram)")
        p.add_argument("--fmin", type=float, default=50.0, help="lowest band edge in Hz (kind correlogram)")
        p.add_argument("--fmax", type=float, default=None, help="highest band edge in Hz (default: sr / 2)")
        p.add_argument("--top-db", type=float, default=80.0,
                       help="dynamic range kept below the clip's peak (mel clipping; silence gate for correlations)")
        p.add_argument("--duration", type=float, default=None,
                       help="pad or crop every file to this many seconds (ESC clips: 5)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audiorep", formatter_class=_Formatter,
        description="Learn representations from audio.\n\nExample: audiorep run")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name, func, help_text, example):
        p = sub.add_parser(name, help=help_text, description=f"{help_text}\n\nExample:\n  {example}",
                           formatter_class=_Formatter)
        p.set_defaults(func=func)
        return p

    command("demo", _demo, "compute the spectrum peak of an embedded test tone", "audiorep demo")

    p = command("extract", _extract, "extract features of a dataset into a Parquet store",
                "audiorep extract ../shared/data/esc10 -o esc10.parquet --kind mel --duration 5")
    p.add_argument("dataset", help="ESC-50 layout (meta/esc50.csv + audio/) or class folders 'NNN - Class/'")
    p.add_argument("-o", "--output", required=True, help="the store to write (.parquet)")
    _add_feature_options(p)
    p.add_argument("--chunk-seconds", type=float, default=None, help="split files into chunks of this length")
    p.add_argument("--workers", type=int, default=1, help="files processed in parallel")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = command("augment", _augment, "write speed-perturbed copies of a dataset's clips, for training only",
                "audiorep augment ../shared/data/esc10 -o esc10_speed/ --speeds 0.9 1.1")
    p.add_argument("dataset", help="the clips (any layout extract reads)")
    p.add_argument("-o", "--output", required=True, help="directory for the class folders of copies")
    p.add_argument("--speeds", type=float, nargs="+", default=[0.9, 1.1], metavar="FACTOR",
                   help="playback speeds in [0.5, 2] (pitch and tempo together); default 0.9 1.1")
    p.add_argument("--sr", type=int, default=None, help="sample rate of the copies (default: each clip's own)")
    p.add_argument("--no-progress", action="store_true")

    p = command("info", _info, "describe an audio file or a feature store", "audiorep info clip.ogg")
    p.add_argument("file")

    p = command("obj", _obj, "write the autocorrelogram of an audio file as a Wavefront OBJ mesh",
                "audiorep obj clip.ogg -o clip.obj")
    p.add_argument("audio")
    p.add_argument("-o", "--output", required=True)
    _add_feature_options(p, kind=False)
    p.add_argument("--normals", action="store_true", help="also write vertex normals")

    p = command("plot", _plot, "write waveform, 3-D autocorrelogram and spectrogram figures of a clip",
                "audiorep plot clip.ogg -o figures/")
    p.add_argument("audio")
    p.add_argument("-o", "--output", required=True, help="directory for the PNG and HTML files")
    _add_feature_options(p, kind=False)

    p = command("train", _train, "train a sequence-to-sequence autoencoder on a feature store",
                "audiorep train features.parquet -o ae.pt --epochs 64")
    p.add_argument("features")
    p.add_argument("-o", "--output", required=True, help="model file to write")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    p.add_argument("--bidirectional", action="store_true", help="bidirectional encoder")
    p.add_argument("--bidirectional-decoder", action="store_true",
                   help="bidirectional decoder (needs --teacher-forcing 1.0)")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--teacher-forcing", type=float, default=0.0, help="share of decoder steps fed the true frame")
    p.add_argument("--no-reverse", action="store_true", help="reconstruct in time order, not reversed")
    p.add_argument("--patience", type=int, default=10, help="epochs without held-out improvement before stopping")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--scaling", choices=("dimension", "global"), default="dimension",
                   help="standardise each feature dimension, or all with one mean and std")
    p.add_argument("--exclude-folds", type=int, nargs="+", default=None, metavar="FOLD",
                   help="train without the rows of these folds (for an autoencoder per cross-validation fold)")
    p.add_argument("--augment", nargs="+", default=None, metavar="STORE",
                   help="also train on altered copies of the clips (e.g. speed-perturbed), each named after its "
                        "clip (CLIP-anything.wav); copies of excluded or early-stopping clips are left out")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default: OUTPUT.ckpt)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--no-progress", action="store_true")

    p = command("represent", _represent, "encode a feature store into representations",
                "audiorep represent ae.pt features.parquet -o reps.parquet")
    p.add_argument("model")
    p.add_argument("features")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--device", default="cpu")

    p = command("pool", _pool, "summarise each row of a feature store by its mean and std over time "
                "(the no-autoencoder baseline)", "audiorep pool features.parquet -o stats.parquet")
    p.add_argument("features")
    p.add_argument("-o", "--output", required=True)

    p = command("evaluate", _evaluate, "cross-validate an MLP on representations (several files are fused)",
                "audiorep evaluate reps.parquet --repeats 5 --output-dir results/")
    p.add_argument("reps", nargs="+", type=Path,
                   help="representation stores, fused in order; {fold} in a file name (ae_x{fold}.parquet) "
                        "gives each held-out fold its own store, e.g. from an autoencoder trained without it")
    p.add_argument("--k", type=int, default=None, help="random stratified folds instead of the data's folds")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--augment", nargs="+", type=Path, default=None, metavar="STORE",
                   help="extra training rows (e.g. altered copies of the clips), one store per input, fused alike, "
                        "or several such groups, joined; rows from the held-out fold's clips are never used")
    _add_classifier_options(p)
    p.add_argument("--save-mlp", default=None, help="also train on all rows and save the classifier here")

    p = command("select", _select, "cross-validate choosing among candidate representations inside each "
                "training part (nested cross-validation)",
                "audiorep select mel=mel.parquet fused=mel.parquet,cg.parquet --output-dir results/")
    p.add_argument("candidates", nargs="+",
                   help="NAME=FILE[,FILE...]: a fusion of representation stores ({fold} as for evaluate); "
                        "without NAME= the text itself is the name")
    p.add_argument("--k", type=int, default=None, help="random stratified folds (drawn once) instead of the data's")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--inner-repeats", type=int, default=1, help="repeats of each inner cross-validation")
    p.add_argument("--augment", action="append", default=None, metavar="NAME=FILE[,FILE...]",
                   help="extra training rows for candidate NAME, as evaluate --augment (repeat for other "
                        "candidates); rows from a held-out fold's clips are never used, inside or outside")
    _add_classifier_options(p)

    p = command("export", _export, "export TorchScript files for deployment",
                "audiorep export ae.pt --mlp mlp.pt -o deploy/")
    p.add_argument("model")
    p.add_argument("--mlp", default=None)
    p.add_argument("-o", "--output", required=True)

    p = command("encode", _encode, "compress an audio file with the learned codec into an .arep file",
                "audiorep encode clip.ogg -o clip.arep --bitrate-target 4")
    p.add_argument("audio")
    p.add_argument("-o", "--output", required=True, help="the .arep file to write")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--bitrate-target", type=float, default=None, metavar="KBPS",
                      help="aim for this many kbit/s (default: --quality 50)")
    rate.add_argument("--quality", type=float, default=None, metavar="Q", help="0 (smallest) .. 100 (best)")
    p.add_argument("--model", default=None, help="codec model file (default: the one shipped with audiorep)")
    p.add_argument("--no-progress", action="store_true")

    p = command("decode", _decode, "decode an .arep file into a WAV file (at the input's rate unless --sr)",
                "audiorep decode clip.arep -o clip.wav --sr 44100")
    p.add_argument("arep")
    p.add_argument("-o", "--output", required=True, help="the WAV file to write")
    p.add_argument("--sr", type=int, default=None,
                   help="resample the decoded audio to this rate (default: the input's rate, recorded in the file; "
                        "16000 for files of format version 1)")
    p.add_argument("--model", default=None, help="the codec model that encoded the file (default: the shipped one)")

    p = command("serve", _serve, "run the web app: upload a clip, see its autocorrelogram, encode and decode it",
                "audiorep serve --port 8000")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (the default: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default=None, metavar="DEPLOYED_MODEL",
                   help="an 'audiorep export --mlp' directory: uploads also get the model's top-3 classes")
    p.add_argument("--model-features", default=None, metavar="STORE",
                   help="the feature store the model was trained on, for its feature settings "
                        "(when the export does not record them)")
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="largest upload accepted")
    p.add_argument("--jobs", type=int, default=2, help="jobs processed at once; the rest wait in a queue")
    p.add_argument("--max-queued", type=int, default=32, help="jobs that may wait; more uploads get HTTP 503")
    p.add_argument("--expire-minutes", type=float, default=60.0,
                   help="finished jobs and their files are kept this long")

    p = command("run", _run, "run the whole pipeline: extract, train, represent, evaluate, export",
                "audiorep run            # on the embedded synthetic dataset")
    p.add_argument("dataset", nargs="?", default=None, help="dataset directory (default: embedded example)")
    p.add_argument("-o", "--output", default="audiorep-run", help="working directory")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    return parser


# Set when Ctrl-C or SIGTERM arrives. The signal also raises KeyboardInterrupt, but where it lands
# in a C callback (soundfile reads files through cffi callbacks) the exception is swallowed; the
# long-running commands poll this event between blocks, so they stop all the same.
_CANCEL = threading.Event()


@contextlib.contextmanager
def _signals_cancel():
    """Treat Ctrl-C and SIGTERM alike: set the cancel event and raise KeyboardInterrupt."""
    def handler(signum, frame):
        _CANCEL.set()
        raise KeyboardInterrupt

    _CANCEL.clear()
    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) is signal.SIG_IGN:
                continue  # e.g. a background job: whoever ignored it meant it
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave the signals alone
        pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _CANCEL.clear()


class _QuietOnBrokenPipe:
    """A stdout that goes quiet, instead of raising, once its reader has gone (``audiorep ... | head``).

    The command carries on and writes its files; only the rest of its printed output is dropped.
    """

    def __init__(self, stream):
        self._stream = stream
        self._broken = False

    def _silence(self) -> None:
        self._broken = True
        with contextlib.suppress(AttributeError, OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)  # so that the final flush at exit cannot fail either
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def write(self, text):
        if not self._broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._silence()
        return len(text)

    def flush(self) -> None:
        if not self._broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._silence()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _dispatch(args) -> int:
    from .errors import AudiorepError, Cancelled

    try:
        return int(args.func(args) or 0)
    except Cancelled:
        raise  # reported by main, like Ctrl-C
    except (AudiorepError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        if _CANCEL.is_set():  # e.g. a read that failed because the signal interrupted it
            raise Cancelled(f"{args.command} was cancelled") from exc
        if log.isEnabledFor(logging.DEBUG):
            log.exception("failed")
        print(f"audiorep {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * args.verbose + 10 * args.quiet
    logging.basicConfig(level=min(max(logging.DEBUG, level), logging.CRITICAL), format="%(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .errors import Cancelled

    stdout, sys.stdout = sys.stdout, _QuietOnBrokenPipe(sys.stdout)
    try:
        with _signals_cancel():
            return _dispatch(args)
    except (KeyboardInterrupt, Cancelled):
        print(f"audiorep {args.command}: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        sys.stdout.flush()
        sys.stdout = stdout


if __name__ == "__main__":
    sys.exit(main())
