#!/usr/bin/env bash
# The committed fusions of the FER2013 reference runs (results/fer2013/ensemble) and the RAVDESS pseudo-pairs
# (results/ravdess/pseudo-pairs): every command behind the README's ensemble tables. About 20 minutes on 2 cores, 11 of them the
# 255-subset ablation, which runs last.
set -euo pipefail
# The paper's three backbones and the landmark ensemble, plus cheap extra members: the label-smoothed parents of the
# MobileNetV2 and EfficientNet-B0 references (results/fer2013/session4/) and their own parents (session3/). The
# ResNet-18 and the VGG are fused separately below (a ninth member would double the 255-subset ablation).
B=(--branch results/fer2013/mobilenetv2_100 --branch results/fer2013/efficientnet_b0
   --branch results/fer2013/efficientnet_b2 --branch results/fer2013/landmarks
   --branch results/fer2013/session4/mobilenetv2_100 --branch results/fer2013/session4/efficientnet_b0
   --branch results/fer2013/session3/mobilenetv2_100 --branch results/fer2013/session3/efficientnet_b0)
# The paper's three backbones + landmarks.
PAPER=(--branch results/fer2013/mobilenetv2_100 --branch results/fer2013/efficientnet_b0
       --branch results/fer2013/efficientnet_b2)
CORE=("${PAPER[@]}" --branch results/fer2013/landmarks)
rm -rf results/fer2013/ensemble
fer ensemble fuse "${B[@]}" --method stacking --out results/fer2013/ensemble --no-progress
fer ensemble fuse "${B[@]}" --method logpool --out results/fer2013/ensemble/logpool --no-progress
fer ensemble fuse "${B[@]}" --method mean --out results/fer2013/ensemble/mean --no-progress
fer ensemble fuse "${CORE[@]}" --method stacking --out results/fer2013/ensemble/core-stacking --no-progress
fer ensemble fuse "${CORE[@]}" --method logpool --out results/fer2013/ensemble/core-logpool --no-progress
# The paper's three backbones + landmarks plus a fourth backbone from another family (ResNet-18), with its own
# ablation: 31 subsets, about a minute.
PLUS=("${CORE[@]}" --branch results/fer2013/resnet18)
fer ensemble fuse "${PLUS[@]}" --method stacking --out results/fer2013/ensemble/core-plus-resnet18-stacking --no-progress
fer ensemble fuse "${PLUS[@]}" --method logpool --out results/fer2013/ensemble/core-plus-resnet18-logpool --no-progress
fer ensemble ablate "${PLUS[@]}" --method mean --method logpool --method stacking \
    --out results/fer2013/ensemble/core-plus-resnet18-ablation --no-progress
# And a fifth backbone with neither residual nor depthwise layers (the 48-px VGG): the six-branch
# fusions and their ablation (63 subsets, about two minutes).
SIX=("${PLUS[@]}" --branch results/fer2013/vgg48_slim)
fer ensemble fuse "${SIX[@]}" --method logpool --out results/fer2013/ensemble/core-plus-resnet18-vgg-logpool --no-progress
fer ensemble fuse "${SIX[@]}" --method stacking --out results/fer2013/ensemble/core-plus-resnet18-vgg-stacking --no-progress
fer ensemble ablate "${SIX[@]}" --method mean --method logpool --method stacking \
    --out results/fer2013/ensemble/core-plus-resnet18-vgg-ablation --no-progress
# And a second VGG seed: PublicTest chose seed 1 as the reference (results/fer2013/vgg48_slim); seed 0
# (results/fer2013/session10/vgg48_slim) joins as a seventh member; the two seeds alone; the ablation of the seven
# (127 subsets, about four minutes).
SEVEN=("${SIX[@]}" --branch results/fer2013/session10/vgg48_slim)
fer ensemble fuse "${SEVEN[@]}" --method logpool --out results/fer2013/ensemble/core-plus-resnet18-vgg-2seeds-logpool --no-progress
fer ensemble fuse "${SEVEN[@]}" --method stacking --out results/fer2013/ensemble/core-plus-resnet18-vgg-2seeds-stacking --no-progress
fer ensemble fuse --branch results/fer2013/vgg48_slim --branch results/fer2013/session10/vgg48_slim --method logpool \
    --out results/fer2013/ensemble/vgg-2seeds-logpool --no-progress
fer ensemble ablate "${SEVEN[@]}" --method mean --method logpool --method stacking \
    --out results/fer2013/ensemble/core-plus-resnet18-vgg-2seeds-ablation --no-progress
# The landmark branch with appearance at the landmarks (results/fer2013/landmarks_hog: geometry + HOG of
# the landmark-aligned face) in place of the geometry-only one, and the ablation of the paper's three + both landmark
# runs (31 subsets): its fit_cv_accuracy column (cross-fitted PublicTest accuracy) chooses a subset without PrivateTest.
CORE_HOG=("${PAPER[@]}" --branch results/fer2013/landmarks_hog)
fer ensemble fuse "${CORE_HOG[@]}" --method stacking --out results/fer2013/ensemble/core-hog-stacking --no-progress
fer ensemble fuse "${CORE_HOG[@]}" --method logpool --out results/fer2013/ensemble/core-hog-logpool --no-progress
fer ensemble ablate "${CORE[@]}" --branch results/fer2013/landmarks_hog --method mean --method logpool --method stacking \
    --out results/fer2013/ensemble/core-2landmarks-ablation --no-progress
EIGHT=("${SEVEN[@]}" --branch results/fer2013/landmarks_hog)
fer ensemble fuse "${EIGHT[@]}" --method logpool --out results/fer2013/ensemble/all-backbones-2landmarks-logpool --no-progress
fer ensemble fuse "${EIGHT[@]}" --method stacking --out results/fer2013/ensemble/all-backbones-2landmarks-stacking --no-progress
fer ensemble conformal --run results/fer2013/ensemble --coverage 0.9 --method lac
fer ensemble conformal --run results/fer2013/ensemble --coverage 0.9 --method lac --class-conditional \
    --out results/fer2013/ensemble/conformal-lac-class-conditional
# Where the PublicTest temperature lands against the PrivateTest-optimal one, per target-set branch and fusion.
python bench/calibration_shift.py results/fer2013/mobilenetv2_100 results/fer2013/efficientnet_b0 \
    results/fer2013/efficientnet_b2 results/fer2013/resnet18 results/fer2013/landmarks \
    results/fer2013/ensemble/core-logpool results/fer2013/ensemble/core-stacking \
    results/fer2013/ensemble/core-plus-resnet18-logpool results/fer2013/ensemble/core-plus-resnet18-stacking \
    results/fer2013/vgg48_slim results/fer2013/ensemble/core-plus-resnet18-vgg-logpool \
    results/fer2013/ensemble/core-plus-resnet18-vgg-stacking results/fer2013/session10/vgg48_slim \
    results/fer2013/ensemble/core-plus-resnet18-vgg-2seeds-logpool \
    results/fer2013/ensemble/core-plus-resnet18-vgg-2seeds-stacking results/fer2013/landmarks_hog \
    results/fer2013/ensemble/core-hog-logpool results/fer2013/ensemble/core-hog-stacking

# Face + landmark + voice on PSEUDO-PAIRS (RAVDESS test clips x FER2013 PrivateTest faces of the same label)
FACE=${PAIRS_FACE_RUN:-results/fer2013/mobilenetv2_100}
rm -rf results/ravdess/pseudo-pairs
fer audio pairs --out results/ravdess/pseudo-pairs --audio-run results/ravdess/reference --face-run "$FACE" \
    --landmark-run results/fer2013/landmarks
fer ensemble fuse --branch results/ravdess/pseudo-pairs/face --branch results/ravdess/pseudo-pairs/landmarks \
    --branch results/ravdess/pseudo-pairs/audio --fit-split validation --eval-split test --method logpool \
    --out results/ravdess/pseudo-pairs/fusion --no-progress

# Last because it is the slow part (every subset of the eight runs, three methods): the tables above come first.
fer ensemble ablate "${B[@]}" --method mean --method logpool --method stacking --out results/fer2013/ensemble --no-progress
