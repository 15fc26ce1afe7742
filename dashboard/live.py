"""Live inference for the Try-it page: each trained branch on one photo or clip, and the fitted fusion.

Models are imported lazily and cached with ``st.cache_resource`` (keyed by the checkpoint's mtime, so a
retrained model is picked up). A branch whose package, checkpoint or run is missing yields an
``Output`` with ``probs=None`` and a note saying what to run; nothing here raises into the page.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import streamlit as st
from PIL import Image

from dashboard.loader import Results, Run
from dashboard.state import file_stamp

TRAIN_FACE = "fer face train --backbone mobilenetv2_100 --out results/fer2013/mobilenetv2_100"
SMOKE_FACE = "fer face train --backbone mobilenetv2_100 --data synthetic --epochs 1 --out runs/smoke/face --no-progress"


@dataclass
class Output:
    source: str  # run id (or "fusion: <run id>")
    branch: str  # branch name as the fusion knows it
    modality: str
    label_space: tuple[str, ...] = ()
    probs: np.ndarray | None = None  # (C,) calibrated probabilities; None: no prediction
    note: str | None = None  # why probs is None, or a remark
    extra: dict[str, Any] = field(default_factory=dict)  # box, crop, landmark points ...

    @property
    def predicted(self) -> str | None:
        if self.probs is None or not len(self.label_space):
            return None
        return self.label_space[int(np.argmax(self.probs))]


def _describe(e: BaseException) -> str:
    from fer_core.errors import UserError

    msg = str(e).splitlines()[0] if str(e) else ""
    if isinstance(e, UserError) and msg:  # written for people: the message alone
        return msg
    return f"{e.__class__.__name__}: {msg}" if msg else e.__class__.__name__


def missing_module_note(e: ModuleNotFoundError, what: str) -> str:
    return (f"{what} is not available in this installation ({_describe(e)}); install the project with "
            "`make install` or `pip install -e .`")


# ----------------------------------------------------------------------------------- cached models
@st.cache_resource(show_spinner="loading the model ...", max_entries=16)
def _predictor(kind: str, run_dir: str, stamp: tuple):  # stamp: cache key only (checkpoint/metrics mtime, size)
    if kind == "face":
        from fer_face.predict import FacePredictor

        return FacePredictor(run_dir)
    if kind == "landmarks":
        from fer_face.landmarks.predict import LandmarkPredictor

        return LandmarkPredictor(run_dir)
    if kind == "audio":
        from fer_audio.predict import AudioPredictor

        return AudioPredictor(run_dir)
    raise ValueError(kind)


@st.cache_resource(show_spinner="loading the fusion ...", max_entries=8)
def _fusion(ensemble_dir: str, stamp: tuple):
    from ensemble.fusion import FittedFusion

    return FittedFusion.load(ensemble_dir)


RETRAIN = {"face": "fer face train --backbone {backbone} --out {run}", "landmarks": "fer landmarks train --out {run}",
           "audio": "fer audio train --out {run}"}
MODULES = {"face": "the face branch's predictor (fer_face.predict)",
           "landmarks": "the landmark branch's predictor (fer_face.landmarks.predict)",
           "audio": "the speech branch's predictor (fer_audio.predict)"}


def _run_model(kind: str, run: Run, call: Callable[[Any], dict]) -> tuple[dict | None, str | None]:
    """(result dict, None) or (None, note). Checkpoint presence is the predictor's business; this only maps
    every failure to one line for the page."""
    stamp = tuple(file_stamp(run.path / name) for name in ("best.pt", "model.pt", "metrics.json"))
    try:
        predictor = _predictor(kind, str(run.path), stamp)
    except ModuleNotFoundError as e:
        return None, missing_module_note(e, MODULES[kind])
    except Exception as e:  # a run this version cannot load: report, do not crash the page
        note = f"could not load the model of `{run.id}` ({_describe(e)})"
        if not any((run.path / name).is_file() for name in ("best.pt", "model.pt")):
            hint = RETRAIN[kind].format(backbone=run.backbone or "NAME", run=run.path)
            note += f"; checkpoints are not committed, retrain with `{hint}`"
        return None, note
    try:
        return call(predictor), None
    except Exception as e:
        return None, f"prediction failed ({_describe(e)})"


def _probs(result: dict, run: Run) -> tuple[np.ndarray | None, tuple[str, ...]]:
    probs = result.get("probs")
    space = tuple(result.get("label_space") or (run.metrics or {}).get("label_space") or ())
    if probs is None or (result.get("present") is False):
        return None, space
    return np.asarray(probs, dtype=np.float64).reshape(-1), space


def _branch_output(modality: str, run: Run, call: Callable[[Any], dict],
                   unscored_note: str) -> tuple[Output, dict | None]:
    """One branch's Output for the try-it page (probabilities, or the note saying why there are none)."""
    result, note = _run_model(modality, run, call)
    out = Output(source=run.id, branch=run.branch, modality=modality, note=note)
    if result is not None:
        out.probs, out.label_space = _probs(result, run)
        if out.probs is None:
            out.note = unscored_note
    return out, result


# ----------------------------------------------------------------------------------------- branches
def face_runs(results: Results) -> list[Run]:
    return [r for r in results.finished if r.modality == "face"]


def face_outputs(results: Results, image: Image.Image) -> tuple[list[Output], str | None]:
    """Every finished face run with a checkpoint on ``image``; plus a note when there is none."""
    runs = face_runs(results)
    usable = [r for r in runs if r.has_checkpoint]
    if not usable:
        where = f"`{results.root}`"
        note = (f"No face model checkpoint (`best.pt`) under {where}: checkpoints are not committed, only their "
                f"results. Train one with `{TRAIN_FACE}` (FER2013 under $FER_DATA_ROOT or data/), or a one-minute "
                f"smoke model with `{SMOKE_FACE}` and open the dashboard on `runs/smoke`.")
        return [], note
    outs = []
    for run in usable:
        out, result = _branch_output("face", run, lambda p: p.predict_image(image), "no face found in the image")
        if result is not None:
            out.extra = {k: result.get(k) for k in ("box", "crop") if result.get(k) is not None}
        outs.append(out)
    return outs, None


def landmark_outputs(results: Results, image: Image.Image) -> tuple[list[Output], dict[str, Any] | None, str | None]:
    """Landmark-branch predictions, and the 68 points + face box to draw (``{"points", "box"}``).

    Without a trained landmark run the points still come from dlib's shape predictor, so the overlay
    is shown on a fresh clone."""
    outs, shape, note = [], None, None
    for run in [r for r in results.finished if r.modality == "landmarks"]:
        result, err = _run_model("landmarks", run, lambda p: p.predict_image(image))
        out = Output(source=run.id, branch=run.branch, modality="landmarks", note=err)
        if result is not None:
            out.probs, out.label_space = _probs(result, run)
            if result.get("points") is not None and shape is None:
                shape = {"points": np.asarray(result["points"], dtype=np.float64), "box": result.get("box")}
            if out.probs is None:
                out.note = f"no usable landmarks on this face ({result.get('reason') or 'not found'})"
        outs.append(out)
    if shape is None:
        shape, note = raw_landmarks(image)
    return outs, shape, note


def raw_landmarks(image: Image.Image) -> tuple[dict[str, Any] | None, str | None]:
    """68 points from dlib's shape predictor, located the way the landmark branch does (crop or photo)."""
    try:
        from fer_face.landmarks.predict import find_landmarks
    except ModuleNotFoundError as e:
        return None, missing_module_note(e, "the landmark extractor (fer_face.landmarks)")
    try:
        lm, _ = find_landmarks(image)
    except Exception as e:
        return None, f"landmark extraction failed ({_describe(e)})"
    if lm.points is None:
        return None, f"no landmarks found ({lm.reason})"
    return {"points": np.asarray(lm.points, dtype=np.float64), "box": lm.box}, None


def draw_landmarks(image: Image.Image, shape: dict[str, Any]) -> Image.Image:
    """The image (enlarged when small) with the face box and the 68 points, drawn by the landmark branch."""
    from fer_face.landmarks.overlay import draw_landmarks as draw

    return draw(image, shape["points"], box=shape.get("box"))


def audio_outputs(results: Results, clip: Path) -> tuple[list[Output], str | None]:
    runs = [r for r in results.finished if r.modality == "audio"]
    if not runs:
        return [], ("No speech-branch run under `{}`; train one with `fer audio` (see `fer audio --help`; RAVDESS "
                    "under $FER_DATA_ROOT).".format(results.root))
    outs = [_branch_output("audio", run, lambda p: p.predict_file(clip), "the clip could not be scored")[0]
            for run in runs]
    return outs, None


# ------------------------------------------------------------------------------------------- fusion
def _same_dir(a: str | os.PathLike, b: Path, base: Path) -> bool:
    candidates = [Path(a)] if Path(a).is_absolute() else [Path.cwd() / a, base / a]
    try:
        target = b.resolve()
        return any(c.resolve() == target for c in candidates)
    except OSError:
        return False


def _member_output(member: dict[str, Any], outputs: list[Output], root: Path) -> Output | None:
    """The branch output a fusion member refers to: same branch name, or the same run directory."""
    for o in outputs:
        if o.probs is None:
            continue
        if o.branch in (member.get("name"), member.get("branch")):
            return o
        if member.get("run_dir") and _same_dir(member["run_dir"], root / o.source, root):
            return o
    return None


def fused_outputs(results: Results, branch_outputs: list[Output]) -> list[Output]:
    """The fitted fusion of every ensemble run, applied to whichever of its branches produced a prediction."""
    outs = []
    for run in results.ensembles:
        if not run.fusion or not isinstance(run.fusion.get("branches"), list):
            continue
        members = [b for b in run.fusion["branches"] if isinstance(b, dict) and "name" in b]
        matched = {b["name"]: _member_output(b, branch_outputs, results.root) for b in members}
        probs_by_branch = {name: None if o is None else o.probs[None, :] for name, o in matched.items()}
        space = run.fusion.get("label_space") or (run.metrics or {}).get("label_space") or ()
        out = Output(source=f"fusion: {run.id}", branch="fusion", modality="fusion", label_space=tuple(space))
        used = [name for name, o in matched.items() if o is not None]
        if not used:
            out.note = "none of its branches produced a prediction for this input"
            outs.append(out)
            continue
        try:
            fusion = _fusion(str(run.path), file_stamp(run.path / "fusion.json"))
            fused = np.asarray(fusion.fuse(probs_by_branch), dtype=np.float64).reshape(-1)
            if np.isfinite(fused).all():
                out.probs = fused
                out.note = f"from {len(used)} of {len(members)} branches: {', '.join(used)}"
            else:
                out.note = "the fusion returned no prediction for this input"
        except ModuleNotFoundError as e:
            out.note = missing_module_note(e, "the ensemble (ensemble.fusion)")
        except Exception as e:
            out.note = f"fusion failed ({_describe(e)})"
        outs.append(out)
    return outs


# -------------------------------------------------------------------------------------- input images
def synthetic_face(label: int, seed: int) -> Image.Image:
    """A generated 48x48 face of class ``label`` (the synthetic smoke set's generator), not a real photo."""
    from fer_face.data.synthetic import make_synthetic

    images, labels, _, _ = make_synthetic(seed, sizes={"PrivateTest": 1})
    return Image.fromarray(images[int(np.flatnonzero(labels == label)[0])])


def fer2013_source() -> str | None:
    """The FER2013 archive/CSV/folder under $FER_DATA_ROOT (or data/), or None when absent."""
    try:
        from fer_core.errors import DataError
        from fer_face.data.load import resolve_data_arg

        return resolve_data_arg(None)
    except (DataError, ModuleNotFoundError):
        return None


@st.cache_resource(show_spinner="decoding FER2013 (once; cached on disk afterwards) ...", max_entries=1)
def private_test(source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from fer_face.data import load_fer2013

    ds = load_fer2013(source)
    images, labels = ds.split_arrays("PrivateTest")
    return images, labels, ds.split_ids("PrivateTest")


def as_frame(outputs: list[Output]):
    """Long frame (source, emotion, probability) of the outputs that have probabilities."""
    import pandas as pd

    rows = [{"source": o.source, "emotion": name, "probability": float(p)}
            for o in outputs if o.probs is not None for name, p in zip(o.label_space, o.probs)]
    return pd.DataFrame(rows, columns=["source", "emotion", "probability"])
