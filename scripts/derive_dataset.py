"""Derive a variant of a labelled audio dataset, to check a recipe beyond the recordings it was chosen on.

Every audio file under SRC is read, mixed to mono (audiorep.audio.load) and written as 16-bit WAV under DST at the same
relative path (so folder labels and fold numbers in file names carry over), after either or both of:

  --sr RATE        resampling to RATE Hz (soxr, high quality): RATE = 16000 keeps 8 kHz of bandwidth
  --crop SECONDS   keeping the SECONDS-long window with the most energy (clips shorter than that are
                   kept whole)

Usage:
  python scripts/derive_dataset.py ../shared/data/esc10 /tmp/esc10_16k --sr 16000
  python scripts/derive_dataset.py ../shared/data/esc10 /tmp/esc10_2s --crop 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from audiorep.audio import load
from audiorep.datasets import AUDIO_EXTENSIONS


def loudest_window(y: np.ndarray, length: int) -> np.ndarray:
    """The ``length``-sample window of ``y`` with the largest energy (``y`` itself when shorter)."""
    if y.size <= length:
        return y
    energy = np.concatenate([[0.0], np.cumsum(y.astype(np.float64) ** 2)])
    start = int(np.argmax(energy[length:] - energy[:-length]))
    return y[start:start + length]


def derive(src: Path, dst: Path, sr: int | None, crop: float | None) -> int:
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise SystemExit(f"no audio files under {src}")
    for path in files:
        y, rate = load(path, sr=sr)  # mono, resampled with soxr "HQ" when sr is given
        if crop is not None:
            y = loudest_window(y, int(round(crop * rate)))
        out = dst / path.relative_to(src).with_suffix(".wav")
        out.parent.mkdir(parents=True, exist_ok=True)
        sf.write(out, np.clip(y, -1.0, 1.0), rate, subtype="PCM_16")
    return len(files)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--sr", type=int, default=None, help="resample to this rate (Hz)")
    parser.add_argument("--crop", type=float, default=None, help="keep the loudest window of this many seconds")
    args = parser.parse_args(argv)
    if args.sr is None and args.crop is None:
        parser.error("give --sr, --crop or both")
    for path in (args.src / "README.md", args.src / "LICENSE"):
        if path.exists():
            (args.dst / path.name).parent.mkdir(parents=True, exist_ok=True)
            (args.dst / path.name).write_bytes(path.read_bytes())
    print(f"wrote {derive(args.src, args.dst, args.sr, args.crop)} files under {args.dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
