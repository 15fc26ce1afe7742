#!/usr/bin/env bash
# Reference face runs committed under results/fer2013/ (2-core CPU, no GPU, from scratch).
# Epoch counts are fitted to the CPU time of one working session on 2 cores shared with other work; on a GPU
# use the recipe defaults (30 epochs). One thread per process: multi-threaded OpenMP stalls badly when other
# processes compete for the cores, one thread per process does not.
#
# Session 2 (results/fer2013/mobilenetv2_100 and efficientnet_b0): trained in runs/, then copied to results/.
# Session 1 (results/fer2013/efficientnet_b2): 8 epochs at 48 px, trained side by side with two others.
set -euo pipefail
DATA=${FER_DATA_ROOT:-../shared/data}/fer2013.zip
export OMP_NUM_THREADS=1
fer face train --backbone mobilenetv2_100 --recipe improved --epochs 36 --data "$DATA" --out runs/mobilenetv2_100_e36 --no-progress "$@" &
fer face train --backbone efficientnet_b0 --recipe improved --epochs 20 --data "$DATA" --out runs/efficientnet_b0_e20 --no-progress "$@" &
wait
fer face train --backbone efficientnet_b2 --recipe improved --epochs 8 --input-size 48 --data "$DATA" --out results/fer2013/efficientnet_b2 --no-progress "$@"
for b in mobilenetv2_100_e36:mobilenetv2_100 efficientnet_b0_e20:efficientnet_b0; do
    rm -rf "results/fer2013/${b#*:}" && mkdir -p "results/fer2013/${b#*:}"
    (cd "runs/${b%%:*}" && cp -r config.json history.json metrics.json curves.png reliability.png predictions "../../results/fer2013/${b#*:}/")
done
fer face compare --runs results/fer2013 --out results/fer2013
