"""The pretrained reference: a frozen sound-effects CNN embedding, scored like audiorep's systems.

aisfx (Ma, Mehta, Kim, ISMIR 2022) ships its cross-dataset-trained CNN's weights inside its
wheel, so it runs offline. It is a reference for the results page, not a dependency of audiorep:

    pip install --no-deps aisfx==0.1.2     (it needs torch, numpy and librosa, which are here)

Each clip: aisfx's librosa mel spectrogram (44.1 kHz, 96 bands, 2048/1024) with its published
min-max normalisation, blocks of 100 frames (about 2.3 s) every 50 frames, one 512-d embedding
per block; the clip's representation is the mean and the max over its blocks (1024 values). It
is then scored on the dataset's own folds by a linear probe (standardise + softmax regression)
and by audiorep's MLP (2 x 150, dropout 0.4), 5 seeds each, with the same cross-validation as
`audiorep evaluate`.

Writes docs/results/aisfx_reference.json.

Usage: python scripts/aisfx_reference.py DATASET [-o docs/results/aisfx_reference.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from audiorep.datasets import load_dataset
from audiorep.evaluate import cross_validate

LINEAR = dict(hidden=(), dropout=0.0, epochs=300, lr=1e-2, weight_decay=1e-3)
MLP = dict(hidden=(150, 150), dropout=0.4, epochs=400, lr=1e-3)


def load_aisfx():
    import aisfx
    from aisfx.models.cnn2d import CrossNet, EmbeddingNet

    path = os.path.join(os.path.dirname(aisfx.__file__), "models", "checkpoint.pth")
    # The checkpoint pickles a (state_dict, {dataset: classes}) pair, so it needs weights_only=False;
    # it comes from the installed wheel, not from the network.
    weights, datasets = torch.load(path, map_location="cpu", weights_only=False)
    model = CrossNet(EmbeddingNet("max", 3, 1, 64), datasets, "cpu")
    model.load_state_dict(weights)
    return model.eval()


def embed(model, path: str) -> np.ndarray:
    from aisfx.inference import EMB_BLOCK_LENGTH, F_MAX, F_MIN, MEL_BINS, SAMPLE_RATE, SPEC_BLOCK_LENGTH, \
        SPEC_HOP_LENGTH
    from aisfx.preprocessing import blocking, compute_hopSize, spectrogram_normalize
    from aisfx.spectrogram.spectrogram_librosa import compute_spectrogram

    spec = compute_spectrogram(filename=path, sr=SAMPLE_RATE, block_size=SPEC_BLOCK_LENGTH,
                               hop_size=SPEC_HOP_LENGTH, n_mels=MEL_BINS, f_min=F_MIN, f_max=F_MAX).T
    spec = spectrogram_normalize(spec, spec_norm="original")
    blocks = blocking(spec, block_size=EMB_BLOCK_LENGTH, hop_size=compute_hopSize(EMB_BLOCK_LENGTH, 0.5, spec),
                      drop_partial_block=True)
    with torch.no_grad():
        out = model.get_embedding(torch.tensor(blocks, dtype=torch.float32)).numpy()
    return np.concatenate([out.mean(0), out.max(0)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("-o", "--output", default="docs/results/aisfx_reference.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset(args.dataset)
    model = load_aisfx()
    start = time.perf_counter()
    reps = np.stack([embed(model, str(inst.path)) for inst in data]).astype(np.float32)
    seconds = time.perf_counter() - start
    labels = np.array([inst.label_numeric for inst in data])
    folds = np.array([inst.fold for inst in data])
    doc = {"dataset": Path(args.dataset).name, "clips": len(data), "embedding_seconds": seconds,
           "representation": "aisfx 0.1.2 block embeddings (librosa spectrogram), mean and max over blocks",
           "command": f"python scripts/aisfx_reference.py {args.dataset}"}
    for name, settings in (("linear", LINEAR), ("mlp", MLP)):
        result = cross_validate(reps, labels, folds, repeats=5, seed=0, **settings)
        doc[name] = {"mean": result.mean, "std": result.std, "folds": result.fold_accuracies.mean(axis=0).tolist(),
                     "fold_ids": result.fold_ids, "settings": settings}
        print(f"{name}: {100 * result.mean:.1f} % +- {100 * result.std:.1f}", flush=True)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    print(f"wrote {out} ({seconds:.0f} s to embed {len(data)} clips)")


if __name__ == "__main__":
    main()
