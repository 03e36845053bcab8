"""Post-hoc diagnostic: what in the pooled correlogram carries the accuracy?

The per-band correlogram frame holds, for each of its bands, lag-binned normalised
autocorrelation values and the band's log energy. Its pooled summary (mean and std over time)
is split into the band energies alone (a 16-band spectrum) and the autocorrelation shapes
alone, and each is cross-validated exactly like the systems in scripts/esc10.sh, alone and
fused with the pooled log-mel. Run after scripts/esc10.sh (it reads work/pool_*.parquet).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout

from audiorep._util import atomic_path
from audiorep.evaluate import cross_validate, fuse
from audiorep.store import read_store

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "work"
RESULTS = ROOT / "docs" / "results"


def main() -> int:
    cg = read_store(WORK / "pool_cg.parquet")
    mel = read_store(WORK / "pool_mel.parquet")
    assert list(cg.filename) == list(mel.filename)
    per_band = cg.params.get("lag_bins", 16) + 1
    reps = np.stack([f.reshape(-1) for f in cg.features])
    half = reps.shape[1] // 2  # mean columns, then std columns
    is_energy = (np.arange(half) % per_band) == per_band - 1
    cols = np.concatenate([is_energy, is_energy])
    mel_reps = np.stack([f.reshape(-1) for f in mel.features])
    names = [cg.label_map[k] for k in sorted(cg.label_map)]
    variants = {
        "ablation_cg_energy_only": reps[:, cols],
        "ablation_cg_curves_only": reps[:, ~cols],
        "ablation_mel+cg_energy_only": fuse(mel_reps, reps[:, cols]),
        "ablation_mel+cg_curves_only": fuse(mel_reps, reps[:, ~cols]),
    }
    only = sys.argv[1:]
    for name, x in variants.items():
        if only and name not in only:
            continue
        start = time.perf_counter()
        result = cross_validate(x, cg.label_numeric, cg.fold, label_names=names, repeats=5, seed=0)
        out = RESULTS / name
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "cv.json") as tmp:
            tmp.write_text(json.dumps({**result.to_dict(), "inputs": name, "n_dims": int(x.shape[1]), "seed": 0,
                                       "seconds": time.perf_counter() - start}, indent=1))
        print(f"{name} ({x.shape[1]} dims): {100 * result.mean:.1f} +- {100 * result.std:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
