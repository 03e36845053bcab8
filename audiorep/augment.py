"""Training-time data augmentation: altered copies of a dataset's clips.

A speed-perturbed copy plays a clip faster or slower, pitch and tempo together, like a tape
run at another speed: the clip is resampled to ``sr / factor`` and played back at ``sr``.
Copies keep their clip's class and fold: they are written in the class-folder layout
(``NNN - Class/``), named after their clip (``1-100032-A.ogg`` ->
``1-100032-A-speed0.9.wav``), so the fold digit stays first and ``audiorep train --augment``
can tell which clip each copy comes from. They are meant for training only; the
cross-validation commands keep every copy out of the fold its clip is tested in.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ._util import atomic_path, positive_int
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
    from .dsp import _positive_number

    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind != "f":
        raise ParameterError(f"y must be a 1-D float array, got {y.dtype} {y.shape}")
    sr = _positive_number(sr, "sr")
    if len(y) == 0:
        return np.zeros(0, np.float32)
    return soxr.resample(y, sr, sr / factor, quality="HQ").astype(np.float32)


def copy_name(filename: str, factor: float) -> str:
    """The file name of a speed copy of ``filename``: ``'1-100032-A.ogg' -> '1-100032-A-speed0.9.wav'``."""
    return f"{Path(filename).stem}-speed{factor}.wav"


def write_speed_copies(dataset, out_dir, factors: Sequence[float] = (0.9, 1.1), *, sr: int | None = None,
                       progress: bool = False, cancel=None) -> int:
    """Write speed-perturbed copies of every clip of a dataset; return how many files were written.

    Parameters
    ----------
    dataset : path or :class:`audiorep.datasets.Dataset`
        The clips (any layout :func:`audiorep.datasets.load_dataset` reads).
    out_dir : path
        Where the class folders of copies go. Existing copies are kept, so an interrupted run
        can be restarted; each file is written atomically.
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
    >>> root = write_synthetic_dataset(tempfile.mkdtemp(), clips_per_class=1, seconds=0.5, sr=8000)
    >>> write_speed_copies(root, tempfile.mkdtemp(), factors=[0.9, 1.1])
    8
    """
    import soundfile as sf
    from tqdm.auto import tqdm

    from .audio import load
    from .datasets import Dataset, load_dataset

    factors = _check_factors(factors)
    if sr is not None:
        sr = positive_int(sr, "sr")
    if not isinstance(dataset, Dataset):
        dataset = load_dataset(dataset)
    if any(inst.source != "audio" for inst in dataset.instances):
        raise ParameterError("speed copies need audio files, not meshes")
    out_dir = Path(out_dir)
    written = 0
    for inst in tqdm(dataset.instances, desc="speed copies", unit="clip", disable=not progress):
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"speed copies cancelled after {written} files")
        folder = out_dir / f"{inst.label_numeric + 1:03d} - {inst.label_nominal}"
        targets = {f: folder / copy_name(inst.filename, f) for f in factors}
        todo = [f for f, target in targets.items() if not target.exists()]
        if not todo:
            continue
        y, rate = load(inst.path, sr=sr)
        folder.mkdir(parents=True, exist_ok=True)
        for factor in todo:
            with atomic_path(targets[factor]) as tmp:
                sf.write(tmp, speed_perturb(y, rate, factor), rate, format="WAV", subtype="FLOAT")
            written += 1
    return written
