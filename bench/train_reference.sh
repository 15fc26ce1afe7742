#!/usr/bin/env bash
# Reference face runs committed under results/fer2013/ (2-core CPU, no GPU, from scratch).
# Epoch counts are fitted to a ~2 hour CPU budget; on a GPU use the recipe's defaults.
set -euo pipefail
DATA=${FER_DATA_ROOT:-../shared/data}/fer2013.zip
fer face train --backbone mobilenetv2_100 --recipe improved --data "$DATA" --out results/fer2013/mobilenetv2_100 --no-progress "$@"
fer face train --backbone efficientnet_b0 --recipe improved --epochs 20 --data "$DATA" --out results/fer2013/efficientnet_b0 --no-progress "$@"
fer face train --backbone efficientnet_b2 --recipe improved --epochs 12 --input-size 48 --data "$DATA" --out results/fer2013/efficientnet_b2 --no-progress "$@"
