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
    "mel60": "as mel, clipped 60 dB below the clip's peak",
    "cg": "per-band correlogram, 16 mel-spaced triangular bands from 50 Hz, 1024 lags pooled into 16 log-spaced bins + band log energy "
          "(272 values/frame)",
}
AE = {"cell": "gru", "layers": 2, "units": 256, "teacher_forcing": 1.0, "reverse_targets": True, "epochs": 40,
      "patience": 10, "batch_size": 64, "lr": 1e-3, "seed": 0, "representation_size": 512,
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
            times[name] = {"seconds": float(seconds), "command": command}
    return times


def main() -> int:
    times = read_times()
    out, rows = {}, []
    for system, (role, kinds, baseline) in SYSTEMS.items():
        cv_path = RESULTS / system / "cv.json"
        if not cv_path.exists():
            print(f"missing {cv_path}", file=sys.stderr)
            continue
        cv = json.loads(cv_path.read_text())
        learned = system.startswith("ae_")
        bidirectional = system.endswith("_bi")
        # Post hoc models: their own training steps (the 64-epoch model resumes the 40-epoch one).
        special = {"ae_mel60_bi": ["train_mel60_bi", "represent_mel60_bi"],
                   "ae_mel60_e64": ["train_mel60", "train_mel60_e64", "represent_mel60_e64"],
                   "ae_mel60_e100": ["train_mel60", "train_mel60_e64", "train_mel60_e100",
                                     "represent_mel60_e100"]}.get(system)
        wall = {"extract": sum(times.get(f"extract_{k}", {}).get("seconds", 0.0) for k in kinds)}
        if learned:
            wall["train"] = sum(times.get(f"train_{k}", {}).get("seconds", 0.0) for k in kinds)
            wall["represent"] = sum(times.get(f"represent_{k}", {}).get("seconds", 0.0) for k in kinds)
        else:
            wall["pool"] = sum(times.get(f"pool_{k}", {}).get("seconds", 0.0) for k in kinds)
        if special:
            wall["train"] = sum(times.get(n, {}).get("seconds", 0.0) for n in special if n.startswith("train"))
            wall["represent"] = sum(times.get(n, {}).get("seconds", 0.0) for n in special if n.startswith("repr"))
        wall["evaluate"] = times.get(f"eval_{system}", {}).get("seconds", cv.get("seconds"))
        wall["total"] = round(sum(v for v in wall.values() if v), 1)
        commands = [times[n]["command"] for n in
                    [f"extract_{k}" for k in kinds]
                    + (special if special else
                       [f"train_{k}" for k in kinds] + [f"represent_{k}" for k in kinds] if learned
                       else [f"pool_{k}" for k in kinds])
                    + [f"eval_{system}"] if n in times]
        entry = {
            "role": role,
            "config": {"features": {k: FEATURES[k] for k in kinds},
                       "representation": ({**AE, "bidirectional_encoder": True, "bidirectional_decoder": True,
                                           "representation_size": 1024, "epochs": 16} if bidirectional
                                          else {**AE, "epochs": 64} if system == "ae_mel60_e64"
                                          else {**AE, "epochs": 100} if system == "ae_mel60_e100"
                                          else AE) if learned else "per-clip mean and std over time of each feature",
                       "classifier": MLP},
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
        out[system] = entry
    for system, entry in out.items():
        base = out.get(entry["baseline"]) if entry["baseline"] else None
        entry["margin_over_baseline"] = None if base is None else entry["mean"] - base["mean"]
        margin = "" if base is None else f"{100 * entry['margin_over_baseline']:+.1f}"
        inputs = " ".join(Path(p).name for p in entry["commands"][-1].split(" --output-dir")[0].split()[3:]) \
            if entry["commands"] and "evaluate" in entry["commands"][-1] else "python scripts/esc10_ablation.py"
        rows.append(f"| {system} | {entry['role']} | {'+'.join(SYSTEMS[system][1])} | "
                    f"{100 * entry['mean']:.1f} ± {100 * entry['std']:.1f} | {margin} | "
                    f"{entry['wall_seconds']['total']:.0f} | `{inputs}` |")
    target = RESULTS / "esc10.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    os.replace(tmp, target)
    print("| system | role | features | accuracy % (mean ± std, 25 fold runs) | margin over baseline (points) | "
          "wall time s | evaluated inputs (`audiorep evaluate ...`; scripts/esc10.sh has every step) |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
