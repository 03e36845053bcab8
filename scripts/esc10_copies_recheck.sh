#!/usr/bin/env bash
# Recheck the published ESC-10 results that trained on speed copies, now that each copy takes its
# fold from its clip's row (the origin recorded in copies.csv) instead of its own file name.
# On ESC-10 the two rules should agree for every copy; this script checks that for all 3,200
# copies, reruns the 2- and 8-copy evaluations of the pooled features, and compares their
# per-fold accuracies with the published ones (docs/results/*/cv.json).
#
# Usage: scripts/esc10_copies_recheck.sh [DATASET]   (from the repository root, after pip install .)
set -euo pipefail
DATA=${1:-../shared/data/esc10}
W=work
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONSAFEPATH=1
# The features and copies, made with the same commands as in scripts/esc10.sh (done ones are skipped).
FRAMES=(--sr 22050 --frame-length 2048 --hop-length 882 --duration 5 --no-progress)
features() {  # features SOURCE SUFFIX: pooled log-mel and correlogram statistics
  [[ -e $W/mel$2.parquet ]] || python -m audiorep extract "$1" -o $W/mel$2.parquet --kind mel --n-mels 128 "${FRAMES[@]}"
  [[ -e $W/cg$2.parquet ]] || python -m audiorep extract "$1" -o $W/cg$2.parquet --kind correlogram --n-bands 16 --lag-bins 16 "${FRAMES[@]}"
  for k in mel cg; do [[ -e $W/pool_$k$2.parquet ]] || python -m audiorep pool $W/$k$2.parquet -o $W/pool_$k$2.parquet; done
}
mkdir -p $W/recheck
features "$DATA" ""
for pair in "_speed 0.9 1.1" "_speedb 0.8 1.2" "_speedc 0.85 1.15" "_speedd 0.95 1.05"; do
  set -- $pair
  s=$1; shift
  python -m audiorep augment "$DATA" -o $W/esc10$s --speeds "$@" --sr 22050 --no-progress  # keeps finished copies
  features $W/esc10$s "$s"
done
python - <<'PY'
import numpy as np
from audiorep.store import read_store
from audiorep.augment import source_rows

clips = read_store("work/pool_mel.parquet", columns=["filename", "chunk_nr", "fold", "label_numeric"])
total = 0
for s in ("", "b", "c", "d"):
    copies = read_store(f"work/pool_mel_speed{s}.parquet",
                        columns=["filename", "chunk_nr", "fold", "label_numeric", "origin"])
    rows = source_rows(clips, copies)
    by_name = np.array([int(name.split("/")[-1][0]) for name in copies.filename])
    assert (clips.fold[rows] == by_name).all(), f"speed{s}: a copy's file name names another fold than its clip"
    total += len(rows)
print(f"{total} copies: the fold of each copy's clip equals the fold its file name gives")
PY
EVAL=(--repeats 5 --seed 0 --no-progress)
SPEED8=()
for s in "" b c d; do SPEED8+=($W/pool_mel_speed$s.parquet $W/pool_cg_speed$s.parquet); done
[[ -e $W/recheck/speed2/cv.json ]] || python -m audiorep evaluate $W/pool_mel.parquet $W/pool_cg.parquet \
  --augment $W/pool_mel_speed.parquet $W/pool_cg_speed.parquet --output-dir $W/recheck/speed2 "${EVAL[@]}"
[[ -e $W/recheck/speed8/cv.json ]] || python -m audiorep evaluate $W/pool_mel.parquet $W/pool_cg.parquet \
  --augment "${SPEED8[@]}" --output-dir $W/recheck/speed8 "${EVAL[@]}"
python - <<'PY'
import json
for new, old in (("speed2", "pool_mel+pool_cg_speed"), ("speed8", "pool_mel+pool_cg_speed8")):
    a = json.load(open(f"work/recheck/{new}/cv.json"))
    b = json.load(open(f"docs/results/{old}/cv.json"))
    same = a["fold_accuracies"] == b["fold_accuracies"]
    print(f"{old}: published {100 * b['mean']:.2f} %, rerun {100 * a['mean']:.2f} %, "
          f"per-fold accuracies {'identical' if same else 'DIFFERENT'}")
PY
