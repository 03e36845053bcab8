"""Post hoc check on ESC-10: late fusion (averaged class probabilities of two MLPs) versus early fusion.

One MLP on the pooled log-mel + correlogram statistics, one on the per-fold autoencoder
representations (scripts/esc10.sh must have run); same seeds and protocol as `audiorep evaluate`.
Prints mean and std accuracy over the 25 fold runs. Usage: python scripts/esc10_late_fusion.py
"""

from __future__ import annotations

import numpy as np
import torch

from audiorep.cli import _load_reps
from audiorep.evaluate import _fold_seed, predict_proba, train_classifier


def main() -> None:
    torch.set_num_threads(1)
    table, pooled = _load_reps(["work/pool_mel.parquet", "work/pool_cg.parquet"])
    _, learned = _load_reps(["work/ae_mel60_e100_x{fold}.parquet"])
    labels, folds = table.label_numeric.astype(np.int64), table.fold
    accuracies = {"pooled": [], "autoencoder": [], "late fusion (equal weights)": [],
                  "late fusion (pooled weighted 2:1)": []}
    for r in range(5):
        for j, fold in enumerate(sorted(set(folds.tolist()))):
            test = folds == fold
            seed = _fold_seed(0, r, j)
            mlp, scaler = train_classifier(pooled[~test], labels[~test], seed=seed)
            p_pooled = predict_proba(mlp, scaler, pooled[test])
            mlp, scaler = train_classifier(learned[fold][~test], labels[~test], seed=seed)
            p_learned = predict_proba(mlp, scaler, learned[fold][test])
            for name, p in zip(accuracies, (p_pooled, p_learned, p_pooled + p_learned, 2 * p_pooled + p_learned)):
                accuracies[name].append(float((p.argmax(1) == labels[test]).mean()))
    for name, values in accuracies.items():
        print(f"{name}: {100 * np.mean(values):.1f} +- {100 * np.std(values):.1f}")


if __name__ == "__main__":
    main()
