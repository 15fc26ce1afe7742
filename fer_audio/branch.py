"""Speech branch plug-in (registered in pyproject.toml under ``fer.branches``)."""

from fer_core.branch import Branch
from fer_audio.labels import RAVDESS8, TO_FER7


class AudioBranch(Branch):
    name = "audio"
    modality = "audio"
    description = "compact CNN on log-mel spectrograms of speech (RAVDESS), temperature-calibrated"
    # Runs trained with --calm keep use the 8 RAVDESS emotions; --calm merge runs are already FER7
    # (each artifact carries its own label_space, so both kinds load the same way).
    label_space = RAVDESS8
    label_map = {name: TO_FER7[name] for name in RAVDESS8 if TO_FER7[name] != name}
