"""Landmark (geometry) branch plug-in (registered in pyproject.toml under ``fer.branches``)."""

from fer_core.branch import Branch


class LandmarkBranch(Branch):
    name = "landmarks"
    modality = "landmarks"
    description = ("dlib 68-point landmarks -> normalised geometric features -> MLP (or logistic regression), "
                   "temperature-calibrated; samples without usable landmarks are marked absent")
