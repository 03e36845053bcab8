"""How many directions a run's representations spread over: trained encoders against untrained ones.

For each fold of an `audiorep run` working directory (after `scripts/untrained_control.py` made
the untrained twins), the representations of the clips that fold's autoencoder trained on are
standardised dimension by dimension, and the eigenvalues of their covariance give two counts:
the participation ratio (sum of eigenvalues squared over sum of squared eigenvalues: the number
of equally strong directions that would spread the variance as evenly) and the number of
principal components that hold 90 % of the variance. The pooled log-mel statistics are counted
the same way for reference. Fewer directions after training than before is what a collapse
toward what the training loss rewards looks like.

Writes WORKDIR/rank.json.

Usage: python scripts/representation_rank.py WORKDIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from audiorep.store import read_store


def spread(x: np.ndarray) -> dict:
    z = (x - x.mean(0)) / np.maximum(x.std(0), 1e-8)
    eig = np.clip(np.linalg.eigvalsh(np.cov(z, rowvar=False)), 0, None)[::-1]
    share = np.cumsum(eig) / eig.sum()
    return {"participation_ratio": float(eig.sum() ** 2 / (eig**2).sum()),
            "components_for_90_percent": int(np.searchsorted(share, 0.9) + 1), "dimensions": int(x.shape[1])}


def vectors(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = read_store(path)
    return np.stack([f.reshape(-1) for f in table.features]).astype(np.float64), table.fold


def main(argv: list[str]) -> int:
    work = Path(argv[0])
    recipe = json.loads((work / "recipe.json").read_text())["recipe"]
    pooled, folds = vectors(work / f"pool_{recipe['learn_from']}.parquet")
    result = {}
    for fold in sorted(np.unique(folds).tolist()):
        rows = {}
        for name, stem in (("trained", "ae"), ("untrained", "untrained")):
            x, f = vectors(work / f"{stem}_x{fold}.parquet")
            rows[name] = spread(x[f != fold])
        rows["pooled_input"] = spread(pooled[folds != fold])
        result[str(fold)] = rows
        print(f"fold {fold}: " + ", ".join(f"{k} {v['participation_ratio']:.1f} ({v['components_for_90_percent']} "
                                           f"for 90 %)" for k, v in rows.items()), flush=True)
    (work / "rank.json").write_text(json.dumps({"folds": result, "command": f"python scripts/representation_rank.py "
                                                                            f"{work.name}"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
