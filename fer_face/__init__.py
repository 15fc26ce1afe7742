"""Face appearance branch: FER2013 data, timm backbones with a Dense-Dense head, training, calibration.

    from fer_face import load_model, list_models
    model = load_model()                  # the shipped face model (fer_face.predict)
    model.predict("photo.jpg")            # FacePrediction(label, probs, box, score)
"""

from typing import Any

_API = {"load_model", "list_models", "FaceModel", "FacePrediction"}


def __getattr__(name: str) -> Any:
    # The inference API loads torch; importing it only on use keeps `fer --help` and the CLI's start fast.
    if name in _API:
        from fer_face import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'fer_face' has no attribute {name!r}")
