"""The command line's arguments: every command, its options and their help (:mod:`audiorep.cli` runs them)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path

from .features import KINDS


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


def _add_feature_options(p, *, kind=True):
    if kind:
        p.add_argument("--kind", choices=KINDS, default="mel",
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


def build_parser(handlers: Mapping[str, Callable]) -> argparse.ArgumentParser:
    """The argument parser of every command; ``handlers[name]`` runs the command ``name``."""
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

    def command(name, help_text, example):
        p = sub.add_parser(name, help=help_text, description=f"{help_text}\n\nExample:\n  {example}",
                           formatter_class=_Formatter, parents=[common])
        p.set_defaults(func=handlers[name])
        return p

    command("demo", "compute the spectrum peak of an embedded test tone", "audiorep demo")

    p = command("extract", "extract features of a dataset into a Parquet store",
                "audiorep extract ../shared/data/esc10 -o esc10.parquet --kind mel --duration 5")
    p.add_argument("dataset", help="ESC-50 layout (meta/esc50.csv + audio/) or class folders 'NNN - Class/'")
    p.add_argument("-o", "--output", required=True,
                   help="the store to write (.parquet; with --partitioned or --scheduler, a directory of part files)")
    _add_feature_options(p)
    p.add_argument("--chunk-seconds", type=float, default=None, help="split files into chunks of this length")
    p.add_argument("--workers", type=int, default=1, help="processes handling files at once (-1: one per core)")
    p.add_argument("--scheduler", default=None, metavar="local:N|tcp://HOST:PORT",
                   help="run on Dask (pip install 'audiorep[dask]'): N worker processes here, or the cluster of "
                        "that scheduler; an interrupted run started again skips the finished partitions")
    p.add_argument("--partitioned", action="store_true",
                   help="write a partitioned store: every worker writes its own parts (faster with --workers), and "
                        "an interrupted run started again skips the finished partitions")
    p.add_argument("--partition-files", type=int, default=64, help="files per partition (part file) of a partitioned "
                                                                    "store")
    bad = p.add_mutually_exclusive_group()
    bad.add_argument("--strict", action="store_true", help="stop at the first unreadable file")
    bad.add_argument("--skip-bad", action="store_true",
                     help="exit 0 when unreadable files were skipped (they are listed beside the store either way)")

    p = command("augment", "write speed-perturbed copies of a dataset's clips, for training only",
                "audiorep augment ../shared/data/esc10 -o esc10_speed/ --speeds 0.9 1.1")
    p.add_argument("dataset", help="the clips (any layout extract reads)")
    p.add_argument("-o", "--output", required=True, help="directory for the class folders of copies")
    p.add_argument("--speeds", type=float, nargs="+", default=[0.9, 1.1], metavar="FACTOR",
                   help="playback speeds in [0.5, 2] (pitch and tempo together); default 0.9 1.1")
    p.add_argument("--sr", type=int, default=None, help="sample rate of the copies (default: each clip's own)")

    p = command("info", "describe an audio file, a feature store or a model file", "audiorep info clip.ogg")
    p.add_argument("file", help="an audio file, a feature store (.parquet file or partitioned directory) or a model "
                               "written by audiorep")

    p = command("obj", "write the autocorrelogram of an audio file as a Wavefront OBJ mesh",
                "audiorep obj clip.ogg -o clip.obj")
    p.add_argument("audio", help="the audio file")
    p.add_argument("-o", "--output", required=True, help="the OBJ file to write")
    _add_feature_options(p, kind=False)
    p.add_argument("--normals", action="store_true", help="also write vertex normals")

    p = command("plot", "write waveform, 3-D autocorrelogram and spectrogram figures of a clip",
                "audiorep plot clip.ogg -o figures/")
    p.add_argument("audio", help="the audio file")
    p.add_argument("-o", "--output", required=True, help="directory for the PNG and HTML files")
    _add_feature_options(p, kind=False)

    p = command("train", "train a sequence-to-sequence autoencoder on a feature store (on N processes: "
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
    p.add_argument("--bottleneck-from", choices=("final", "pooled"), default="final",
                   help="what the decoder starts from: the final encoder states, or the pooled outputs (mean, std, "
                        "max over time), so that reconstruction trains what the pooled readout returns")
    p.add_argument("--mask-time", type=float, default=0.0,
                   help="denoising: share of frames masked (in spans) in the encoder's input")
    p.add_argument("--mask-freq", type=float, default=0.0,
                   help="denoising: share of feature dimensions masked (in spans) in the encoder's input")
    p.add_argument("--noise", type=float, default=0.0, help="denoising: std of Gaussian noise on the standardised input")
    p.add_argument("--contrastive", type=float, default=0.0,
                   help="weight of a contrastive term: two cropped, masked views of each clip must recognise "
                        "each other through the pooled encoder outputs (0: none)")
    p.add_argument("--reconstruction", type=float, default=1.0,
                   help="weight of the reconstruction loss; 0 trains the encoder on the other terms alone")
    p.add_argument("--predictive", type=float, default=0.0,
                   help="weight of a predictive term (autoregressive predictive coding): each step's encoder output "
                        "predicts the input frame --predict-ahead steps later")
    p.add_argument("--predict-ahead", type=int, default=3, help="frames ahead that the predictive term predicts")
    p.add_argument("--exclude-folds", type=int, nargs="+", default=None, metavar="FOLD",
                   help="train without the rows of these folds (for an autoencoder per cross-validation fold)")
    p.add_argument("--augment", nargs="+", default=None, metavar="STORE",
                   help="also train on altered copies of the clips (stores extracted from 'audiorep augment' "
                        "output); each is matched to its clip by the origin recorded with it, and copies of "
                        "excluded or early-stopping clips are left out")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default: OUTPUT.ckpt)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")

    p = command("represent", "encode a feature store into representations",
                "audiorep represent ae.pt features.parquet -o reps.parquet")
    p.add_argument("model", help="the autoencoder model file")
    p.add_argument("features", help="the feature store to encode (extracted like the model's)")
    p.add_argument("-o", "--output", required=True, help="the representation store to write")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--readout", choices=("final", "pooled", "pooled+final"), default=None,
                   help="read the encoder this way instead of the model's own readout")

    p = command("pool", "summarise each row of a feature store by its mean and std over time "
                "(the no-autoencoder baseline)", "audiorep pool features.parquet -o stats.parquet")
    p.add_argument("features", help="the feature store to summarise")
    p.add_argument("-o", "--output", required=True, help="the representation store to write")

    p = command("evaluate", "cross-validate an MLP on representations (several files are fused)",
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

    p = command("select", "cross-validate choosing among candidate representations inside each "
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

    p = command("export", "export an evaluated system (or one of a run's) as a deployable model",
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

    p = command("predict", "classify audio files with a deployed model",
                "audiorep predict deploy/ new_clips/ -o predictions.csv --top 3")
    p.add_argument("model", help="a deployed model (the directory audiorep export wrote)")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR", help="audio files, or folders searched for them")
    p.add_argument("-o", "--output", default=None, help="write the predictions here (default: standard output)")
    p.add_argument("--top", type=int, default=3, help="classes listed per file, most probable first")
    p.add_argument("--workers", type=int, default=1, help="files whose features are computed at once (-1: all cores)")
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="output format")

    p = command("encode", "compress an audio file with the learned codec into an .arep file",
                "audiorep encode clip.ogg -o clip.arep --bitrate-target 4")
    p.add_argument("audio", help="the audio file to compress")
    p.add_argument("-o", "--output", required=True, help="the .arep file to write")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--bitrate-target", type=float, default=None, metavar="KBPS",
                      help="aim for this many kbit/s (default: --quality 50)")
    rate.add_argument("--quality", type=float, default=None, metavar="Q", help="0 (smallest) .. 100 (best)")
    p.add_argument("--model", default=None, help="codec model file (default: the one shipped with audiorep)")

    p = command("decode", "decode an .arep file into a WAV file (at the input's rate unless --sr)",
                "audiorep decode clip.arep -o clip.wav --sr 44100")
    p.add_argument("arep", help="the .arep file")
    p.add_argument("-o", "--output", required=True, help="the WAV file to write")
    p.add_argument("--sr", type=int, default=None,
                   help="resample the decoded audio to this rate (default: the input's rate, recorded in the file; "
                        "16000 for files of format version 1)")
    p.add_argument("--model", default=None, help="the codec model that encoded the file (default: the shipped one)")

    p = command("serve", "run the web app: upload a clip, see its autocorrelogram, encode and decode it",
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

    p = command("run", "run the whole pipeline: extract, train, represent, evaluate, export",
                "audiorep run            # on the embedded synthetic dataset")
    p.add_argument("dataset", nargs="?", default=None, help="dataset directory (default: embedded example)")
    p.add_argument("-o", "--output", default="audiorep-run", help="working directory")
    p.add_argument("--recipe", metavar="JSON", default=None,
                   help="run this recipe (a JSON object of Recipe's settings, or a run's recipe.json) instead of "
                        "the default; the options below change it")
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
