#!/usr/bin/env bash
# The shipped models (fer_core/shipped/, 'fer models list'), from training to manifest, in one script:
#   bash bench/ship_models.sh            # DATA=data/fer2013.zip by default
# 1. the face model: the 48-px VGG on its six-epoch recipe (about 90 minutes on 2 CPU cores), its run copied
#    (without checkpoints) to results/fer2013/vgg48_slim_6ep;
# 2. the face + landmark fusion: logpool and stacking fit on PublicTest, the one with the better cross-fitted
#    PublicTest accuracy kept in results/fer2013/fusion-vgg48_slim_6ep-landmarks;
# 3. the manifest: face, landmark (results/fer2013/landmarks, model.pt committed) and speech
#    (results/ravdess/reference, last.pt committed) models and the fusion, each file checked by sha256.
# A run already finished in runs/ is reused (delete it to retrain); stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/fer2013.zip}
FACE_RUN=runs/vgg48_slim_6ep
FACE=results/fer2013/vgg48_slim_6ep
LANDMARKS=results/fer2013/landmarks
SPEECH=results/ravdess/reference
FUSION=results/fer2013/fusion-vgg48_slim_6ep-landmarks

copy_run() {  # a run directory minus its checkpoints
    rm -rf "$2" && mkdir -p "$2" && cp -r "$1"/{config.json,history.json,metrics.json,curves.png,reliability.png,predictions} "$2/"
}

if [ ! -f "$FACE_RUN/metrics.json" ]; then
    fer face train --recipe fer2013/vgg48_slim_6ep --data "$DATA" --out "$FACE_RUN" --no-progress \
        $([ -f "$FACE_RUN/last.pt" ] && echo --resume)
fi
copy_run "$FACE_RUN" "$FACE"
cp "$FACE_RUN/best.pt" "$FACE/"  # ignored by git; 'fer models add' reads the weights from it

for method in logpool stacking; do
    fer ensemble fuse --branch "$FACE" --branch "$LANDMARKS" --method "$method" --out "runs/fusion-$method" \
        --overwrite --no-progress
done
best=$(python - <<'EOF'
import json
acc = {m: json.load(open(f"runs/fusion-{m}/metrics.json"))["fit_split_metrics"]["accuracy"] for m in ("logpool", "stacking")}
print(max(acc, key=acc.get))
EOF
)
rm -rf "$FUSION" && cp -r "runs/fusion-$best" "$FUSION"

fer models add "$FACE" --name vgg48_slim_6ep --default --half \
    --description "48-px VGG, six-epoch recipe fer2013/vgg48_slim_6ep, from scratch"
fer models add "$LANDMARKS" --name landmarks_geometry --default \
    --description "68 dlib landmarks: coordinates, descriptors, distances; 5-MLP ensemble"
fer models add "$SPEECH" --name speech_cnn_small --default \
    --description "log-mel CNN, RAVDESS 8 classes, actor-disjoint"
fer models add-fusion "$FUSION" --name vgg48_slim_6ep+landmarks --default \
    --description "face + landmarks, $best, fit on PublicTest"
fer models list
