"""Face-appearance branch plug-in (registered in pyproject.toml under ``fer.branches``)."""

from fer_core.branch import Branch


class FaceBranch(Branch):
    name = "face"
    modality = "face"
    description = "timm backbone + Dense-Dense head on 48x48 grayscale faces (FER2013), temperature-calibrated"
