#!/usr/bin/env bash
# Learned representations on ESC-10: development runs on folds 1-4 (scripts/esc10_repr_dev.py),
# then the recipe chosen from them, one autoencoder per fold, scored on all five folds.
# Every configuration here was fixed before it ran; every run is reported in docs/results/.
#
# Usage: scripts/esc10_repr.sh [DATASET]   (from the repository root, after pip install .)
set -euo pipefail
DATA=${1:-../shared/data/esc10}
W=work
export PYTHONSAFEPATH=1
mkdir -p $W
FRAMES=(--sr 22050 --frame-length 2048 --hop-length 882 --duration 5 --no-progress)
[[ -e $W/mel60.parquet ]] || python -m audiorep extract "$DATA" -o $W/mel60.parquet --kind mel --n-mels 128 --top-db 60 "${FRAMES[@]}"
[[ -d $W/esc10_speed ]] || python -m audiorep augment "$DATA" -o $W/esc10_speed --speeds 0.9 1.1 --sr 22050 --no-progress
[[ -e $W/cg16.parquet ]] || python -m audiorep extract "$DATA" -o $W/cg16.parquet --kind correlogram --n-bands 16 --lag-bins 16 "${FRAMES[@]}"
[[ -e $W/mel60_speed.parquet ]] || python -m audiorep extract $W/esc10_speed -o $W/mel60_speed.parquet --kind mel --n-mels 128 --top-db 60 "${FRAMES[@]}"
[[ -d $W/esc10_speed_wide ]] || python -m audiorep augment "$DATA" -o $W/esc10_speed_wide --speeds 0.8 1.2 --sr 22050 --no-progress
[[ -e $W/mel60_speed_wide.parquet ]] || python -m audiorep extract $W/esc10_speed_wide -o $W/mel60_speed_wide.parquet --kind mel --n-mels 128 --top-db 60 "${FRAMES[@]}"

# Development runs, in this order (each writes docs/results/dev/NAME.json; done ones are skipped).
python scripts/esc10_repr_dev.py gru2x256_mel60 gru2x256_mel60_mask conv16-32_gru2x256_mel60 \
  conv16-32_gru2x256_mel60_mask gru2x256_mel60_speed2 gru1x256_mel60 gru2x256_mel60_contrastive gru2x256_mel60_tf0 \
  gru2x256_mel60_contrastive_only gru2x256_mel60+cg16 \
  gru2x256_mel60_bpooled gru2x256_mel60_speed4 gru1x256_mel60_speed2 gru2x256_mel60_apc1 gru2x256_mel60_apc3 \
  gru1x512_mel60 gru1x512_mel60_e80 gru1x1024_mel60
