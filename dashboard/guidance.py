"""What to run when the dashboard has nothing (or not enough) to show."""

from __future__ import annotations

from pathlib import Path

SMOKE_RUN = (
    "fer face train --backbone mobilenetv2_100 --data synthetic --epochs 1 --out runs/smoke/face --no-progress\n"
    "fer dashboard --results runs/smoke"
)

REFERENCE_RUNS = (
    "# the published entries (results/published.toml), each trained from its recipe into runs/;\n"
    "# the data as data/README.md lists it (data/fer2013.zip, data/ravdess-speech-16k.zip)\n"
    "fer results list\n"
    "fer reproduce all                      # or one entry: fer reproduce landmarks_hog\n"
    "fer dashboard --results runs\n"
    "# one branch at a time (fer2013.zip in $FER_DATA_ROOT or data/): a face model, a landmark model,\n"
    "# their calibrated fusion and its ablation\n"
    "fer face train --recipe fer2013/vgg48_slim --out runs/vgg48_slim\n"
    "fer landmarks train --recipe fer2013/geometry_hog --out runs/landmarks_hog\n"
    "fer ensemble fuse --branch runs/vgg48_slim --branch runs/landmarks_hog --method logpool "
    "--out runs/fusion-vgg48_slim-landmarks_hog\n"
    "fer ensemble ablate --branch runs/vgg48_slim --branch runs/landmarks_hog "
    "--out runs/ablation-vgg48_slim-landmarks_hog\n"
    "# the paper's three backbones + its Table 1\n"
    "fer face compare --runs runs/paper --train-missing --recipe paper\n"
    "# the speech branch (RAVDESS): see fer audio --help\n"
    "fer audio train --help"
)


def empty_root_markdown(root: Path, exists: bool) -> str:
    where = f"`{root}` does not exist" if not exists else f"`{root}` holds no finished run (no `metrics.json`)"
    return (
        f"**No results to show yet:** {where}.\n\n"
        "The dashboard reads run directories: any folder with a `metrics.json` (plus `history.json`, "
        "`predictions/`, and for the ensemble `fusion.json` / `ablation.json`). Point it at another folder "
        "in the sidebar, or with `fer dashboard --results DIR`, or produce results:"
    )


def no_ensemble_markdown() -> str:
    return (
        "No ensemble run here yet (a folder with `fusion.json` or `ablation.json`). Fit the calibrated fusion "
        "of finished branch runs with `fer ensemble fuse --branch RUN_DIR --branch RUN_DIR --out DIR` (writes "
        "`fusion.json`, `comparison.json`, `metrics.json`) and the subset ablation with `fer ensemble ablate` "
        "(same flags; writes `ablation.json`); see `fer ensemble --help`."
    )
