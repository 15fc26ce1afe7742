#!/usr/bin/env bash
# The shipped models (fer_core/shipped/, 'fer models list') from their published entries (results/published.toml):
#   bash bench/ship_models.sh
# 1. the face model: 'fer reproduce vgg48_slim' trains it into runs/vgg48_slim unless finished there; its
#    weights (best.pt, not committed) come from that run, its record from results/fer2013/vgg48_slim;
# 2. the speech model the same way from 'fer reproduce speech_cnn_small' (runs/speech_cnn_small/last.pt);
# 3. the face model's fast entry: the same file read with 2 test-time views, calibrated on PublicTest;
# 4. the landmark model (results/fer2013/landmarks_geometry, model.pt committed) and the published face + landmarks
#    fusion;
# each file is checked by sha256 when it loads. The zoo is rebuilt from scratch. Stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
FACE_RUN=runs/vgg48_slim
FACE=results/fer2013/vgg48_slim
STUDENT=results/fer2013/vgg48_slim_distilled
LANDMARKS=results/fer2013/landmarks_geometry
SPEECH=results/ravdess/speech_cnn_small
FUSION=results/fer2013/fusion-vgg48_slim-landmarks

fer reproduce vgg48_slim
cp "$FACE_RUN/best.pt" "$FACE/"  # ignored by git; 'fer models add' reads the weights from it
fer reproduce speech_cnn_small
cp runs/speech_cnn_small/last.pt "$SPEECH/"
rm -f fer_core/shipped/*.safetensors fer_core/shipped/*.json

fer models add "$FACE" --name vgg48_slim --default --half \
    --description "48-px VGG, recipe fer2013/vgg48_slim, 45 epochs from scratch"
fer models add-views vgg48_slim --name vgg48_slim_fast --views 2 --data data/fer2013.zip \
    --description "vgg48_slim's weights with 2 test-time views (flip), own calibration: the fast photo path"
fer reproduce vgg48_slim_distilled
cp runs/vgg48_slim_distilled/best.pt "$STUDENT/"
fer models add "$STUDENT" --name vgg48_slim_distilled --half \
    --description "48-px VGG distilled from a fused teacher, recipe fer2013/vgg48_slim_distilled, 60 epochs from scratch"
fer models add "$LANDMARKS" --name landmarks_geometry --default \
    --description "68 dlib landmarks: coordinates, descriptors, distances; 5-MLP ensemble"
fer models add "$SPEECH" --name speech_cnn_small --default \
    --description "log-mel CNN, RAVDESS 8 classes, actor-disjoint, gain-invariant, trained with noise and reverb"
fer models add-fusion "$FUSION" --name vgg48_slim+landmarks --default \
    --description "face + landmarks, stacking, fit on PublicTest"
fer models list
