"""Live inference for the Try-it page: the published models (or trained runs) on one photo, speech clip or video.

A photo goes through ``ensemble.photo.PhotoPredictor`` (face + landmarks, and a fusion only when every member
it was fit on is the exact loaded run, matched by fingerprint); a clip through ``fer_audio.predict``; a video
through ``ensemble.video.predict_video`` (what ``fer predict VIDEO`` runs) with the same models. Loaded
models are cached with ``st.cache_resource``, keyed by the manifest's and the weights' modification times.
Every failure comes back as a one-line note: nothing here raises into the page.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from dashboard import uploads
from dashboard.loader import Results, Run, fingerprint, load_results
from dashboard.state import file_stamp
from fer_core import zoo
from fer_core.errors import UserError

NONE = "none"  # no landmark model / no fusion
FUSED = "fused"  # the fused row of a face's probabilities
WEIGHTS = {"face": ("best.pt",), "landmarks": ("model.pt",), "audio": ("best.pt", "last.pt")}
PUBLISH = "fer models add RUN --name NAME --default"
TRAIN = {"face": "fer face train --backbone mobilenetv2_100 --out runs/face",
         "audio": "fer audio train --out runs/speech"}


def describe(e: BaseException) -> str:
    from fer_core.errors import UserError

    msg = str(e).splitlines()[0] if str(e) else ""
    if isinstance(e, UserError) and msg:  # written for people: the message alone
        return msg
    return f"{e.__class__.__name__}: {msg}" if msg else e.__class__.__name__


# ----------------------------------------------------------------------------------- what can be loaded
def load_manifest() -> tuple[zoo.Manifest, str | None]:
    """The model zoo ($FER_ZOO_DIR, else the package's); an empty one and a note when it cannot be read."""
    try:
        return zoo.load_manifest(), None
    except Exception as e:
        return zoo.Manifest(), f"The model manifest cannot be read ({describe(e)}); only trained runs are offered."


def manifest_path(manifest: zoo.Manifest) -> Path:
    return manifest.root / zoo.MANIFEST_FILE


@st.cache_data(show_spinner=False, max_entries=4)
def _results(root: str, stamp: tuple) -> Results:  # stamp: cache key only
    return load_results(root)


def nearby_runs(results_root: Path) -> list[Run]:
    """Every run under the results root and under the ``runs/`` folder beside it."""
    roots = {}
    for root in (results_root, results_root.parent / "runs"):
        if root.is_dir():
            roots.setdefault(root.resolve(), root)
    return [run for root in roots.values() for run in _results(str(root), fingerprint(root)).runs]


@dataclass(frozen=True)
class ModelOption:
    source: str  # what the branch's load_model takes: a published name or a run directory
    label: str


def model_options(branch: str, manifest: zoo.Manifest, runs: list[Run]) -> list[ModelOption]:
    """Published models of ``branch``, then evaluated runs whose weights are on disk (others cannot load)."""
    published = []
    for m in manifest.models:
        if m.branch == branch:
            score = f"{m.metrics.get('split', '?')} accuracy {m.metrics['accuracy']:.1%}" \
                if isinstance(m.metrics.get("accuracy"), (int, float)) else "published"
            published.append(ModelOption(m.name, f"{m.name} ({'default, ' if m.default else ''}{score})"))
    trained = [ModelOption(str(r.path), f"run {r.path}") for r in runs
               if r.finished and r.modality == branch and any((r.path / w).is_file() for w in WEIGHTS[branch])]
    return published + trained


def default_model(branch: str, manifest: zoo.Manifest) -> str | None:
    return next((m.name for m in manifest.models if m.branch == branch and m.default), None)


def no_model_note(branch: str, manifest: zoo.Manifest) -> str:
    what = {"face": "face", "audio": "speech"}[branch]
    return (f"No {what} model is published in `{manifest_path(manifest)}`: train one (`{TRAIN[branch]}`) and publish "
            f"it with `{PUBLISH}`, or pick a trained run under *Models*.")


def _stamp(manifest: zoo.Manifest, *sources: str) -> tuple:
    """Cache key: the manifest's and each run directory's weights and metrics (a retrained model is reloaded)."""
    out = [file_stamp(manifest_path(manifest))]
    for s in sources:
        if Path(s).is_dir():
            out += [file_stamp(Path(s) / name) for name in (*WEIGHTS["face"], *WEIGHTS["landmarks"],
                                                              *WEIGHTS["audio"], "metrics.json")]
    return tuple(out)


def _guarded(load: Callable[[], Any], what: str) -> tuple[Any, str | None]:
    try:
        return load(), None
    except ModuleNotFoundError as e:
        return None, f"{what} is not available in this installation ({describe(e)}); install the project with `pip install -e .`"
    except Exception as e:  # a model this version cannot load: one line, never a traceback
        return None, f"could not load {what} ({describe(e)})"


# ---------------------------------------------------------------------------------------------- photo
@st.cache_resource(show_spinner="loading the face and landmark models ...", max_entries=8)
def _photo_models(face: str, landmarks: str, stamp: tuple):  # stamp: cache key only
    from ensemble.photo import PhotoPredictor

    return PhotoPredictor.load(face, landmarks, NONE)


def photo_models(face: str, landmarks: str, manifest: zoo.Manifest):
    """A ``PhotoPredictor`` without fusion for the face and landmark models (``landmarks`` may be NONE)."""
    return _guarded(lambda: _photo_models(face, landmarks, _stamp(manifest, face, landmarks)),
                    f"the models {face} / {landmarks}")


@dataclass(frozen=True)
class FusionOption:
    source: str  # published name or fusion run directory
    label: str
    fusion: Any = field(compare=False, repr=False)  # ensemble.fusion.FittedFusion
    conformal: Any = field(default=None, compare=False, repr=False)  # its prediction-set thresholds, if recorded


def _fusion_candidates(manifest: zoo.Manifest, runs: list[Run]) -> list[tuple[str, str, Callable[[], Any]]]:
    """(source, label, loader of (fusion, name, prediction-set thresholds)) per published fusion and fusion run."""
    from ensemble.photo import load_fusion

    out = [(f.name, f"{f.name} (published{', default' if f.default else ''})", lambda f=f: load_fusion(f.name))
           for f in manifest.fusions]
    out += [(str(r.path), f"run {r.path}", lambda r=r: load_fusion(r.path)) for r in runs if isinstance(r.fusion, dict)]
    return out


def fusion_options(predictor, manifest: zoo.Manifest, runs: list[Run]) -> tuple[list[FusionOption], list[str]]:
    """Fusions whose every member is one of the loaded runs (by fingerprint), and the labels of the others."""
    loaded = predictor.fingerprints()
    offered, others = [], []
    for source, label, load in _fusion_candidates(manifest, runs):
        try:
            fusion, _, conformal = load()
        except Exception:  # unreadable or tampered: not applicable either
            others.append(label)
            continue
        if len(fusion.member_for(loaded)) == len(fusion.names):
            offered.append(FusionOption(source, label, fusion, conformal))
        else:
            others.append(label)
    return offered, others


def default_fusion(offered: list[FusionOption], manifest: zoo.Manifest) -> str:
    shipped = manifest.default_fusion()
    return shipped.name if shipped is not None and shipped.name in {o.source for o in offered} else NONE


def with_fusion(predictor, option: FusionOption | None):
    """The predictor with ``option``'s fusion applied (the constructor checks every member is loaded)."""
    if option is None:
        return predictor, None
    from ensemble.photo import PhotoPredictor

    return _guarded(lambda: PhotoPredictor(predictor.face, predictor.landmarks, option.fusion, option.label,
                                           option.conformal), f"the fusion {option.label}")


SET_COVERAGE = 0.9  # the prediction set the page shows, when the model or fusion records its thresholds


def predict_face(predictor, image: Image.Image):
    """The most confident face (``ensemble.photo.FusedFace``, with its prediction set when the output's thresholds
    are recorded), or None and why."""
    try:
        predictor.set_thresholds(SET_COVERAGE)
        coverage = SET_COVERAGE
    except UserError:
        coverage = None
    try:
        faces = predictor.predict(image, coverage=coverage)
    except Exception as e:
        return None, f"Prediction failed ({describe(e)})."
    if not faces:
        return None, "No face found in this image; try a frontal, well-lit face photo."
    return faces[0], None


def annotated(image: Image.Image, face) -> Image.Image:
    """The photo with the face box and the 68 landmarks; the photo itself if drawing fails."""
    try:
        from fer_face.landmarks.overlay import draw_landmarks

        return draw_landmarks(image, face.points, box=face.box)
    except Exception:
        return image


def face_probabilities(face) -> pd.DataFrame:
    """Rows: each branch with a prediction, then the fused one; columns: emotions."""
    rows = {k: v for k, v in face.branches.items() if v is not None}
    if face.fused is not None:
        rows[FUSED] = face.fused
    return pd.DataFrame.from_dict(rows, orient="index")


def long_frame(table: pd.DataFrame) -> pd.DataFrame:
    """(source, emotion, probability) rows for ``charts.probability_bars``."""
    long = table.stack(future_stack=True).dropna().rename("probability").reset_index()
    return long.set_axis(["source", "emotion", "probability"], axis=1)


# --------------------------------------------------------------------------------------------- speech
@st.cache_resource(show_spinner="loading the speech model ...", max_entries=4)
def _speech_model(source: str, stamp: tuple):  # stamp: cache key only
    from fer_audio.predict import load_model

    return load_model(source)


def speech_model(source: str, manifest: zoo.Manifest):
    return _guarded(lambda: _speech_model(source, _stamp(manifest, source)), f"the speech model {source}")


def predict_clip(model, path: Path) -> tuple[pd.DataFrame | None, str | None]:
    """One row (the model's branch) of calibrated probabilities over its label space, or None and why."""
    try:
        result = model.predict_file(path)
    except Exception as e:
        return None, f"The clip could not be scored ({describe(e)})."
    if not result["present"]:  # the speech detector heard no voice
        return None, (f"No speech found in the clip (speech in {result['speech_share']:.0%} of its 32 ms frames): "
                      "music, noise or a tone is not scored.")
    probs = np.asarray(result["probs"], dtype=np.float64)
    return pd.DataFrame([probs], index=[model.branch], columns=list(result["label_space"])), None


# --------------------------------------------------------------------------------------------- inputs
@st.cache_data(show_spinner=False, max_entries=1)
def sample_photo() -> Image.Image | None:
    """scikit-image's astronaut (Eileen Collins, public domain); None without scikit-image."""
    try:
        from skimage import data
    except ModuleNotFoundError:
        return None
    return Image.fromarray(data.astronaut())


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


# ---------------------------------------------------------------------------------------------- video
VIDEO_FRAMES_SHOWN = 4
NO_FACE_TRACK = "no face (voice only)"


@dataclass
class AnnotatedFrame:
    time: float  # s since the first video frame
    image: Image.Image
    caption: str


@dataclass
class VideoOutcome:
    result: Any  # ensemble.video_result.VideoResult
    timeline: pd.DataFrame  # long: start, end, time (window centre), track, emotion, probability (fused)
    frames: list[AnnotatedFrame]


def video_predictor(photo, speech=None):
    """An ``ensemble.video.VideoPredictor`` of the loaded photo models (with their fusion) and the speech model
    (None: face only); windows are fused as ``fer predict VIDEO`` does by default."""
    from ensemble.video import VideoPredictor

    return VideoPredictor(photo, speech)


def timeline_frame(result) -> pd.DataFrame:
    """The fused probabilities per time window and face track, in long format for ``charts.video_timeline``."""
    rows = [{"start": r.start, "end": r.end, "time": (r.start + r.end) / 2,
             "track": NO_FACE_TRACK if r.track is None else f"face #{r.track}", "emotion": emotion,
             "probability": p}
            for r in result.rows if r.fused is not None for emotion, p in r.fused.items()]
    return pd.DataFrame(rows, columns=["start", "end", "time", "track", "emotion", "probability"])


def timeline_table(result) -> pd.DataFrame:
    """One row per time window and track: sound, label, confidence and the fused probabilities."""
    rows = [{"start (s)": r.start, "end (s)": r.end, "track": "—" if r.track is None else f"#{r.track}",
             "sound": "—" if r.sound is None else ("yes" if r.sound else "no"), "label": r.label or "—",
             "confidence": r.confidence, **{c: (r.fused or {}).get(c) for c in result.label_space}}
            for r in result.rows]
    return pd.DataFrame(rows, columns=["start (s)", "end (s)", "track", "sound", "label", "confidence",
                                       *result.label_space])


def annotated_frames(result, count: int = VIDEO_FRAMES_SHOWN) -> list[AnnotatedFrame]:
    """``count`` frames spread over the video (those with a tracked face, when there are any), each drawn as in
    ``fer predict VIDEO --annotate``: boxes, track ids and the fused label of the nearest window."""
    from PIL import ImageFont

    from ensemble.video_decode import iter_frames
    # the drawing of `fer predict VIDEO --annotate`, so these frames look exactly like the annotated MP4's
    from ensemble.video_output import draw_tracks, labels_by_track, nearest_label

    pool = [f for f in result.frames if f.boxes] or result.frames
    if not pool:
        return []
    picks = {pool[round(i)].index: pool[round(i)] for i in np.linspace(0, len(pool) - 1, min(count, len(pool)))}
    labels = labels_by_track(result)
    font = ImageFont.load_default(size=max(12, result.info.height // 30))
    out = []
    with contextlib.closing(iter_frames(result.info, "rgb24")) as frames:
        for index, t, rgb in frames:
            if index in picks:
                image = Image.fromarray(rgb)
                draw_tracks(image, picks[index].boxes, labels, t, font)
                found = [(track, nearest_label(labels.get(track, []), t)) for track, _ in picks[index].boxes]
                said = ", ".join(f"#{track} " + (f"{hit[0]} {hit[1]:.0%}" if hit else "?")
                                 for track, hit in found) or "no face"
                out.append(AnnotatedFrame(t, image, f"{t:.1f} s · {said}"))
            if index >= max(picks):
                break
    return out


def predict_video(predictor, path: Path) -> tuple[VideoOutcome | None, str | None]:
    """The timeline of a video checked by ``uploads.video_file``, or None and why (one line)."""
    from ensemble.video import VideoOptions, predict_video as run

    try:
        result = run(path, predictor, VideoOptions(progress=False, limits=uploads.video_limits()))
        frames = annotated_frames(result)
    except Exception as e:
        return None, f"The video could not be scored ({describe(e).replace(f'{path}: ', '')})."
    return VideoOutcome(result, timeline_frame(result), frames), None
