"""A small labelled set of synthetic sounds that ships with the package.

It lets ``audiorep run`` show the whole pipeline on a fresh install without any
download: four classes of sounds whose differences live in pitch, periodicity
and spectral shape, generated from a seed and written in the ESC-10 folder
layout (``NNN - Class/F-ID-T.wav``, fold = first character of the file name).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ._util import atomic_path

__all__ = ["CLASSES", "synthetic_clip", "write_synthetic_dataset"]

CLASSES = ("Harmonic tone", "Chirp", "Noise burst", "Click train")


def _envelope(n: int, rng: np.random.Generator) -> np.ndarray:
    attack = max(1, int(n * rng.uniform(0.01, 0.1)))
    release = max(1, int(n * rng.uniform(0.2, 0.6)))
    env = np.ones(n)
    env[:attack] = np.linspace(0.0, 1.0, attack)
    env[-release:] *= np.linspace(1.0, 0.0, release)
    return env


def synthetic_clip(label: int, *, sr: int = 16000, seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """Generate one clip of class ``CLASSES[label]`` as float32 in [-1, 1].

    Examples
    --------
    >>> from audiorep.examples import synthetic_clip
    >>> synthetic_clip(0, sr=8000, seconds=0.5, seed=1).shape
    (4000,)
    """
    if not 0 <= label < len(CLASSES):
        raise ValueError(f"label={label} must be in 0..{len(CLASSES) - 1}")
    rng = np.random.default_rng(seed)
    n = int(round(sr * seconds))
    t = np.arange(n) / sr
    if label == 0:  # harmonic stack with a random fundamental and spectral tilt
        f0 = rng.uniform(110.0, 440.0)
        tilt = rng.uniform(0.5, 1.5)
        y = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h**tilt
                for h in range(1, 9) if f0 * h < sr / 2)
        y = y * _envelope(n, rng)
    elif label == 1:  # exponential sweep between two random frequencies
        f_start, f_end = rng.uniform(200.0, 800.0), rng.uniform(1500.0, 0.45 * sr)
        if rng.random() < 0.5:
            f_start, f_end = f_end, f_start
        k = np.log(f_end / f_start) / seconds
        y = np.sin(2 * np.pi * f_start * (np.exp(k * t) - 1.0) / k) * _envelope(n, rng)
    elif label == 2:  # band-limited noise bursts
        y = np.zeros(n)
        for _ in range(rng.integers(2, 5)):
            length = int(n * rng.uniform(0.05, 0.25))
            start = rng.integers(0, n - length)
            burst = rng.standard_normal(length)
            spectrum = np.fft.rfft(burst)
            freqs = np.fft.rfftfreq(length, 1.0 / sr)
            centre, width = rng.uniform(500.0, 0.4 * sr), rng.uniform(200.0, 2000.0)
            spectrum *= np.exp(-0.5 * ((freqs - centre) / width) ** 2)
            burst = np.fft.irfft(spectrum, n=length) * np.hanning(length)
            y[start:start + length] += burst / (np.abs(burst).max() + 1e-12)
    else:  # periodic clicks: a pitch-less periodicity
        rate = rng.uniform(4.0, 40.0)
        y = np.zeros(n)
        click = np.exp(-np.arange(int(0.004 * sr)) / (0.0008 * sr)) * rng.choice([-1.0, 1.0])
        for start in (np.arange(0, seconds, 1.0 / rate) * sr).astype(int):
            end = min(n, start + len(click))
            y[start:end] += click[: end - start]
    y = y + 0.003 * rng.standard_normal(n)
    y = 0.8 * y / (np.abs(y).max() + 1e-12)
    return y.astype(np.float32)


def write_synthetic_dataset(root=None, *, clips_per_class: int = 10, n_folds: int = 5, sr: int = 16000,
                            seconds: float = 2.0, seed: int = 0) -> Path:
    """Write the synthetic dataset in the ESC-10 folder layout and return its root.

    With ``root=None`` a new temporary directory is used. Clips are spread evenly
    over ``n_folds`` folds; the fold is the first character of each file name.

    Examples
    --------
    >>> import tempfile
    >>> from audiorep.examples import write_synthetic_dataset
    >>> root = write_synthetic_dataset(tempfile.mkdtemp(), clips_per_class=5, seconds=0.25)
    >>> len(list(root.glob("*/*.wav")))
    20
    """
    import soundfile as sf

    root = Path(tempfile.mkdtemp(prefix="audiorep-example-")) if root is None else Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for label, name in enumerate(CLASSES):
        folder = root / f"{label + 1:03d} - {name}"
        folder.mkdir(exist_ok=True)
        for i in range(clips_per_class):
            fold = i % n_folds + 1
            clip_seed = seed * 1_000_003 + label * 1000 + i
            y = synthetic_clip(label, sr=sr, seconds=seconds, seed=clip_seed)
            with atomic_path(folder / f"{fold}-{label * 1000 + i:05d}-A.wav") as tmp:
                sf.write(tmp, y, sr, format="WAV", subtype="PCM_16")
    return root
