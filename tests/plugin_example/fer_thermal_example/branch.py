"""The plug-in's declaration: who it is and how its labels map onto fer-fusion's FER7 space."""

from fer_core.branch import Branch


class ThermalBranch(Branch):
    name = "thermal"  # artifacts name their producer "thermal/<variant>"
    modality = "thermal"
    description = "simulated thermal-camera classifier (example plug-in from tests/plugin_example)"
    # This branch's own label space (column order of its artifacts) is not FER7 ...
    label_space = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral", "contempt")
    # ... so it declares the mapping; `contempt` has no FER7 counterpart and is dropped.
    label_map = {"anger": "angry", "joy": "happy", "sadness": "sad", "contempt": None}
