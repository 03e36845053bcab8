"""How the representation evolves while the autoencoder trains: reconstruction loss and probe accuracy per epoch.

One autoencoder of the recommended recipe (:meth:`audiorep.pipeline.Recipe.default`) is trained
without the audio of the held-out fold, as in the per-fold protocol. After every few epochs its
encoder is read out two ways (the final state through the tanh layer, and mean/std/max over time
of the top layer's outputs), and each readout is scored by a linear probe (standardise + softmax
regression) trained on the other folds and tested on the held-out fold; epoch 0 is the same
network untrained (random weights, the input scaling fitted). The pooled log-mel
statistics of the same input are scored by the same probe, as the line to beat.

Writes docs/results/probe_curve.json and docs/results/probe_curve.png.

Usage: python scripts/esc10_probe_curve.py FEATURES.parquet [--fold 1] [--every 4]
       (FEATURES: the log-mel store `audiorep run` writes, e.g. audiorep-run/mel.parquet)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from audiorep.evaluate import predict_proba, train_classifier
from audiorep.models import Seq2SeqAutoencoder
from audiorep.pipeline import Recipe, training_sequences
from audiorep.plot import plot_curves
from audiorep.store import read_store
from audiorep.train import represent, seed_everything, train_autoencoder

LINEAR = dict(hidden=(), dropout=0.0, epochs=300, lr=1e-2, weight_decay=1e-3)
READOUTS = ("final", "pooled")


def probe(reps, labels, train, test, seed=0) -> float:
    mlp, scaler = train_classifier(reps[train], labels[train], n_classes=int(labels.max()) + 1, seed=seed, **LINEAR)
    return float((predict_proba(mlp, scaler, reps[test]).argmax(1) == labels[test]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("features")
    parser.add_argument("--fold", type=int, default=1)
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args()
    torch.set_num_threads(1)

    recipe = Recipe.default()
    table = read_store(args.features)
    x = training_sequences(table)
    labels = table.label_numeric.astype(np.int64)
    test = table.fold == args.fold
    train = ~test
    pooled = np.concatenate([x.mean(1), x.std(1)], axis=1)
    baseline = probe(pooled, labels, train, test)
    print(f"pooled log-mel statistics: {100 * baseline:.1f} %", flush=True)

    curve = {"epoch": [], "train_loss": [], "val_loss": [], **{r: [] for r in READOUTS}}

    def on_epoch(epoch, model, history):
        if epoch % args.every and epoch > 1:
            return
        curve["epoch"].append(epoch)
        curve["train_loss"].append(history["train_loss"][-1])
        curve["val_loss"].append(history["val_loss"][-1])
        for readout in READOUTS:
            reps = represent(model, x, readout=readout)
            curve[readout].append(probe(reps, labels, train, test))
        print(f"epoch {epoch}: loss {history['train_loss'][-1]:.4f}/{history['val_loss'][-1]:.4f}, "
              + ", ".join(f"{r} {100 * curve[r][-1]:.1f} %" for r in READOUTS), flush=True)

    # epoch 0: the same architecture, initialised as training initialises it, never trained
    seed_everything(0)
    untrained = Seq2SeqAutoencoder(**{**recipe.autoencoder, "n_features": x.shape[2]})
    untrained.scaler.fit(x[train], per_dimension=True)
    on_epoch(0, untrained.eval(), {"train_loss": [float("nan")], "val_loss": [float("nan")]})

    settings = {k: v for k, v in recipe.training.items()}
    settings["patience"] = settings["epochs"]  # follow every epoch; early stopping would cut the curve
    start = time.perf_counter()
    train_autoencoder(x[train], config=recipe.autoencoder, seed=0, progress=False, on_epoch=on_epoch, **settings)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"features": str(args.features), "held_out_fold": args.fold, "recipe": recipe.to_dict(),
           "probe": LINEAR, "pooled_statistics": baseline, "curve": curve,
           "seconds": time.perf_counter() - start,
           "command": f"python scripts/esc10_probe_curve.py {args.features} --fold {args.fold} --every {args.every}"}
    (out / "probe_curve.json").write_text(json.dumps(doc, indent=1))
    e = curve["epoch"]
    plot_curves({"reconstruction loss": {"train": (e, curve["train_loss"]), "held-out clips": (e, curve["val_loss"])},
                 "linear probe accuracy (held-out fold)": {
                     "final state": (e, curve["final"]), "mean/std/max of outputs": (e, curve["pooled"]),
                     "pooled log-mel (no autoencoder)": (e, [baseline] * len(e))}},
                out / "probe_curve.png", title=f"ESC-10, fold {args.fold} held out")
    print(f"wrote {out / 'probe_curve.json'} and {out / 'probe_curve.png'}")


if __name__ == "__main__":
    main()
