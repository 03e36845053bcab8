"""Collect the ESC-10 cross-validation results of scripts/esc10.sh into docs/results/esc10.json.

Reads docs/results/<system>/cv.json and the wall times in work/times.tsv; prints a Markdown table.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
TIMES = ROOT / "work" / "times.tsv"

FEATURES = {
    "mel": "log-mel spectrogram, 128 bands, 2048-sample frames / 882 hop at 22.05 kHz, clipped 80 dB below the clip's peak",
    "acg": "broadband autocorrelogram, 1024 lags pooled into 64 log-spaced bins + frame log energy (65 values/frame)",
    "mel30": "as mel, clipped 30 dB below the clip's peak",
    "mel45": "as mel, clipped 45 dB below the clip's peak",
    "mel60": "as mel, clipped 60 dB below the clip's peak",
    "mel75": "as mel, clipped 75 dB below the clip's peak",
    "cg": "per-band correlogram, 16 mel-spaced triangular bands from 50 Hz, 1024 lags pooled into 16 log-spaced bins + band log energy "
          "(272 values/frame)",
}
AE = {"cell": "gru", "layers": 2, "units": 256, "dropout": 0.0, "scaling": "per dimension", "teacher_forcing": 1.0,
      "reverse_targets": True, "epochs": 40, "patience": 10, "batch_size": 64, "lr": 1e-3, "seed": 0, "representation_size": 512,
      "training_data": "all 400 clips, no labels (auDeep convention); 10% held out for early stopping"}
MLP = {"hidden": [150, 150], "dropout": 0.4, "epochs": 400, "lr": 1e-3, "repeats": 5, "seed": 0,
       "folds": "official ESC folds 1-5 from the file names"}

SYSTEMS = {
    "ae_mel": ("(a) autoencoder", ["mel"], "pool_mel"),
    "ae_acg": ("(b) autoencoder", ["acg"], "pool_acg"),
    "ae_cg": ("(b) autoencoder", ["cg"], "pool_cg"),
    "ae_mel+ae_acg": ("(c) fused autoencoders", ["mel", "acg"], "pool_mel+pool_acg"),
    "ae_mel+ae_cg": ("(c) fused autoencoders", ["mel", "cg"], "pool_mel+pool_cg"),
    "ae_mel+ae_acg+ae_cg": ("(c) fused autoencoders", ["mel", "acg", "cg"], "pool_mel+pool_acg+pool_cg"),
    "ae_mel60": ("(a) autoencoder, 60 dB clipping", ["mel60"], "pool_mel60"),
    "ae_mel60_bi": ("(a) autoencoder, bidirectional, 60 dB clipping (post hoc)", ["mel60"], "pool_mel60"),
    "ae_mel60_e64": ("(a) autoencoder, 60 dB clipping, 64 epochs (post hoc)", ["mel60"], "pool_mel60"),
    "ae_mel60_e100": ("(a) autoencoder, 60 dB clipping, 100 epochs (post hoc)", ["mel60"], "pool_mel60"),
    "pool_mel": ("(d) mean+std baseline", ["mel"], None),
    "pool_acg": ("(d) mean+std baseline", ["acg"], None),
    "pool_cg": ("(d) mean+std baseline", ["cg"], None),
    "pool_mel+pool_acg": ("(d) fused baselines", ["mel", "acg"], None),
    "pool_mel+pool_cg": ("(d) fused baselines", ["mel", "cg"], None),
    "pool_mel+pool_acg+pool_cg": ("(d) fused baselines", ["mel", "acg", "cg"], None),
    "pool_mel60": ("(d) mean+std baseline, 60 dB clipping", ["mel60"], None),
    # Confirmation runs (configured before they ran) and the nested-selection headline.
    "ae_mel60_e100_x": ("(a) autoencoder per fold (trained without the held-out fold), 60 dB, 100 epochs",
                        ["mel60"], "pool_mel60"),
    "ae_mel30_e100": ("(a) autoencoder, 30 dB clipping, 100 epochs", ["mel30"], "pool_mel30"),
    "ae_mel45_e100": ("(a) autoencoder, 45 dB clipping, 100 epochs", ["mel45"], "pool_mel45"),
    "ae_mel75_e100": ("(a) autoencoder, 75 dB clipping, 100 epochs", ["mel75"], "pool_mel75"),
    "ae_mel4_e100": ("(c) fused autoencoders, four clipping levels, 100 epochs", ["mel30", "mel45", "mel60", "mel75"],
                     "pool_mel4"),
    "pool_mel30": ("(d) mean+std baseline, 30 dB clipping", ["mel30"], None),
    "pool_mel45": ("(d) mean+std baseline, 45 dB clipping", ["mel45"], None),
    "pool_mel75": ("(d) mean+std baseline, 75 dB clipping", ["mel75"], None),
    "pool_mel4": ("(d) fused baselines, four clipping levels", ["mel30", "mel45", "mel60", "mel75"], None),
    "pool_mel+pool_cg+ae_mel60_e100_x": ("(d) fused baselines + (a) per-fold autoencoder", ["mel", "cg", "mel60"],
                                         "pool_mel+pool_cg"),
    "pool_mel+pool_cg+ae_mel4_e100": ("(d) fused baselines + (c) four-level autoencoders",
                                      ["mel", "cg", "mel30", "mel45", "mel60", "mel75"], "pool_mel+pool_cg"),
    "pool_mel+pool_cg+ae_mel60_e100_x+ae_mel75_e100_x": (
        "(d) fused baselines + (a) per-fold autoencoders at 60 and 75 dB (level chosen post hoc)",
        ["mel", "cg", "mel60", "mel75"], "pool_mel+pool_cg"),
    "select": ("nested choice among pooled / + per-fold AE / + four-level AEs", ["mel", "cg", "mel30", "mel45",
                                                                                  "mel60", "mel75"],
               "pool_mel+pool_cg"),
    "pool_mel+pool_cg_ensemble5": ("(d) fused baselines, 5-MLP ensemble", ["mel", "cg"], None),
    "select_ensemble5": ("nested choice as above, 5-MLP ensemble (headline)", ["mel", "cg", "mel30", "mel45",
                                                                               "mel60", "mel75"],
                         "pool_mel+pool_cg_ensemble5"),
    # Post hoc.
    "pool_mel+pool_cg+ae_mel": ("(d) fused baselines + (a) 40-epoch autoencoder (post hoc)", ["mel", "cg"],
                                "pool_mel+pool_cg"),
    "pool_mel+pool_cg+ae_mel60": ("(d) fused baselines + (a) 40-epoch 60 dB autoencoder (post hoc)",
                                  ["mel", "cg", "mel60"], "pool_mel+pool_cg"),
    "pool_mel+pool_cg+ae_mel60_e100": ("(d) fused baselines + (a) 100-epoch 60 dB autoencoder (post hoc)",
                                       ["mel", "cg", "mel60"], "pool_mel+pool_cg"),
    "ae_mel60g_e100": ("(a) autoencoder, 60 dB, 100 epochs, global scaling (post hoc)", ["mel60"], "pool_mel60"),
    "pool_mel+pool_cg+ae_mel60g_e100": ("(d) fused baselines + (a) global-scaling autoencoder (post hoc)",
                                        ["mel", "cg", "mel60"], "pool_mel+pool_cg"),
    "ae_mel60d_e100": ("(a) autoencoder, 60 dB, 100 epochs, dropout 0.2 (post hoc)", ["mel60"], "pool_mel60"),
    "pool_mel+pool_cg+ae_mel60d_e100": ("(d) fused baselines + (a) dropout-0.2 autoencoder (post hoc)",
                                        ["mel", "cg", "mel60"], "pool_mel+pool_cg"),
    "ae_mel60_audeep": ("(a) autoencoder, auDeep's published ESC-10 recipe (bidirectional decoder, dropout 0.2, "
                        "64 epochs), 60 dB", ["mel60"], "pool_mel60"),
    "pool_mel+pool_cg+ae_mel60_audeep": ("(d) fused baselines + (a) auDeep-recipe autoencoder", ["mel", "cg", "mel60"],
                                         "pool_mel+pool_cg"),
    "pool_mel+pool_cg_speed": ("(d) fused baselines, trained with speed-perturbed copies (0.9x, 1.1x)", ["mel", "cg"],
                               "pool_mel+pool_cg"),
    "pool_mel+pool_cg+ae_mel60_e100_x_speed": ("(d) fused baselines + (a) per-fold autoencoder, trained with "
                                               "speed-perturbed copies", ["mel", "cg", "mel60"], "pool_mel+pool_cg_speed"),
    "select_speed": ("nested choice of 2, 4 or 8 speed copies, with or without the per-fold AE (headline of the "
                     "augmentation round)", ["mel", "cg", "mel60"], "pool_mel+pool_cg"),
    "select_speed_seed1": ("the same nested choice with seed 1 (robustness, post hoc)", ["mel", "cg", "mel60"],
                           "pool_mel+pool_cg"),
    "pool_mel+pool_cg_speed4": ("(d) fused baselines, trained with 4 speed copies (0.8x-1.2x)", ["mel", "cg"],
                                "pool_mel+pool_cg"),
    "pool_mel+pool_cg_speed8": ("(d) fused baselines, trained with 8 speed copies (0.8x-1.2x)", ["mel", "cg"],
                                "pool_mel+pool_cg"),
    "pool_mel+pool_cg+ae_mel60_e100_x_speed8": ("(d) fused baselines + (a) per-fold autoencoder, trained with 8 "
                                                "speed copies", ["mel", "cg", "mel60"], "pool_mel+pool_cg_speed8"),
    "ae_mel60_s2e40_x": ("(a) autoencoder per fold, trained with speed copies (0.9x, 1.1x), 60 dB, 40 epochs",
                         ["mel60"], "pool_mel60"),
    "pool_mel+pool_cg+ae_mel60_s2e40_x": ("(d) fused baselines + (a) per-fold autoencoder trained with speed copies",
                                          ["mel", "cg", "mel60"], "pool_mel+pool_cg"),
    "pool_mel+pool_cg+ae_mel60_s2e40_x_speed": ("(d) fused baselines + (a) per-fold autoencoder trained with speed "
                                                "copies, MLP trained with them too", ["mel", "cg", "mel60"],
                                                "pool_mel+pool_cg_speed"),
    "ae_mel60_s8e15_x": ("(a) autoencoder per fold, trained with 8 speed copies (0.8x-1.2x), 60 dB, 15 epochs "
                         "(post hoc)", ["mel60"], "pool_mel60"),
    "pool_mel+pool_cg+ae_mel60_s8e15_x_speed8": ("(d) fused baselines + (a) per-fold autoencoder trained with 8 speed "
                                                 "copies, MLP trained with them too (post hoc)", ["mel", "cg", "mel60"],
                                                 "pool_mel+pool_cg_speed8"),
    "ablation_cg_energy_only": ("(d) diagnostic (post hoc): pooled correlogram band energies only", ["cg"], None),
    "ablation_cg_curves_only": ("(d) diagnostic (post hoc): pooled correlogram autocorrelation shapes only", ["cg"],
                                None),
    "ablation_mel+cg_energy_only": ("(d) diagnostic (post hoc): pooled log-mel + correlogram band energies",
                                    ["mel", "cg"], None),
    "ablation_mel+cg_curves_only": ("(d) diagnostic (post hoc): pooled log-mel + correlogram autocorrelation shapes",
                                    ["mel", "cg"], None),
}


def read_times() -> dict:
    times = {}
    if TIMES.exists():
        for line in TIMES.read_text().splitlines():
            name, seconds, command = line.split("\t", 2)
            # the data path as the repository sees it (scripts/esc10.sh's default), not this machine's
            command = command.replace(str(ROOT.parent / "shared") + "/", "../shared/").strip()
            times[name] = {"seconds": float(seconds), "command": command}
    return times


def producers(times: dict) -> dict:
    """Map each file a step wrote (its -o argument) to the step's name."""
    out = {}
    for name, entry in times.items():
        words = entry["command"].split()
        if "-o" in words:
            out[words[words.index("-o") + 1]] = name
    return out


# Steps that resume an earlier step's checkpoint: their wall time includes the earlier step's.
RESUMES = {"train_mel60_e64": "train_mel60", "train_mel60_e100": "train_mel60_e64"}


def upstream(files, times: dict, made_by: dict) -> list:
    """Every recorded step that produced ``files``, directly or through their inputs, in run order."""
    import re

    seen, todo = set(), []
    for f in files:
        if "{fold}" in f:
            pattern = re.compile(re.escape(f).replace(r"\{fold\}", r"\d+"))
            todo += [made_by[g] for g in made_by if pattern.fullmatch(g)]
        elif f in made_by:
            todo.append(made_by[f])
    while todo:
        step = todo.pop()
        if step in seen:
            continue
        seen.add(step)
        if step in RESUMES:
            todo.append(RESUMES[step])
        words = times[step]["command"].split()
        out = words[words.index("-o") + 1]
        todo += [made_by[w] for w in words if w in made_by and w != out]
    order, stages = list(times), ["extract", "pool", "train", "represent"]
    return sorted(seen, key=lambda n: (stages.index(n.split("_")[0]) if n.split("_")[0] in stages else 9,
                                       order.index(n)))


def _operands(words: list, start: int) -> list:
    """The words from ``start`` up to the next option."""
    out = []
    for word in words[start:]:
        if word.startswith("-"):
            break
        out.append(word)
    return out


def eval_inputs(command: str) -> list:
    """Every store an evaluate or select command reads, --augment stores included."""
    words = command.split()
    operands = _operands(words, 4)
    for i, word in enumerate(words):
        if word == "--augment":
            operands += _operands(words, i + 1)
    if words[3] == "select":  # python -m audiorep select NAME=F1,F2 ... [--augment NAME=F3,F4 ...]
        return [f for word in operands for f in word.partition("=")[2].split(",")]
    return operands


def representation_config(system: str):
    if system in ("select_speed", "select_speed_seed1"):
        return ("for each held-out fold, the candidate with the best cross-validated accuracy on the other four "
                "folds (see 'candidates'): the pooled baseline trained with 2, 4 or 8 speed-perturbed copies of "
                "each training clip, or with 8 copies and the per-fold autoencoder (as in ae_mel60_e100_x)")
    if system.startswith("select"):
        return ("for each held-out fold, the candidate with the best cross-validated accuracy on the other four "
                "folds (see 'candidates'): the pooled baseline, + the per-fold autoencoder, + the four-level "
                "autoencoders; autoencoders as in ae_mel60_e100_x and ae_mel4_e100")
    if not any(part.startswith("ae_") for part in system.split("+")):
        return "per-clip mean and std over time of each feature"
    if system == "ae_mel60_bi":
        return {**AE, "bidirectional_encoder": True, "bidirectional_decoder": True, "representation_size": 1024,
                "epochs": 16}
    if system == "ae_mel60_e64":
        return {**AE, "epochs": 64}
    config = {**AE, "epochs": 100} if "e100" in system else dict(AE)
    if "mel60g" in system:
        config["scaling"] = "global (one mean and std for all bands)"
    if "mel60d" in system:
        config["dropout"] = 0.2
    if "audeep" in system:
        config.update(dropout=0.2, epochs=64, bidirectional_decoder=True)
    if "s2e40" in system or "s8e15" in system:
        copies = "0.9x and 1.1x" if "s2e40" in system else "eight (0.8x to 1.2x)"
        config["training_data_per_fold"] = (f"for each held-out fold, the other four folds only (320 clips, no "
                                            f"labels) and their {copies} speed copies; 10% of the clips held out "
                                            "for early stopping, their copies left out")
        if "s8e15" in system:
            config["epochs"] = 15
    elif "e100_x" in system:
        config["training_data_per_fold"] = ("for each held-out fold, the other four folds only (320 clips, no "
                                            "labels); 10% of them held out for early stopping")
    return config


def main() -> int:
    times = read_times()
    made_by = producers(times)
    out, rows = {}, []
    for system, (role, kinds, baseline) in SYSTEMS.items():
        cv_path = RESULTS / system / "cv.json"
        if not cv_path.exists():
            print(f"missing {cv_path}", file=sys.stderr)
            continue
        cv = json.loads(cv_path.read_text())
        evaluation = times.get(f"eval_{system}")
        if evaluation is None and isinstance(cv.get("inputs"), list):
            # evaluated outside the recorded steps: rebuild the command from the recorded inputs
            evaluation = {"seconds": cv.get("seconds"), "command": "python -m audiorep evaluate "
                          + " ".join(cv["inputs"]) + f" --output-dir docs/results/{system} --repeats 5 --seed 0"}
        if evaluation is not None:
            inputs = eval_inputs(evaluation["command"])
        else:  # the ablation script reads the pooled stores itself
            inputs = [f"work/pool_{k}.parquet" for k in kinds]
        steps = upstream(inputs, times, made_by)
        wall = {}
        for stage in ("extract", "pool", "train", "represent"):
            total = sum(times[n]["seconds"] for n in steps if n.startswith(stage + "_"))
            if total:
                wall[stage] = round(total, 1)
        wall["evaluate"] = evaluation["seconds"] if evaluation else cv.get("seconds")
        wall["total"] = round(sum(v for v in wall.values() if v), 1)
        commands = [times[n]["command"] for n in steps] + ([evaluation["command"]] if evaluation else [])
        entry = {
            "role": role,
            "config": {"features": {k: FEATURES[k] for k in kinds},
                       "representation": representation_config(system),
                       "classifier": {**MLP, "ensemble": cv.get("ensemble", 1)}},
            "seed": cv.get("seed"),
            "fold_ids": cv["fold_ids"],
            "fold_accuracies": cv["fold_accuracies"],
            "repeat_accuracies": cv["repeat_accuracies"],
            "mean": cv["mean"],
            "std": cv["std"],
            "baseline": baseline,
            "wall_seconds": wall,
            "commands": commands,
        }
        if cv.get("selected"):
            entry["candidates"] = cv["candidates"]
            entry["selected"] = cv["selected"]
            entry["selection_scores"] = cv["selection_scores"]
        out[system] = entry
    for system, entry in out.items():
        base = out.get(entry["baseline"]) if entry["baseline"] else None
        entry["margin_over_baseline"] = None if base is None else entry["mean"] - base["mean"]
        margin = "" if base is None else f"{100 * entry['margin_over_baseline']:+.1f}"
        last = entry["commands"][-1] if entry["commands"] else ""
        if "audiorep evaluate" in last or "audiorep select" in last:
            verb = last.split()[3]
            if verb == "select":  # the candidates' names; their files are in scripts/esc10.sh
                names = [w.partition("=")[0] for w in _operands(last.split(), 4)]
                inputs = "select " + " ".join(names)
            else:
                inputs = f"{verb} " + " ".join(Path(f).name for f in _operands(last.split(), 4))
            if "--ensemble" in last:
                inputs += " --ensemble 5"
            if "--augment" in last:
                inputs += " --augment <speed copies>"
        else:
            inputs = "python scripts/esc10_ablation.py"
        rows.append(f"| {system} | {entry['role']} | {'+'.join(SYSTEMS[system][1])} | "
                    f"{100 * entry['mean']:.1f} ± {100 * entry['std']:.1f} | {margin} | "
                    f"{entry['wall_seconds']['total']:.0f} | `{inputs}` |")
    target = RESULTS / "esc10.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    os.replace(tmp, target)
    print("| system | role | features | accuracy % (mean ± std, 25 fold runs) | margin over baseline (points) | "
          "wall time s | evaluated inputs (scripts/esc10.sh has every step) |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
