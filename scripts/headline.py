"""The four headline systems of an `audiorep run`, as docs/results/headline.json records them.

- ``learned_alone``: the learned representation alone (one autoencoder per fold);
- ``pooled_alone``: the mean+std statistics of the autoencoder's own input;
- ``best``: the run's fused system (learned + the statistics of every view), the system
  the recipe names as its best before it runs;
- ``best_without_learned``: the same system without the learned representation.

Each with mean, std (over folds), per-fold accuracies and the exact command. The untrained
control (scripts/untrained_control.py), when the working directory holds it, is added.

Usage: python scripts/headline.py WORKDIR --command "audiorep run ..." [-o docs/results/headline.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAMES = {"learned_alone": "learned", "pooled_alone": "pooled_input", "best": "fused",
         "best_without_learned": "pooled"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workdir")
    parser.add_argument("--command", required=True, help="the command that made the run")
    parser.add_argument("-o", "--output", default="docs/results/headline.json")
    args = parser.parse_args()
    work = Path(args.workdir)
    report = json.loads((work / "report.json").read_text())
    recipe = json.loads((work / "recipe.json").read_text())
    systems = report["systems"]
    doc = {"dataset": Path(recipe["dataset"]).name, "command": args.command, "recipe": recipe["recipe"],
           "seed": recipe["seed"], "seconds": report["seconds"], "steps": report["steps"],
           "workers": report.get("workers")}
    for name, system in NAMES.items():
        s = systems[system]
        doc[name] = {"system": system, "mean": s["mean"], "std": s["std"], "folds": s["folds"],
                     "fold_ids": s["fold_ids"], "inputs": [Path(p).name for p in s["inputs"]],
                     "copies": [Path(p).name for p in s.get("copies", [])]}
    doc["margins"] = {"learned_over_pooled_input": systems["learned"]["mean"] - systems["pooled_input"]["mean"],
                      "best_over_best_without_learned": systems["fused"]["mean"] - systems["pooled"]["mean"]}
    control = work / "control.json"
    if control.exists():
        c = json.loads(control.read_text())
        doc["untrained_control"] = {**{k: {"mean": v["mean"], "std": v["std"], "folds": v["folds"]}
                                       for k, v in c["systems"].items()}, "command": c["command"]}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    for name in NAMES:
        print(f"{name:>22}: {100 * doc[name]['mean']:.1f} % +- {100 * doc[name]['std']:.1f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
