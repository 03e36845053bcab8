"""The control for a run's learned representation: the same encoder, never trained.

For each fold of an `audiorep run` working directory, an autoencoder of the run's recipe is
built with the seed training starts from and its input scaling fitted on the clips its trained
counterpart saw (the other folds), but no training step is taken. Its readout goes through the
same evaluation as the run's systems (same MLP, same seeds): `untrained` alone and fused with
the pooled statistics. What the trained autoencoder adds over this control is what training
learnt; what the control adds over the pooled statistics is what a random recurrent projection
with mean/std/max pooling gives for free.

Writes WORKDIR/control.json.

Usage: python scripts/untrained_control.py WORKDIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from audiorep import pipeline
from audiorep.models import Seq2SeqAutoencoder
from audiorep.pipeline import training_sequences
from audiorep.store import read_store
from audiorep.train import save_model, seed_everything


def main(argv: list[str]) -> int:
    work = Path(argv[0])
    recorded = json.loads((work / "recipe.json").read_text())
    recipe = pipeline.Recipe(**recorded["recipe"])
    seed = recorded["seed"]
    features = work / f"{recipe.learn_from}.parquet"
    table = read_store(features)
    x = training_sequences(table)
    start = time.perf_counter()
    for fold in sorted(np.unique(table.fold).tolist()):
        model_path = work / f"untrained_x{fold}.pt"
        if not model_path.exists():
            seed_everything(seed)
            model = Seq2SeqAutoencoder(**{**recipe.autoencoder, "n_features": x.shape[2]})
            model.scaler.fit(x[table.fold != fold], per_dimension=recipe.training.get("scaling", "dimension")
                             == "dimension")
            save_model(model_path, model.eval(), feature_params=table.params,
                       training={"excluded_folds": [fold], "untrained": True})
        pipeline.represent(model_path, features, work / f"untrained_x{fold}.parquet")
    settings = dict(recipe.classifier)
    repeats = settings.pop("repeats", 5)
    pooled = [str(work / f"pool_{name}.parquet") for name in recipe.views]
    learned = [str(work / "untrained_x{fold}.parquet")]
    systems = {}
    for name, inputs in (("untrained", learned), ("untrained+pooled", pooled + learned)):
        result = pipeline.evaluate(inputs, repeats=repeats, seed=seed, **settings).result
        systems[name] = {"mean": result.mean, "std": result.std, "folds": result.fold_accuracies.mean(axis=0).tolist(),
                         "inputs": inputs}
        print(f"{name}: {100 * result.mean:.1f} % +- {100 * result.std:.1f}", flush=True)
    doc = {"systems": systems, "seconds": time.perf_counter() - start,
           "command": f"python scripts/untrained_control.py {work}"}
    (work / "control.json").write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
