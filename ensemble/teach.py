"""``fer ensemble teach``: a fitted fusion applied to its members' training-split predictions, the soft targets a
student learns from (``train.teacher``, ``fer_core.distill``).

Every member must be the exact run the fusion was fit on (its fit-split predictions carry the fingerprint the
fusion recorded) and must have written its training-split artifact with that same evaluation (same temperature):
``fer face evaluate RUN --train-predictions``, ``fer landmarks evaluate RUN --train-predictions``. The teacher's
rows are in-sample for every member (they were trained on them), so its training accuracy says how much it
agrees with the labels, not how good it is; the fusion's own metrics.json says that.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from fer_core.artifact import Predictions, artifact_path, load_run
from fer_core.errors import ArtifactError, UserError

from ensemble.fusion import FUSION_FILE, FittedFusion

EVALUATE_COMMANDS = {"face": "fer face evaluate {run} --train-predictions",
                     "landmarks": "fer landmarks evaluate {run} --train-predictions"}


def member_split(member: Mapping, run_dir: Path, fusion: FittedFusion, split: str) -> Predictions:
    """``split``'s artifact of one member, after checking the run is the one the fusion was fit on."""
    name = member["name"]
    if not run_dir.is_dir():
        raise UserError(f"fusion member {name}: run directory {run_dir} not found; point at it with "
                        f"--member '{name}={run_dir}'")
    fitted_on = load_run(run_dir, fusion.fit_split)
    if fitted_on.fingerprint() != member.get("fingerprint"):
        raise UserError(f"fusion member {name}: {run_dir} is not the run the fusion was fit on (its "
                        f"{fusion.fit_split} predictions differ); use that run or refit the fusion")
    if not artifact_path(run_dir, split).is_file():
        hint = EVALUATE_COMMANDS.get(member.get("modality", ""), "re-evaluate {run} writing its {split} predictions")
        raise UserError(f"fusion member {name}: {run_dir} has no {split} predictions; run "
                        f"'{hint.format(run=run_dir, split=split)}' first")
    preds = load_run(run_dir, split)
    if preds.split != split or preds.branch != fitted_on.branch or preds.temperature != fitted_on.temperature:
        raise ArtifactError(f"fusion member {name}: {artifact_path(run_dir, split)} comes from another evaluation "
                            f"than its {fusion.fit_split} predictions; re-evaluate {run_dir} with --train-predictions")
    return preds


def teach(fusion_dir: str | Path, out: str | Path, *, split: str = "Training", members: Mapping[str, str] | None = None,
          command: str = "") -> Predictions:
    """Write ``out/predictions/<split>.json``: the fusion at ``fusion_dir`` applied to its members' ``split``.

    ``members`` relocates members by fusion branch name (``{"face/vgg48_slim": "elsewhere/vgg48_slim"}``).
    """
    fusion_dir, out = Path(fusion_dir), Path(out)
    fusion = FittedFusion.load(fusion_dir)
    members = dict(members or {})
    unknown = sorted(set(members) - set(fusion.names))
    if unknown:
        raise UserError(f"--member {unknown[0]}: not a member of {fusion_dir}; its members are {', '.join(fusion.names)}")
    if split in (fusion.fit_split, fusion.eval_split):
        raise UserError(f"--split {split}: the fusion is fit on {fusion.fit_split} and evaluated on "
                        f"{fusion.eval_split}; a teacher is for the training split")
    arts = {b["name"]: member_split(b, Path(members.get(b["name"], b["run_dir"])), fusion, split)
            for b in fusion.branches}
    first_name, first = next(iter(arts.items()))
    ids = first.ids
    labels = fusion.mappings[first_name].map_labels(first.labels)
    for name, a in arts.items():
        if set(a.ids.tolist()) != set(ids.tolist()):
            raise ArtifactError(f"{split}: fusion member {name} predicts other samples than {first_name}; "
                                "they must be evaluated on the same data")
    by_name = {}
    for name, a in arts.items():
        take = a.rows_of(ids)
        p = a.fusion_input[take].copy()
        p[~a.present[take]] = np.nan
        by_name[name] = p
    fused = fusion.fuse(by_name)
    present = np.isfinite(fused).all(1)
    fit_splits = sorted({s for a in arts.values() for s in a.fit_splits} | {fusion.fit_split})
    teacher = Predictions(
        ids=ids, labels=labels, probs=fused, present=present, label_space=fusion.label_space,
        branch=f"teacher/{fusion_dir.name}", modality="fusion", dataset=first.dataset, split=split,
        temperature=fusion.temperature, calibration_split=fusion.fit_split, fit_splits=fit_splits, command=command,
        extra={"fusion": str(fusion_dir),
               "fusion_sha256": hashlib.sha256((fusion_dir / FUSION_FILE).read_bytes()).hexdigest(),
               "members": {name: str(members.get(name, b["run_dir"])) for name, b in
                           zip(fusion.names, fusion.branches)}})
    teacher.save(artifact_path(out, split))
    labelled = present & (labels >= 0)
    agree = float((fused[labelled].argmax(1) == labels[labelled]).mean()) if labelled.any() else float("nan")
    print(f"teacher {artifact_path(out, split)}: {int(present.sum())}/{len(ids)} {split} samples, agrees with "
          f"{agree:.2%} of the labels (in-sample), mean top probability "
          f"{float(np.nanmax(fused[present], axis=1).mean()):.3f}", file=sys.stderr)
    return teacher
