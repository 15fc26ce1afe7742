#!/usr/bin/env bash
# The shipped models (fer_core/shipped/, 'fer models list') from their published entries (results/published.toml):
#   bash bench/ship_models.sh
# 1. the face model: 'fer reproduce vgg48_slim_6ep' trains it into runs/vgg48_slim_6ep unless finished there; its
#    weights (best.pt, not committed) come from that run, its record from results/fer2013/vgg48_slim_6ep;
# 2. the landmark (results/fer2013/landmarks_geometry, model.pt committed) and speech
#    (results/ravdess/speech_cnn_small, last.pt committed) models and the published face + landmarks fusion;
# each file is checked by sha256 when it loads. Stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
FACE_RUN=runs/vgg48_slim_6ep
FACE=results/fer2013/vgg48_slim_6ep
LANDMARKS=results/fer2013/landmarks_geometry
SPEECH=results/ravdess/speech_cnn_small
FUSION=results/fer2013/fusion-vgg48_slim_6ep-landmarks

fer reproduce vgg48_slim_6ep
cp "$FACE_RUN/best.pt" "$FACE/"  # ignored by git; 'fer models add' reads the weights from it

fer models add "$FACE" --name vgg48_slim_6ep --default --half \
    --description "48-px VGG, six-epoch recipe fer2013/vgg48_slim_6ep, from scratch"
fer models add "$LANDMARKS" --name landmarks_geometry --default \
    --description "68 dlib landmarks: coordinates, descriptors, distances; 5-MLP ensemble"
fer models add "$SPEECH" --name speech_cnn_small --default \
    --description "log-mel CNN, RAVDESS 8 classes, actor-disjoint, gain-invariant, trained with noise and reverb"
fer models add-fusion "$FUSION" --name vgg48_slim_6ep+landmarks --default \
    --description "face + landmarks, stacking, fit on PublicTest"
fer models list
