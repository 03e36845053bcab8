"""The ``audiorep`` command line: argparse, printing, exit codes and signals.

Every command calls :mod:`audiorep.pipeline` (or the codec) and prints what it returns. Errors in
the input (an unreadable file, a bad parameter) print one line naming the problem and exit with
1; a cancelled run (Ctrl-C or SIGTERM) exits with 130. No file is ever left half written; a
command that writes several files keeps those it finished (``train`` its checkpoint,
``augment`` its copies, ``run`` its finished steps).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from . import pipeline
from ._console import CANCEL as _CANCEL
from ._console import QuietStdout, signals_cancel
from .errors import ParameterError

log = logging.getLogger("audiorep")

EXIT_ERROR = 1
EXIT_CANCELLED = 130


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Shows an option's default once, where it has one worth showing (not for flags or None)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or "default" in text or action.required or default in (None, False, 0, [])
                or default is argparse.SUPPRESS or isinstance(action, (argparse._StoreTrueAction,
                                                                       argparse._CountAction))
                or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


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
                              scheduler=args.scheduler, partition_files=args.partition_files)
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
                  readout=args.readout, conv_channels=args.conv_channels)
    report = pipeline.train(args.features, args.output, config=config, exclude_folds=args.exclude_folds,
                            copies=args.augment, seed=args.seed, device=args.device, epochs=args.epochs,
                            batch_size=args.batch_size, lr=args.lr, patience=args.patience, scaling=args.scaling,
                            mask_time=args.mask_time, mask_freq=args.mask_freq, noise=args.noise,
                            contrastive=args.contrastive,
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
    recipe = None
    if args.epochs is not None or args.speeds or args.classifier_speeds:
        recipe = (pipeline.Recipe.demo if args.dataset is None else pipeline.Recipe.default)(epochs=args.epochs)
        recipe = dataclasses.replace(recipe, speeds=tuple(args.speeds or ()),
                                     classifier_speeds=tuple(args.classifier_speeds or ()))
    report = pipeline.run(args.dataset, args.output, recipe, workers=args.workers, seed=args.seed,
                          progress=_progress(args), cancel=_CANCEL, echo=print)
    for name, system in report.systems.items():
        print(f"{name:>12}: accuracy {100 * system['mean']:.1f}% +- {100 * system['std']:.1f}%")
    print(f"wrote {report.path} ({report.seconds:.0f} s)")
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


def _add_classifier_options(p, *, evaluation: bool = True) -> None:
    p.add_argument("--hidden", type=int, nargs="+", default=[150, 150], help="MLP hidden layer widths")
    p.add_argument("--dropout", type=float, default=0.4, help="MLP dropout")
    p.add_argument("--epochs", type=int, default=400, help="MLP training epochs (full batch)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=0, help="seeds the classifiers (and drawn folds)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    if evaluation:
        p.add_argument("--ensemble", type=int, default=1,
                       help="classifiers per fold (different seeds) whose probabilities are averaged")
        p.add_argument("--output-dir", default="evaluation", help="where confusion.txt/.png and cv.json go")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="audiorep", formatter_class=_Formatter,
        description="Learn representations from audio.\n\nExample: audiorep run")
    parser.add_argument("--version", action="version", version=f"audiorep {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    for where, prefix in ((parser, ""), (common, "sub_")):  # accepted before and after the command
        where.add_argument("-v", "--verbose", action="count", default=0, dest=f"{prefix}verbose",
                           help="more log output, with timestamps (-vv: debug)")
        where.add_argument("-q", "--quiet", action="count", default=0, dest=f"{prefix}quiet",
                           help="no progress bars, no summary, only errors")
    common.add_argument("--no-progress", action="store_true",
                        help="no progress bars (they are shown only on a terminal anyway)")

    def command(name, func, help_text, example):
        p = sub.add_parser(name, help=help_text, description=f"{help_text}\n\nExample:\n  {example}",
                           formatter_class=_Formatter, parents=[common])
        p.set_defaults(func=func)
        return p

    command("demo", _demo, "compute the spectrum peak of an embedded test tone", "audiorep demo")

    p = command("extract", _extract, "extract features of a dataset into a Parquet store",
                "audiorep extract ../shared/data/esc10 -o esc10.parquet --kind mel --duration 5")
    p.add_argument("dataset", help="ESC-50 layout (meta/esc50.csv + audio/) or class folders 'NNN - Class/'")
    p.add_argument("-o", "--output", required=True,
                   help="the store to write (.parquet; with --scheduler, a directory of part files)")
    _add_feature_options(p)
    p.add_argument("--chunk-seconds", type=float, default=None, help="split files into chunks of this length")
    p.add_argument("--workers", type=int, default=1, help="processes handling files at once (-1: one per core)")
    p.add_argument("--scheduler", default=None, metavar="local:N|tcp://HOST:PORT",
                   help="run on Dask (pip install 'audiorep[dask]'): N worker processes here, or the cluster of "
                        "that scheduler; an interrupted run started again skips the finished partitions")
    p.add_argument("--partition-files", type=int, default=256, help="files per partition (part file) with --scheduler")
    bad = p.add_mutually_exclusive_group()
    bad.add_argument("--strict", action="store_true", help="stop at the first unreadable file")
    bad.add_argument("--skip-bad", action="store_true",
                     help="exit 0 when unreadable files were skipped (they are listed beside the store either way)")

    p = command("augment", _augment, "write speed-perturbed copies of a dataset's clips, for training only",
                "audiorep augment ../shared/data/esc10 -o esc10_speed/ --speeds 0.9 1.1")
    p.add_argument("dataset", help="the clips (any layout extract reads)")
    p.add_argument("-o", "--output", required=True, help="directory for the class folders of copies")
    p.add_argument("--speeds", type=float, nargs="+", default=[0.9, 1.1], metavar="FACTOR",
                   help="playback speeds in [0.5, 2] (pitch and tempo together); default 0.9 1.1")
    p.add_argument("--sr", type=int, default=None, help="sample rate of the copies (default: each clip's own)")

    p = command("info", _info, "describe an audio file, a feature store or a model file", "audiorep info clip.ogg")
    p.add_argument("file", help="an audio file, a feature store (.parquet file or partitioned directory) or a model "
                               "written by audiorep")

    p = command("obj", _obj, "write the autocorrelogram of an audio file as a Wavefront OBJ mesh",
                "audiorep obj clip.ogg -o clip.obj")
    p.add_argument("audio", help="the audio file")
    p.add_argument("-o", "--output", required=True, help="the OBJ file to write")
    _add_feature_options(p, kind=False)
    p.add_argument("--normals", action="store_true", help="also write vertex normals")

    p = command("plot", _plot, "write waveform, 3-D autocorrelogram and spectrogram figures of a clip",
                "audiorep plot clip.ogg -o figures/")
    p.add_argument("audio", help="the audio file")
    p.add_argument("-o", "--output", required=True, help="directory for the PNG and HTML files")
    _add_feature_options(p, kind=False)

    p = command("train", _train, "train a sequence-to-sequence autoencoder on a feature store (on N processes: "
                "torchrun --nproc_per_node=N -m audiorep train ...)",
                "audiorep train features.parquet -o ae.pt --epochs 64")
    p.add_argument("features", help="the feature store to learn from")
    p.add_argument("-o", "--output", required=True, help="model file to write")
    p.add_argument("--epochs", type=int, default=50, help="most epochs (early stopping may end sooner)")
    p.add_argument("--batch-size", type=int, default=64,
                   help="sequences per step, over all processes under torchrun (a multiple of their number)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--layers", type=int, default=2, help="stacked recurrent layers in encoder and decoder")
    p.add_argument("--units", type=int, default=256, help="units per recurrent layer and direction")
    p.add_argument("--cell", choices=("lstm", "gru"), default="lstm", help="recurrent cell")
    p.add_argument("--bidirectional", action="store_true", help="bidirectional encoder")
    p.add_argument("--bidirectional-decoder", action="store_true",
                   help="bidirectional decoder (needs --teacher-forcing 1.0)")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout between layers and before the output")
    p.add_argument("--teacher-forcing", type=float, default=0.0, help="share of decoder steps fed the true frame")
    p.add_argument("--no-reverse", action="store_true", help="reconstruct in time order, not reversed")
    p.add_argument("--patience", type=int, default=10, help="epochs without held-out improvement before stopping")
    p.add_argument("--seed", type=int, default=0, help="seeds initialisation, the held-out split and shuffling")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--scaling", choices=("dimension", "global"), default="dimension",
                   help="standardise each feature dimension, or all with one mean and std")
    p.add_argument("--readout", choices=("final", "pooled", "pooled+final"), default="final",
                   help="the representation: the final encoder state (bottleneck), or mean, std and max over "
                        "time of the encoder's outputs, or both")
    p.add_argument("--conv-channels", type=int, nargs="+", default=None, metavar="C",
                   help="convolutional front end: channels of each 3x3 conv block before the encoder RNN")
    p.add_argument("--mask-time", type=float, default=0.0,
                   help="denoising: share of frames masked (in spans) in the encoder's input")
    p.add_argument("--mask-freq", type=float, default=0.0,
                   help="denoising: share of feature dimensions masked (in spans) in the encoder's input")
    p.add_argument("--noise", type=float, default=0.0, help="denoising: std of Gaussian noise on the standardised input")
    p.add_argument("--contrastive", type=float, default=0.0,
                   help="weight of a contrastive term: two cropped, masked views of each clip must recognise "
                        "each other through the pooled encoder outputs (0: none)")
    p.add_argument("--exclude-folds", type=int, nargs="+", default=None, metavar="FOLD",
                   help="train without the rows of these folds (for an autoencoder per cross-validation fold)")
    p.add_argument("--augment", nargs="+", default=None, metavar="STORE",
                   help="also train on altered copies of the clips (stores extracted from 'audiorep augment' "
                        "output); each is matched to its clip by the origin recorded with it, and copies of "
                        "excluded or early-stopping clips are left out")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default: OUTPUT.ckpt)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")

    p = command("represent", _represent, "encode a feature store into representations",
                "audiorep represent ae.pt features.parquet -o reps.parquet")
    p.add_argument("model", help="the autoencoder model file")
    p.add_argument("features", help="the feature store to encode (extracted like the model's)")
    p.add_argument("-o", "--output", required=True, help="the representation store to write")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--readout", choices=("final", "pooled", "pooled+final"), default=None,
                   help="read the encoder this way instead of the model's own readout")

    p = command("pool", _pool, "summarise each row of a feature store by its mean and std over time "
                "(the no-autoencoder baseline)", "audiorep pool features.parquet -o stats.parquet")
    p.add_argument("features", help="the feature store to summarise")
    p.add_argument("-o", "--output", required=True, help="the representation store to write")

    p = command("evaluate", _evaluate, "cross-validate an MLP on representations (several files are fused)",
                "audiorep evaluate reps.parquet --repeats 5 --output-dir results/")
    p.add_argument("reps", nargs="+", type=Path,
                   help="representation stores, fused in order; {fold} in a file name (ae_x{fold}.parquet) "
                        "gives each held-out fold its own store, e.g. from an autoencoder trained without it")
    p.add_argument("--k", type=int, default=None, help="random stratified folds instead of the data's folds")
    p.add_argument("--repeats", type=int, default=5, help="repeats of the cross-validation (seeds)")
    p.add_argument("--augment", nargs="+", type=Path, default=None, metavar="STORE",
                   help="extra training rows (altered copies of the clips, from 'audiorep augment'), one store per "
                        "input, fused alike, or several such groups, joined; each copy takes its clip's fold and "
                        "label, and copies of the held-out fold's clips are never used")
    _add_classifier_options(p)
    p.add_argument("--save-mlp", default=None, help="also train on all rows and save the classifier here")

    p = command("select", _select, "cross-validate choosing among candidate representations inside each "
                "training part (nested cross-validation)",
                "audiorep select mel=mel.parquet fused=mel.parquet,cg.parquet --output-dir results/")
    p.add_argument("candidates", nargs="+",
                   help="NAME=FILE[,FILE...]: a fusion of representation stores ({fold} as for evaluate); "
                        "without NAME= the text itself is the name")
    p.add_argument("--k", type=int, default=None, help="random stratified folds (drawn once) instead of the data's")
    p.add_argument("--repeats", type=int, default=5, help="repeats of the cross-validation (seeds)")
    p.add_argument("--inner-repeats", type=int, default=1, help="repeats of each inner cross-validation")
    p.add_argument("--augment", action="append", default=None, metavar="NAME=FILE[,FILE...]",
                   help="extra training rows for candidate NAME, as evaluate --augment (repeat for other "
                        "candidates); rows from a held-out fold's clips are never used, inside or outside")
    _add_classifier_options(p)

    p = command("export", _export, "export an evaluated system (or one of a run's) as a deployable model",
                "audiorep export audiorep-run/ -o deploy/   # or: audiorep export pool_mel.parquet "
                "ae_x{fold}.parquet --autoencoder ae.pt --features mel.parquet -o deploy/")
    p.add_argument("inputs", nargs="+",
                   help="the representation stores of the system, as given to evaluate (at most one learned), "
                        "or the directory of an 'audiorep run'")
    p.add_argument("-o", "--output", required=True, help="directory for system.pt and model.json")
    p.add_argument("--system", choices=("learned", "pooled", "fused"), default="fused",
                   help="with a run directory: which of its systems")
    p.add_argument("--autoencoder", default=None,
                   help="the model of the learned input (for a {fold} store: one trained on every fold)")
    p.add_argument("--features", default=None, help="the feature store that autoencoder reads (with a {fold} store)")
    p.add_argument("--augment", nargs="+", default=None, metavar="STORE",
                   help="extra training rows for the classifier, as evaluate --augment")
    _add_classifier_options(p, evaluation=False)

    p = command("predict", _predict, "classify audio files with a deployed model",
                "audiorep predict deploy/ new_clips/ -o predictions.csv --top 3")
    p.add_argument("model", help="a deployed model (the directory audiorep export wrote)")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR", help="audio files, or folders searched for them")
    p.add_argument("-o", "--output", default=None, help="write the predictions here (default: standard output)")
    p.add_argument("--top", type=int, default=3, help="classes listed per file, most probable first")
    p.add_argument("--workers", type=int, default=1, help="files whose features are computed at once (-1: all cores)")
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="output format")

    p = command("encode", _encode, "compress an audio file with the learned codec into an .arep file",
                "audiorep encode clip.ogg -o clip.arep --bitrate-target 4")
    p.add_argument("audio", help="the audio file to compress")
    p.add_argument("-o", "--output", required=True, help="the .arep file to write")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--bitrate-target", type=float, default=None, metavar="KBPS",
                      help="aim for this many kbit/s (default: --quality 50)")
    rate.add_argument("--quality", type=float, default=None, metavar="Q", help="0 (smallest) .. 100 (best)")
    p.add_argument("--model", default=None, help="codec model file (default: the one shipped with audiorep)")

    p = command("decode", _decode, "decode an .arep file into a WAV file (at the input's rate unless --sr)",
                "audiorep decode clip.arep -o clip.wav --sr 44100")
    p.add_argument("arep", help="the .arep file")
    p.add_argument("-o", "--output", required=True, help="the WAV file to write")
    p.add_argument("--sr", type=int, default=None,
                   help="resample the decoded audio to this rate (default: the input's rate, recorded in the file; "
                        "16000 for files of format version 1)")
    p.add_argument("--model", default=None, help="the codec model that encoded the file (default: the shipped one)")

    p = command("serve", _serve, "run the web app: upload a clip, see its autocorrelogram, encode and decode it",
                "audiorep serve --port 8000")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (the default: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.add_argument("--model", default=None, metavar="DEPLOYED_MODEL",
                   help="an 'audiorep export' directory: uploads also get the model's top-3 classes")
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="largest upload accepted")
    p.add_argument("--jobs", type=int, default=2, help="jobs processed at once; the rest wait in a queue")
    p.add_argument("--max-queued", type=int, default=32, help="jobs that may wait; more uploads get HTTP 503")
    p.add_argument("--expire-minutes", type=float, default=60.0,
                   help="finished jobs and their files are kept this long")

    p = command("run", _run, "run the whole pipeline: extract, train, represent, evaluate, export",
                "audiorep run            # on the embedded synthetic dataset")
    p.add_argument("dataset", nargs="?", default=None, help="dataset directory (default: embedded example)")
    p.add_argument("-o", "--output", default="audiorep-run", help="working directory")
    p.add_argument("--epochs", type=int, default=None, help="autoencoder epochs (default: the recipe's)")
    p.add_argument("--speeds", type=float, nargs="+", metavar="S",
                   help="speed-perturbed copies of every clip that join autoencoder training")
    p.add_argument("--classifier-speeds", type=float, nargs="+", metavar="S",
                   help="speed-perturbed copies of every clip that join the classifier's training folds "
                        "(never the fold of their own clip)")
    p.add_argument("--workers", type=int, default=1,
                   help="autoencoders trained side by side, one process each (-1: one per core)")
    p.add_argument("--seed", type=int, default=0, help="seeds the autoencoders and the classifiers")
    return parser


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
