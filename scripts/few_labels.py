"""The recipe's systems when the classifier has only a few labelled clips per class.

A finished `audiorep run` directory holds, for every held-out fold, the representations from
an autoencoder that never saw that fold's audio, and the pooled statistics of every view. Here
the classifier of each held-out fold trains on only K clips per class, drawn from the other
folds, and is scored on every clip of the held-out fold. The autoencoders are the run's own
(trained, without labels, on all the clips of the other folds): this is the regime of a dataset
with many classes and few clips each, where the classifier sees few examples of a class while
the encoder still learns from all the audio there is.

For each of DRAWS draws (seeded) and each held-out fold, K clips per class are drawn from the
training folds; the same draw serves every system, and each system's MLP (the recipe's settings)
is trained with SEEDS seeds. Reported per system: mean accuracy over draws, folds and seeds, its
standard deviation over the draws, and the per-draw means.

With --control, the untrained control's systems (scripts/untrained_control.py: the same
encoders, never trained, alone and fused with the statistics) are scored on the same draws too.

Writes WORKDIR/few_labels_k{K}.json (with --control: few_labels_k{K}_control.json).

Usage: python scripts/few_labels.py WORKDIR [--k 6] [--draws 5] [--seeds 3] [--control]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from audiorep import pipeline
from audiorep.evaluate import predict_proba, train_classifier


def systems_of(work: Path) -> dict:
    """Each system's inputs, as the run's report.json (and the control's control.json) record them,
    found in ``work`` (the stores of a run all live in its working directory)."""
    systems = dict(json.loads((work / "report.json").read_text())["systems"])
    if (work / "control.json").exists():  # scripts/untrained_control.py
        systems.update(json.loads((work / "control.json").read_text())["systems"])
    return {name: [str(work / Path(p).name) for p in s["inputs"]] for name, s in systems.items()}


def draw(labels: np.ndarray, candidates: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """K rows per class among `candidates` (all of a class's rows when it has fewer)."""
    chosen = []
    for c in np.unique(labels):
        rows = candidates[labels[candidates] == c]
        chosen.append(rng.choice(rows, size=min(k, len(rows)), replace=False))
    return np.sort(np.concatenate(chosen))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--k", type=int, default=6, help="labelled clips per class for each classifier")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3, help="MLP seeds per draw and fold")
    parser.add_argument("--control", action="store_true",
                        help="also the untrained control's systems (after scripts/untrained_control.py), written "
                             "to few_labels_k{K}_control.json")
    args = parser.parse_args(argv)
    work = args.workdir
    recorded = json.loads((work / "recipe.json").read_text())
    recipe = pipeline.Recipe.from_dict(recorded)
    settings = dict(recipe.classifier)
    settings.pop("repeats", None)
    inputs = systems_of(work)
    if args.control and "untrained" not in inputs:
        parser.error(f"{work} has no untrained control (run scripts/untrained_control.py {work} first)")
    if not args.control:
        inputs = {name: paths for name, paths in inputs.items() if not name.startswith("untrained")}
    loaded = {name: pipeline.load_representations(paths) for name, paths in inputs.items()}
    table = next(iter(loaded.values())).table
    labels = np.asarray(table.label_numeric, dtype=np.int64)
    folds = np.asarray(table.fold, dtype=np.int64)
    n_classes = int(labels.max()) + 1
    start = time.perf_counter()
    scores = {name: np.zeros((args.draws, len(np.unique(folds)), args.seeds)) for name in inputs}
    for d in range(args.draws):
        rng = np.random.default_rng(1000 + d)
        for i, fold in enumerate(np.unique(folds).tolist()):
            train_rows = draw(labels, np.flatnonzero(folds != fold), args.k, rng)
            test_rows = np.flatnonzero(folds == fold)
            for name, reps in loaded.items():
                x = reps.reps[fold] if reps.per_fold else reps.reps
                for s in range(args.seeds):
                    mlp, scaler = train_classifier(x[train_rows], labels[train_rows], n_classes=n_classes,
                                                   seed=10_000 * d + 100 * fold + s, **settings)
                    predicted = predict_proba(mlp, scaler, x[test_rows]).argmax(1)
                    scores[name][d, i, s] = float((predicted == labels[test_rows]).mean())
        line = ", ".join(f"{name} {100 * scores[name][d].mean():.1f}" for name in inputs)
        print(f"draw {d}: {line}", flush=True)
    result = {"workdir": str(work), "k": args.k, "draws": args.draws, "seeds": args.seeds,
              "classifier": settings, "seconds": time.perf_counter() - start, "systems": {}}
    for name, s in scores.items():
        per_draw = s.mean(axis=(1, 2))
        result["systems"][name] = {"mean": float(s.mean()), "std_over_draws": float(per_draw.std()),
                                   "per_draw": per_draw.tolist(), "per_fold": s.mean(axis=(0, 2)).tolist(),
                                   "inputs": inputs[name]}
        print(f"{name}: {100 * s.mean():.1f} % (draws {' '.join(f'{100 * v:.1f}' for v in per_draw)})")
    # Paired differences (same draws, folds and seeds): what the learned representation adds.
    pairs = {"learned - pooled_input": ("learned", "pooled_input"), "fused - pooled": ("fused", "pooled"),
             "learned - untrained": ("learned", "untrained"), "fused - untrained+pooled": ("fused", "untrained+pooled")}
    result["paired"] = {}
    for label, (a, b) in pairs.items():
        if a in scores and b in scores:
            per_draw = (scores[a] - scores[b]).mean(axis=(1, 2))
            result["paired"][label] = {"mean": float(per_draw.mean()), "per_draw": per_draw.tolist(),
                                       "draws_above_zero": int((per_draw > 0).sum())}
            print(f"{label}: {100 * per_draw.mean():+.1f} points ({int((per_draw > 0).sum())} of "
                  f"{args.draws} draws above zero)")
    out = work / f"few_labels_k{args.k}{'_control' if args.control else ''}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
