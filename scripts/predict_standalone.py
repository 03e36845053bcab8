"""Classify audio files with a deployed audiorep system, without audiorep installed.

Needs only torch, numpy, soundfile, soxr and librosa. The deployed directory (``audiorep
export`` or ``audiorep run``) holds ``system.pt``, a TorchScript module, and ``model.json``,
whose ``views`` give the exact feature settings. For a log-mel view they mean:

1. read the file with soundfile as float32 and average the channels (mono);
2. resample to ``sr`` with soxr, quality "HQ", when the file's rate differs;
3. if ``duration`` is set, crop or zero-pad to ``round(duration * sr)`` samples;
4. power mel spectrogram as librosa computes it: ``n_fft=frame_length``, ``hop_length``,
   ``n_mels``, ``fmin=0``, ``fmax`` (None: sr/2), Hann window, centred frames with zero padding,
   Slaney mel scale and area normalisation;
5. decibels relative to the clip's own peak, floored ``top_db`` below it:
   ``librosa.power_to_db(S, ref=np.max, amin=1e-10, top_db=top_db)``;
6. transpose to ``(frames, n_mels)`` float32.

The module takes ``{view name: tensor (1, frames, features)}`` and returns class
probabilities in the order of ``model.json``'s ``label_names``. Correlogram views are computed
by audiorep's own kernels and are not rebuilt here; a system that uses one is refused.

Usage: python predict_standalone.py DEPLOY_DIR FILE [FILE ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import soxr
import torch


def log_mel(y: np.ndarray, view: dict) -> np.ndarray:
    sr = view["sr"]
    if view.get("duration"):
        n = int(round(view["duration"] * sr))
        y = y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=view["frame_length"], hop_length=view["hop_length"],
                                       n_mels=view["n_mels"], fmin=0.0, fmax=view.get("fmax"), power=2.0,
                                       window="hann", center=True, pad_mode="constant", htk=False, norm="slaney")
    db = librosa.power_to_db(S, ref=np.max, amin=1e-10, top_db=view["top_db"])
    return np.ascontiguousarray(db.T, dtype=np.float32)


def load_audio(path: str, sr: int) -> np.ndarray:
    y, rate = sf.read(path, dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if rate != sr:
        y = soxr.resample(y, rate, sr, quality="HQ").astype(np.float32)
    return y


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    deploy = Path(argv[0])
    manifest = json.loads((deploy / "model.json").read_text())
    others = sorted(name for name, view in manifest["views"].items() if view["kind"] != "mel")
    if others:
        print(f"{deploy}: views {others} need audiorep's kernels; only log-mel views are rebuilt here",
              file=sys.stderr)
        return 2
    system = torch.jit.load(str(deploy / "system.pt"), map_location="cpu").eval()
    labels = manifest["label_names"]
    print("path,label,probability")
    for path in argv[1:]:
        y = load_audio(path, manifest["sample_rate"])
        views = {name: torch.from_numpy(log_mel(y, view))[None] for name, view in manifest["views"].items()}
        with torch.no_grad():
            probs = system(views)[0].double().numpy()
        best = int(np.argmax(probs))
        print(f"{path},{labels[best]},{probs[best]:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
