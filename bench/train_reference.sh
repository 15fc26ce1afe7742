#!/usr/bin/env bash
# Reference face runs committed under results/fer2013/ (2-core CPU, no GPU, from scratch).
# Epoch counts are fitted to a ~90 minute budget on 2 CPU cores shared with other work; on a GPU use the
# recipe defaults (30 epochs). The three train side by side with one thread each: multi-threaded OpenMP
# stalls badly when other processes compete for the cores, one thread per process does not.
set -euo pipefail
DATA=${FER_DATA_ROOT:-../shared/data}/fer2013.zip
export OMP_NUM_THREADS=1
fer face train --backbone mobilenetv2_100 --recipe improved --epochs 16 --data "$DATA" --out results/fer2013/mobilenetv2_100 --no-progress "$@" &
fer face train --backbone efficientnet_b0 --recipe improved --epochs 12 --data "$DATA" --out results/fer2013/efficientnet_b0 --no-progress "$@" &
fer face train --backbone efficientnet_b2 --recipe improved --epochs 8 --input-size 48 --data "$DATA" --out results/fer2013/efficientnet_b2 --no-progress "$@" &
wait
