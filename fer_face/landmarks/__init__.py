"""Landmark (geometry) branch: dlib 68-point landmarks -> normalised geometric features -> calibrated
emotion probabilities, written as the shared predictions artifact (modality "landmarks").

Modules, in pipeline order: ``extract`` (one image -> 68 points or a missing mark), ``batch`` (many
crops in parallel), ``cache`` (extract once per dataset), ``geometry`` (normalisation, mirroring),
``features`` (the documented feature vector), ``mlp`` / ``logreg`` (classifiers), ``model`` (a trained
classifier as one weights-only file), ``train`` / ``evaluate`` (run directories), ``predict`` (single
images), ``overlay`` (PNG of the points), ``cli`` (``fer landmarks ...``), ``branch`` (plug-in class).
"""
