"""The ``audiorep`` command line: argparse, printing, exit codes and signals.

Every command calls :mod:`audiorep.pipeline` (or the codec) and prints what it returns. Errors in
the input (an unreadable file, a bad parameter) print one line naming the problem and exit with
1; a cancelled run (Ctrl-C or SIGTERM) exits with 130. No file is ever left half written; a
command that writes several files keeps those it finished (``train`` its checkpoint,
``augment`` its copies, ``run`` its finished steps).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path

from . import cli_args, pipeline
from ._console import CANCEL as _CANCEL
from ._console import QuietStdout, signals_cancel
from .errors import ParameterError

log = logging.getLogger("audiorep")

EXIT_ERROR = 1
EXIT_CANCELLED = 130


def _progress(args) -> bool:
    """Progress bars only on a terminal, and never with --no-progress or -q."""
    return not (args.no_progress or _quiet(args) > 0 or not sys.stderr.isatty())


def _quiet(args) -> int:
    return getattr(args, "quiet", 0) + getattr(args, "sub_quiet", 0) - getattr(args, "verbose", 0) \
        - getattr(args, "sub_verbose", 0)


# ---------------------------------------------------------------- commands

def _demo(args) -> int:
    check = pipeline.self_check()
    print(f"test tone: {check['samples']} samples at {check['sr']} Hz")
    print(f"spectrum peak: bin {check['peak_bin']} = {check['peak_hz']:.1f} Hz (expected 440.0 Hz)")
    return 0


def _feature_params(args):
    from .features import FeatureParams

    return FeatureParams(**{name: getattr(args, name) for name in FeatureParams.__dataclass_fields__})


def _extract(args) -> int:
    params = _feature_params(args)
    report = pipeline.extract(args.dataset, args.output, params, workers=args.workers, strict=args.strict,
                              chunk_seconds=args.chunk_seconds, progress=_progress(args), cancel=_CANCEL,
                              scheduler=args.scheduler, partitioned=args.partitioned,
                              partition_files=args.partition_files)
    files = report.written and report.seconds
    rate = f"{report.written / report.seconds:.1f} files/s" if files else "-"
    print(f"wrote {report.written} rows to {report.path} ({params.kind}, {params.n_features} values per frame) "
          f"in {report.seconds:.1f} s ({rate})")
    if report.partitions:
        print(f"  {report.partitions} partitions" + (f", {report.resumed} finished by an earlier run"
                                                      if report.resumed else ""))
    if report.failed:
        print(f"{len(report.failed)} file(s) skipped (listed in {pipeline.failures_path(args.output)}):",
              file=sys.stderr)
        for name, reason in report.failed:
            print(f"  {name}: {reason}", file=sys.stderr)
        # A store that silently lacks files would skew every result built on it.
        return 0 if args.skip_bad else 1
    return 0


def _augment(args) -> int:
    report = pipeline.augment(args.dataset, args.output, speeds=args.speeds, sr=args.sr,
                              progress=_progress(args), cancel=_CANCEL)
    print(f"wrote {report.written} speed copies ({', '.join(f'{f}x' for f in args.speeds)}) under {report.path} "
          f"in {report.seconds:.1f} s")
    return 0


def _info(args) -> int:
    found = pipeline.describe(args.file)
    if found["kind"] in ("autoencoder", "classifier"):
        print(f"{args.file}: {found['kind']}, {found['parameters']} parameters")
        for key in ("config", "embedding_size", "label_names", "feature_params", "training"):
            if found.get(key) is not None:
                print(f"  {key}: " + json.dumps(found[key], sort_keys=True))
        return 0
    if found["kind"] == "audio":
        i = found["info"]
        print(f"{args.file}: {i.format}/{i.subtype}, {i.samplerate} Hz, {i.channels} channel(s), {i.frames} frames "
              f"({i.duration:.3f} s)")
        return 0
    print(f"{args.file}: feature store, {found['rows']} rows, {found['n_features']} values per frame")
    if found["frames"]:
        print(f"  frames per row: {found['frames'][0]}..{found['frames'][1]}")
    print(f"  folds: {found['n_folds']}; classes: {len(found['classes'])}")
    for k, (name, rows) in enumerate(found["classes"].items()):
        print(f"    {k}: {name} ({rows} rows)")
    print("  params: " + json.dumps(found["params"], sort_keys=True))
    return 0


def _obj(args) -> int:
    acg = pipeline.mesh(args.audio, args.output, sr=args.sr, frame_length=args.frame_length,
                        hop_length=args.hop_length, max_lag=args.max_lag, normals=args.normals)
    rows, cols = acg.values.shape
    print(f"wrote {args.output}: {rows} x {cols} height field ({rows * cols} vertices)")
    return 0


def _plot(args) -> int:
    paths = pipeline.figures(args.audio, args.output, sr=args.sr, frame_length=args.frame_length,
                             hop_length=args.hop_length, max_lag=args.max_lag)
    for name, p in paths.items():
        print(f"{name}: {p}")
    return 0


def _train(args) -> int:
    config = dict(units=args.units, layers=args.layers, cell=args.cell,
                  bidirectional_encoder=args.bidirectional, bidirectional_decoder=args.bidirectional_decoder,
                  dropout=args.dropout, reverse_targets=not args.no_reverse, teacher_forcing=args.teacher_forcing,
                  readout=args.readout, conv_channels=args.conv_channels, bottleneck_from=args.bottleneck_from)
    report = pipeline.train(args.features, args.output, config=config, exclude_folds=args.exclude_folds,
                            copies=args.augment, seed=args.seed, device=args.device, epochs=args.epochs,
                            batch_size=args.batch_size, lr=args.lr, patience=args.patience, scaling=args.scaling,
                            mask_time=args.mask_time, mask_freq=args.mask_freq, noise=args.noise,
                            contrastive=args.contrastive, reconstruction=args.reconstruction,
                            predictive=args.predictive, predict_ahead=args.predict_ahead,
                            checkpoint=args.checkpoint, resume=args.resume, progress=_progress(args),
                            cancel=_CANCEL)
    if report.rank:  # under torchrun, rank 0 reports for all
        return 0
    copies = f" and {report.copies} copies" if args.augment else ""
    history = report.history
    print(f"trained on {report.sequences} sequences{copies} of {report.frames} x {report.n_features} "
          f"in {report.seconds:.1f} s; best held-out loss {history['best_loss']:.4f} at epoch "
          f"{history['best_epoch']}; wrote {report.path}")
    return 0


def _represent(args) -> int:
    report = pipeline.represent(args.model, args.features, args.output, device=args.device, readout=args.readout)
    print(f"wrote {report.rows} representations of size {report.size} to {report.path}")
    return 0


def _pool(args) -> int:
    report = pipeline.pool(args.features, args.output)
    print(f"wrote {report.rows} mean+std summaries of size {report.size} to {report.path}")
    return 0


def _classifier_options(args) -> dict:
    return dict(hidden=tuple(args.hidden), dropout=args.dropout, epochs=args.epochs, lr=args.lr,
                ensemble=args.ensemble, seed=args.seed, device=args.device, output_dir=args.output_dir,
                progress=_progress(args))


def _print_result(report) -> None:
    result, names = report.result, report.label_names
    print(result)
    width = max(len(n) for n in names)
    print(f"  {'class':<{width}}  precision  recall")
    for name, p, r in zip(names, result.precision, result.recall):
        print(f"  {name:<{width}}  {100 * p:8.1f}%  {100 * r:5.1f}%")


def _evaluate(args) -> int:
    report = pipeline.evaluate(args.reps, copies=args.augment, k=args.k, repeats=args.repeats,
                               save_mlp=args.save_mlp, **_classifier_options(args))
    _print_result(report)
    if report.mlp:
        print(f"wrote the classifier trained on all rows to {report.mlp}")
    print("wrote " + ", ".join(str(p) for p in report.files.values()))
    return 0


def _parse_candidate(text: str) -> tuple[str, list[str]]:
    name, sep, files = text.partition("=")
    if not sep:
        name, files = text, text
    paths = [f for f in files.split(",") if f]
    if not name or not paths:
        raise ParameterError(f"candidate {text!r}: expected NAME=FILE[,FILE...] or FILE[,FILE...]")
    return name, paths


def _select(args) -> int:
    parsed = [_parse_candidate(c) for c in args.candidates]
    if len({name for name, _ in parsed}) != len(parsed):
        raise ParameterError(f"candidate names must be distinct: {[name for name, _ in parsed]}")
    candidates = dict(parsed)
    copies = {}
    for text in args.augment or []:
        name, paths = _parse_candidate(text)
        if name == text:
            raise ParameterError(f"--augment {text!r}: expected NAME=FILE[,FILE...]")
        if name not in candidates:
            raise ParameterError(f"--augment {text!r}: {name!r} is not a candidate")
        if name in copies:
            raise ParameterError(f"--augment {text!r}: {name!r} already has an --augment option")
        copies[name] = paths
    report = pipeline.select(candidates, copies=copies, k=args.k, repeats=args.repeats,
                             inner_repeats=args.inner_repeats, **_classifier_options(args))
    result = report.result
    for fold, choice in zip(result.fold_ids, result.selected):
        inner = ", ".join(f"{n} {100 * result.selection_scores[n][result.fold_ids.index(fold)]:.1f}%"
                          for n in result.selection_scores)
        print(f"fold {fold}: chose {choice} (inner accuracy: {inner})")
    _print_result(report)
    print("wrote " + ", ".join(str(p) for p in report.files.values()))
    return 0


def _export(args) -> int:
    first = Path(args.inputs[0])
    if len(args.inputs) == 1 and first.is_dir():
        paths = pipeline.export_run(first, args.output, system=args.system, progress=_progress(args), cancel=_CANCEL)
    else:
        paths = pipeline.export_system(args.inputs, args.output, autoencoder=args.autoencoder, features=args.features,
                                       copies=args.augment, seed=args.seed, hidden=tuple(args.hidden),
                                       dropout=args.dropout, epochs=args.epochs, lr=args.lr, device=args.device)
    model = pipeline.load_model(args.output)
    print(f"wrote {paths['system']} and {paths['manifest']}: {len(model.labels)} classes from "
          f"{', '.join(p['kind'] + ' ' + p['view'] for p in model.manifest['parts'])} at {model.sample_rate} Hz")
    return 0


def _predict(args) -> int:
    results = pipeline.predict(args.model, pipeline.audio_files(args.inputs), top=args.top, workers=args.workers,
                               progress=_progress(args), cancel=_CANCEL)
    failed = [r for r in results if r.error]
    for r in failed:
        print(f"audiorep predict: {r.error}", file=sys.stderr)
    text = pipeline.format_predictions(results, fmt=args.format, top=args.top)
    if args.output:
        from ._util import atomic_path

        with atomic_path(args.output) as tmp:
            tmp.write_text(text, encoding="utf-8")
        print(f"wrote {len(results) - len(failed)} predictions to {args.output}"
              + (f"; {len(failed)} file(s) failed" if failed else ""))
    else:
        sys.stdout.write(text)
    return EXIT_ERROR if failed else 0


def _encode(args) -> int:
    from .codec import encode

    info = encode(args.audio, args.output, bitrate=args.bitrate_target, quality=args.quality, model=args.model,
                  cancel=_CANCEL, progress=_progress(args))
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
    serve(host=args.host, port=args.port, model=args.model, max_upload_mb=args.max_upload_mb, jobs=args.jobs, max_queued=args.max_queued,
          expire_minutes=args.expire_minutes, announce=lambda url: print(f"serving {url} (Ctrl-C stops)", flush=True))
    return 0


def _run(args) -> int:
    recipe = None if args.recipe is None else pipeline.Recipe.load(args.recipe)
    if args.epochs is not None or args.speeds or args.classifier_speeds:
        base = recipe or (pipeline.Recipe.demo if args.dataset is None else pipeline.Recipe.default)()
        changes = {}
        if args.epochs is not None:
            changes["training"] = {**base.training, "epochs": args.epochs}
        if args.speeds:
            changes["speeds"] = tuple(args.speeds)
        if args.classifier_speeds:
            changes["classifier_speeds"] = tuple(args.classifier_speeds)
        recipe = dataclasses.replace(base, **changes)
    report = pipeline.run(args.dataset, args.output, recipe, workers=args.workers, seed=args.seed,
                          progress=_progress(args), cancel=_CANCEL, echo=print)
    for name, system in report.systems.items():
        print(f"{name:>12}: accuracy {100 * system['mean']:.1f}% +- {100 * system['std']:.1f}%")
    print(f"wrote {report.path} ({report.seconds:.0f} s)")
    return 0


def build_parser():
    """The parser of ``audiorep``'s command line, each command bound to its function here."""
    return cli_args.build_parser({
        "demo": _demo,
        "extract": _extract,
        "augment": _augment,
        "info": _info,
        "obj": _obj,
        "plot": _plot,
        "train": _train,
        "represent": _represent,
        "pool": _pool,
        "evaluate": _evaluate,
        "select": _select,
        "export": _export,
        "predict": _predict,
        "encode": _encode,
        "decode": _decode,
        "serve": _serve,
        "run": _run,
    })


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
    quiet = _quiet(args)
    level = min(max(logging.DEBUG, logging.WARNING + 10 * quiet), logging.CRITICAL)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s" if quiet < 0 else "%(levelname)s: %(message)s"
    logging.basicConfig(level=level, format=fmt)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .errors import Cancelled

    stdout, sys.stdout = sys.stdout, QuietStdout(sys.stdout, silent=quiet > 0)
    try:
        with signals_cancel():
            return _dispatch(args)
    except (KeyboardInterrupt, Cancelled):
        print(f"audiorep {args.command}: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        sys.stdout.flush()
        sys.stdout = stdout


if __name__ == "__main__":
    sys.exit(main())
