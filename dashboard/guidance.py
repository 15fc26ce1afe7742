"""What to run when the dashboard has nothing (or not enough) to show."""

from __future__ import annotations

from pathlib import Path

SMOKE_RUN = (
    "fer face train --backbone mobilenetv2_100 --data synthetic --epochs 1 --out runs/smoke/face --no-progress\n"
    "fer dashboard --results runs/smoke"
)

REFERENCE_RUNS = (
    "# FER2013 (fer2013.zip in $FER_DATA_ROOT or data/): the paper's three backbones + its Table 1\n"
    "fer face compare --runs results/fer2013 --train-missing --recipe paper\n"
    "# the landmark branch, then the calibrated fusion of the branches and its ablation\n"
    "fer landmarks train --out results/fer2013/landmarks\n"
    "fer ensemble fuse --branch results/fer2013/mobilenetv2_100 --branch results/fer2013/landmarks "
    "--out results/fer2013/ensemble\n"
    "fer ensemble ablate --branch results/fer2013/mobilenetv2_100 --branch results/fer2013/landmarks "
    "--out results/fer2013/ensemble\n"
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
