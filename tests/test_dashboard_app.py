"""Every dashboard page under Streamlit's AppTest on fixture results (and on an empty root)."""

from __future__ import annotations

import io
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_core.labels import FER7
from fer_face.models import get_backbone
from tests.dashboard_fixtures import PUBLISHED, shared_published, shared_results, write_fusion, zoo_with_a_face_model
from tests.video_fixtures import speech as spoken

streamlit_testing = pytest.importorskip("streamlit.testing.v1")
AppTest = streamlit_testing.AppTest

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "dashboard" / "app.py"
PAGES = ["views/overview.py", "views/training.py", "views/per_class.py", "views/calibration.py",
         "views/ensemble.py", "views/try_it.py"]
TIMEOUT_S = 300  # a ceiling for a machine busy training models, not an expectation
FER2013_RUNS = ["fer2013/efficientnet_b0", "fer2013/mobilenetv2_100", "fer2013/landmarks", "fer2013/ensemble"]


@pytest.fixture(scope="module")
def results_tree(tmp_path_factory):
    return shared_results(tmp_path_factory)


def open_app(root: Path, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.session_state["results_root"] = str(root)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def highlighted_cells(df_element) -> set[tuple[int, int]]:
    """(row, column) positions the Styler marked as best, read from the element Streamlit sends."""
    styles = df_element.proto.arrow_data.styler.styles
    bold = [block for block in styles.split("}") if "font-weight: bold" in block]
    return {(int(r), int(c)) for block in bold for r, c in re.findall(r"row(\d+)_col(\d+)", block)}


def test_overview_shows_metrics_beside_the_papers_table(results_tree):
    root, expected = results_tree
    at = open_app(root)
    assert at.title[0].value == "Overview"
    assert [s.value for s in at.subheader] == ["fer2013 · PrivateTest", "ravdess · test",
                                               "ravdess/kfold2 · 2-fold cross-validation by actor"]
    fer, ravdess = at.dataframe[0].value, at.dataframe[1].value
    assert list(fer.index) == FER2013_RUNS
    assert list(ravdess.index) == ["ravdess/audio", "ravdess/kfold2/fold-1", "ravdess/kfold2/fold-2"]
    for rid in FER2013_RUNS:
        m = expected[rid]
        assert fer.loc[rid, "test acc"] == pytest.approx(m["accuracy"], abs=1e-12)
        assert fer.loc[rid, "macro-F1"] == pytest.approx(m["macro_f1"], abs=1e-12)
        assert fer.loc[rid, "NLL"] == pytest.approx(m["nll"], abs=1e-12)
        assert fer.loc[rid, "ECE"] == pytest.approx(m["ece"], abs=1e-12)
        assert fer.loc[rid, "ECE uncal."] == pytest.approx(m["ece_uncalibrated"], abs=1e-12)
    for rid in FER2013_RUNS[:2]:
        spec = get_backbone(rid.split("/")[1])
        assert fer.loc[rid, "paper train acc"] == spec.paper_train_acc
        assert fer.loc[rid, "paper test acc"] == spec.paper_test_acc
    # best per column, recomputed here from the metrics dicts
    columns = list(fer.columns)
    want = set()
    for col, key, pick in (("test acc", "accuracy", max), ("macro-F1", "macro_f1", max), ("NLL", "nll", min),
                           ("ECE", "ece", min), ("ECE uncal.", "ece_uncalibrated", min)):
        best = pick(FER2013_RUNS, key=lambda r: expected[r][key])
        want.add((FER2013_RUNS.index(best), columns.index(col)))
    best_train = max(FER2013_RUNS[:2], key=lambda r: expected[r]["train_accuracy_clean"])
    want.add((FER2013_RUNS.index(best_train), columns.index("train acc")))
    assert highlighted_cells(at.dataframe[0]) == want  # nothing in the paper's columns
    cv = at.dataframe[2].value
    assert list(cv.index) == ["fold 1", "fold 2", "pooled, each fold's own T", "pooled, cross-fitted T"]
    folds = [expected[f"ravdess/kfold2/fold-{f}"] for f in (1, 2)]
    assert list(cv["test acc"][:2]) == pytest.approx([m["accuracy"] for m in folds], abs=1e-12)
    assert cv.loc["pooled, cross-fitted T", "test acc"] == pytest.approx(np.mean([m["accuracy"] for m in folds]))
    assert cv.loc["pooled, each fold's own T", "n"] == sum(m["n"] for m in folds)
    paper = at.dataframe[3].value
    assert paper.loc["efficientnet_b2", "paper test acc"] == 0.65213 and not highlighted_cells(at.dataframe[3])
    # no index.csv: every run is listed, and the page says so in one line
    assert [c.value for c in at.caption if "index.csv" in c.value] == [
        f"No `index.csv` in `{root}` (written by `fer results index`): every run is listed."]
    assert not at.checkbox
    # the half-written run is skipped with a visible warning; the in-progress run is listed
    assert any("fer2013/broken" in w.value and "not valid JSON" in w.value for w in at.warning)
    assert any("fer2013/efficientnet_b2" in c.value for c in at.caption)


@pytest.fixture(scope="module")
def published_tree(tmp_path_factory):
    return shared_published(tmp_path_factory)


def chart_data(element):
    """The rows an Altair chart was given, read back from the element Streamlit sends."""
    import pandas as pd
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    buffers = [element.proto.data.data] + [d.data.data for d in element.proto.datasets]
    return pd.concat([convert_arrow_bytes_to_pandas_df(b) for b in buffers if b], ignore_index=True)


def test_overview_leads_with_published_accuracy_beside_the_paper(published_tree):
    root, expected = published_tree
    at = open_app(root)
    order = [node.type for node in at.main]
    assert order.index("vega_lite_chart") < order.index("dataframe")  # the chart comes first
    chart = at.get("vega_lite_chart")[0]
    data = chart_data(chart).set_index("name")
    ours, paper = data[data["source"] == "ours"], data[data["source"] == "paper"]
    assert sorted(ours.index) == sorted(name for name, *_ in PUBLISHED)
    assert list(data["accuracy"]) == sorted(data["accuracy"], reverse=True)  # highest on top, the paper's among ours
    for name, kind, folder, _ in PUBLISHED:
        want = expected[folder]["accuracy"] if kind != "cv" else \
            json.loads((root / folder / "cv.json").read_text())["pooled_cross_fitted_temperature"]["accuracy"]
        assert ours.loc[name, "accuracy"] == pytest.approx(want, abs=1e-12) and ours.loc[name, "kind"] == kind
    assert dict(paper["accuracy"]) == {"paper: MobileNetV2": 0.64698, "paper: EfficientNet-B0": 0.65798,
                                       "paper: EfficientNet-B2": 0.65213}
    assert not paper["best"].any()
    for dataset, part in ours.groupby("dataset"):
        assert list(part.index[part["best"]]) == [part["accuracy"].idxmax()]
    assert "datum.best" in chart.proto.spec  # the green mark follows the best flag

    fer, ravdess = at.dataframe[0].value, at.dataframe[1].value
    published_fer = ["fer2013/mobilenetv2_100", "fer2013/landmarks", "fer2013/dual", "fer2013/ensemble"]
    assert list(fer.index) == published_fer and list(ravdess.index) == ["ravdess/audio"]
    assert fer.loc["fer2013/mobilenetv2_100", "published as"] == "MobileNetV2 (paper recipe)"
    columns = list(fer.columns)
    paper_columns = {columns.index("paper train acc"), columns.index("paper test acc")}
    marked = highlighted_cells(at.dataframe[0])
    assert marked and not {c for _, c in marked} & paper_columns
    best = max(published_fer, key=lambda r: expected[r]["accuracy"])
    assert (published_fer.index(best), columns.index("test acc")) in marked
    assert any("2-fold cross-validation" in s.value for s in at.subheader)  # the published CV summary
    assert not any("In progress" in c.value for c in at.caption) and not any("No `index.csv`" in c.value
                                                                            for c in at.caption)

    at.checkbox(key="overview_unpublished").check().run()
    assert not at.exception
    fer, ravdess = at.dataframe[0].value, at.dataframe[1].value
    assert "fer2013/efficientnet_b0" in fer.index and fer.loc["fer2013/efficientnet_b0", "published as"] == "—"
    assert list(ravdess.index) == ["ravdess/audio", "ravdess/kfold2/fold-1", "ravdess/kfold2/fold-2"]
    assert any("fer2013/efficientnet_b2" in c.value for c in at.caption)  # in progress: unpublished too
    assert len(at.get("vega_lite_chart")) == 1 and chart_data(at.get("vega_lite_chart")[0])["name"].tolist() == \
        data.index.tolist()  # the chart stays on what is published


@pytest.mark.parametrize("page", ["views/ensemble.py", "views/per_class.py", "views/calibration.py",
                                  "views/training.py"])
def test_every_page_opens_on_the_best_published_run(published_tree, page):
    root, expected = published_tree
    from dashboard.loader import load_results

    acc = lambda run_id: expected[run_id]["accuracy"]  # noqa: E731
    res = load_results(root)
    best_fusion = max(["fer2013/dual", "fer2013/ensemble"], key=acc)
    best_model = max(["fer2013/mobilenetv2_100", "fer2013/landmarks"], key=acc)
    # what each page opened on before index.csv existed is something else
    assert best_fusion != res.ensembles[0].id and best_model != res.finished[0].id
    assert acc("fer2013/efficientnet_b0") > acc(best_model)  # unpublished, and better: not the default
    at = open_app(root, page)
    if page == "views/ensemble.py":
        assert at.selectbox(key="ensemble_run").value == best_fusion
        assert at.metric[0].value == f"{acc(best_fusion):.2%}"
    elif page == "views/per_class.py":
        assert at.selectbox(key="per_class_run").value == best_model
        published = ["fer2013/mobilenetv2_100", "fer2013/landmarks", "fer2013/dual", "fer2013/ensemble"]
        assert at.multiselect(key="per_class_compare").value == sorted(published, key=acc, reverse=True)
    elif page == "views/calibration.py":
        assert at.multiselect(key="calibration_runs").value == [best_fusion, best_model, "ravdess/audio"]
    else:  # the landmark runs here have no history
        assert at.multiselect(key="training_runs").value == ["fer2013/mobilenetv2_100", "ravdess/audio"]


def test_overview_filters_by_dataset_and_recipe(results_tree):
    root, _ = results_tree
    at = open_app(root)
    at.multiselect(key="overview_datasets").set_value(["fer2013"]).run()
    at.multiselect(key="overview_recipes").set_value(["paper"]).run()
    assert not at.exception
    assert len(at.dataframe) == 2  # the filtered table + the paper's table
    assert list(at.dataframe[0].value.index) == ["fer2013/mobilenetv2_100"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_an_empty_root(tmp_path, page):
    at = open_app(tmp_path / "missing", page)
    if page in ("views/overview.py", "views/per_class.py", "views/calibration.py"):
        assert "No results to show yet" in at.info[0].value and "does not exist" in at.info[0].value
        assert any("fer face train" in c.value for c in at.code)
    elif page == "views/training.py":
        assert "No training history" in at.info[0].value
    elif page == "views/ensemble.py":
        assert "No ensemble run" in at.info[0].value


def test_training_page_plots_history_of_finished_and_running_runs(results_tree):
    root, _ = results_tree
    at = open_app(root, "views/training.py")
    assert at.multiselect(key="training_runs").value == ["fer2013/efficientnet_b0", "fer2013/mobilenetv2_100"]
    assert len(at.get("vega_lite_chart")) == 2
    at.multiselect(key="training_runs").set_value(["fer2013/efficientnet_b2", "ravdess/audio"]).run()
    summary = at.dataframe[0].value
    assert list(summary["status"]) == ["in progress", "finished"] and list(summary["epochs"]) == [2, 4]


def test_per_class_page_for_any_run_and_split(results_tree):
    root, expected = results_tree
    at = open_app(root, "views/per_class.py")
    at.selectbox(key="per_class_run").set_value("fer2013/ensemble").run()
    table = at.dataframe[0].value
    m = expected["fer2013/ensemble"]
    assert list(table.index) == list(FER7)
    assert list(table["recall"]) == [m["per_class"][c]["recall"] for c in FER7]
    at.selectbox(key="per_class_split").set_value("PublicTest").run()
    assert not at.exception
    from fer_core.artifact import load_run
    from fer_core.report import build_metrics

    public = build_metrics(load_run(root / "fer2013/ensemble", "PublicTest"))
    assert list(at.dataframe[0].value["precision"]) == [public["per_class"][c]["precision"] for c in FER7]
    assert f"accuracy {public['accuracy']:.2%}" in at.caption[0].value
    at.radio(key="per_class_norm").set_value("predicted").run()
    assert not at.exception and len(at.get("vega_lite_chart")) == 2


def test_calibration_page_before_and_after(results_tree):
    root, expected = results_tree
    at = open_app(root, "views/calibration.py")
    fer = at.dataframe[0].value
    for rid in FER2013_RUNS:
        assert fer.loc[rid, "ECE before"] == pytest.approx(expected[rid]["ece_uncalibrated"], abs=1e-12)
        assert fer.loc[rid, "ECE after"] == pytest.approx(expected[rid]["ece"], abs=1e-12)
        assert fer.loc[rid, "T"] == pytest.approx(expected[rid]["temperature"], abs=1e-12)
        noise = expected[rid]["ece_of_perfect_calibration"]["p95"]
        assert fer.loc[rid, "ECE noise p95"] == pytest.approx(noise, abs=1e-12) and 0 < noise < 1
    assert at.multiselect(key="calibration_runs").value[0] == "fer2013/ensemble"  # the fusion first
    assert len(at.get("vega_lite_chart")) == 4


def test_ensemble_page_shows_weights_ablation_and_conformal(results_tree):
    root, expected = results_tree
    at = open_app(root, "views/ensemble.py")
    import json

    fusion = json.loads((root / "fer2013/ensemble/fusion.json").read_text())
    ablation = json.loads((root / "fer2013/ensemble/ablation.json").read_text())["rows"]
    weights, comparison, abl, conformal = (d.value for d in at.dataframe)
    assert dict(weights["weight"]) == fusion["weights"]
    assert comparison.loc["fusion/logpool", "accuracy"] == pytest.approx(expected["fer2013/ensemble"]["accuracy"])
    assert len(abl) == 7 and abl["accuracy"].iloc[0] == max(r["accuracy"] for r in ablation)
    chosen = json.loads((root / "fer2013/ensemble/ablation.json").read_text())["selected"]["logpool"]["branches"]
    assert f"Chosen on the fit split (logpool): {' + '.join(chosen)}" in [c.value for c in at.caption]
    assert conformal.loc["fer2013/ensemble", "method"] == "LAC"
    assert at.metric[0].value == f"{expected['fer2013/ensemble']['accuracy']:.2%}"


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    # trains a tiny face model when none is published: a minute, or several on busy cores (hence the timeouts)
    return zoo_with_a_face_model(tmp_path_factory.mktemp("zoo"))


@pytest.fixture
def published(zoo_dir, monkeypatch):
    """The published models the page loads (the package's zoo, or a copy with a tiny face model added), with the
    default fusion when it was fit on them, as the page applies it."""
    monkeypatch.setenv("FER_ZOO_DIR", str(zoo_dir))
    from ensemble.photo import PhotoPredictor

    return PhotoPredictor.load()


def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def assert_face_table(at, expected) -> None:
    """The page's probability table holds each branch's and the fused probabilities of ``expected``."""
    table = at.dataframe[0].value
    rows = {branch: probs for branch, probs in expected.branches.items() if probs is not None}
    rows.update({"fused": expected.fused} if expected.fused is not None else {})
    assert list(table.index) == list(rows)
    for row, probs in rows.items():
        assert dict(table.loc[row]) == pytest.approx(probs, abs=1e-5)


def face_box(at) -> tuple[int, int, int, int]:
    found = [re.search(r"Face box x (\d+)-(\d+), y (\d+)-(\d+) px", c.value) for c in at.caption]
    left, right, top, bottom = next(map(int, m.groups()) for m in found if m)
    return left, top, right, bottom


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_try_it_shows_the_sample_photo_through_the_published_models(results_tree, published):
    root, _ = results_tree
    at = open_app(root, "views/try_it.py")
    left, top, right, bottom = face_box(at)
    assert 150 <= (left + right) / 2 <= 260 and 60 <= (top + bottom) / 2 <= 180  # her face, not the mission patch
    expected = published.predict(astronaut(), coverage=0.9)[0]
    assert_face_table(at, expected)
    assert at.markdown[0].value.startswith(f"### {expected.label} ")
    assert any("detector score" in c.value for c in at.caption)
    assert any(c.value.startswith(f"90% prediction set: {{{', '.join(expected.prediction_set)}}} ") for c in at.caption)
    # the fixture runs have no weights: only the published models are offered, nothing fails to load
    for key in ("tryit_face_model", "tryit_landmark_model", "tryit_speech_model"):
        assert not [o for o in at.selectbox(key=key).options if o.startswith("run ")]
    assert not any("could not load" in e.value for e in [*at.info, *at.error, *at.warning])


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_try_it_applies_a_fusion_only_to_the_exact_runs_it_was_fit_on(results_tree, published, tmp_path):
    src, _ = results_tree
    root = tmp_path / "results"
    shutil.copytree(src, root)
    members = [root / "fer2013/mobilenetv2_100", root / "fer2013/landmarks"]
    loaded = published.fingerprints()
    face_fp, landmarks_fp = loaded[published.face.branch], loaded[published.landmarks.branch]
    from fer_core.artifact import load_run

    other_run = load_run(root / "fer2013/landmarks", "PublicTest").fingerprint()  # another landmark run
    same = write_fusion(root / "fusions/same", members, {"face/mobilenetv2_100": face_fp, "landmarks": landmarks_fp})
    write_fusion(root / "fusions/other", members, {"face/mobilenetv2_100": face_fp, "landmarks": other_run})
    at = open_app(root, "views/try_it.py")
    fusion = at.selectbox(key="tryit_fusion")
    assert f"run {same}" in fusion.options and not [o for o in fusion.options if "fusions/other" in o]
    assert any("Not offered" in c.value and "fusions/other" in c.value for c in at.caption)
    fusion.set_value(str(same)).run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    from ensemble.fusion import FittedFusion
    from ensemble.photo import PhotoPredictor

    # the fusion combines each member's fusion input (before any isotonic maps), as the photo path does
    expected = PhotoPredictor(published.face, published.landmarks, FittedFusion.load(same), str(same))
    fused = [expected.predict(astronaut())[0].fused[c] for c in table.columns]
    assert table.loc["fused"].to_numpy() == pytest.approx(fused, abs=1e-5)
    assert any(c.value == f"fused by run {same}" for c in at.caption)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_try_it_reads_a_camera_shot_like_a_photo(results_tree, published):
    shot = io.BytesIO()
    astronaut().save(shot, format="JPEG", quality=90)  # what the browser's camera widget sends
    at = open_app(results_tree[0], "views/try_it.py")
    at.radio(key="tryit_source").set_value("Camera").run()
    assert not at.dataframe  # nothing scored before the shot
    at.camera_input(key="tryit_camera").set_value(("shot.jpg", shot.getvalue(), "image/jpeg")).run()
    assert not at.exception, [e.value for e in at.exception]
    left, top, right, bottom = face_box(at)
    assert 150 <= (left + right) / 2 <= 260 and 60 <= (top + bottom) / 2 <= 180
    assert_face_table(at, published.predict(Image.open(io.BytesIO(shot.getvalue())).convert("RGB"))[0])
    at.camera_input(key="tryit_camera").set_value(("shot.jpg", b"\xff\xd8 not a picture", "image/jpeg")).run()
    assert not at.exception and any("Image refused" in e.value for e in at.error)


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("source", ["Upload a clip", "Record with the microphone"])
def test_try_it_scores_a_speech_clip_with_the_published_model(results_tree, published, tmp_path, source):
    import soundfile

    from fer_audio.predict import load_model

    clip, hum = tmp_path / "hello.wav", tmp_path / "hum.wav"
    soundfile.write(clip, spoken(2.0), 16000)
    t = np.arange(16000) / 16000
    soundfile.write(hum, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    at = open_app(results_tree[0], "views/try_it.py")
    at.radio(key="tryit_clip_source").set_value(source).run()

    def give(path: Path) -> None:
        if source == "Upload a clip":
            at.file_uploader(key="tryit_clip").set_value((path.name, path.read_bytes(), "audio/wav")).run()
        else:
            at.audio_input(key="tryit_recording").set_value(("audio.wav", path.read_bytes(), "audio/wav")).run()
        assert not at.exception, [e.value for e in at.exception]

    give(clip)
    speech = load_model()
    table = at.dataframe[-1].value
    assert list(table.index) == [speech.branch] and list(table.columns) == list(speech.label_space)
    assert table.iloc[0].to_numpy() == pytest.approx(speech.predict_file(clip)["probs"], abs=1e-5)
    give(hum)  # a tone is no voice: said, not scored
    assert any(i.value.startswith("No speech found in the clip") for i in at.info), [i.value for i in at.info]
    assert not any(c.value.startswith(speech.branch) for c in at.caption)


def _png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_try_it_without_published_models_says_how_to_get_them(results_tree, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_ZOO_DIR", str(tmp_path / "empty-zoo"))
    src, _ = results_tree
    root = tmp_path / "results"
    shutil.copytree(src, root)
    (root / "fer2013/efficientnet_b0/best.pt").write_bytes(b"")  # weights on disk: offered, not loaded by default
    at = open_app(root, "views/try_it.py")
    infos = [i.value for i in at.info]
    assert any(i.startswith("No face model is published") and "fer models add" in i for i in infos)
    assert any(i.startswith("No speech model is published") for i in infos)
    assert at.selectbox(key="tryit_face_model").options == [f"run {root / 'fer2013/efficientnet_b0'}"]
    assert at.selectbox(key="tryit_face_model").value is None
    at.radio(key="tryit_source").set_value("Upload a photo").run()
    at.file_uploader(key="tryit_image").set_value(("x.png", b"this is not a png", "image/png")).run()
    assert not at.exception and any("Image refused" in e.value for e in at.error)
    photo = Image.fromarray((np.random.default_rng(0).random((120, 90, 3)) * 255).astype(np.uint8))
    at.file_uploader(key="tryit_image").set_value(("me.png", _png_bytes(photo), "image/png")).run()
    assert not at.exception and any(i.startswith("No face model is published") for i in (i.value for i in at.info))


def test_overview_renders_fast_on_the_committed_results(results_tree):
    """The overview renders in under 2 s (caches cleared, imports warmed by an earlier run).

    Measured as CPU time of this process (AppTest runs the script in-process), so the budget holds on
    a machine whose cores are busy with training; the wall time is printed beside it."""
    import streamlit as st

    from dashboard.loader import load_results

    committed = REPO / "results"
    root = committed if load_results(committed).finished else results_tree[0]
    open_app(results_tree[0])  # warm the imports
    st.cache_data.clear()
    wall, cpu = time.perf_counter(), time.process_time()
    open_app(root)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"overview on {root}: {cpu:.2f} s CPU, {wall:.2f} s wall")
    assert cpu < 2.0


def test_overview_shows_the_three_group_paper_table_and_figure_6(results_tree, tmp_path):
    from fer_face.paper_figure import plot_loss_curves

    root = tmp_path / "results"
    shutil.copytree(results_tree[0], root)
    folder = root / "fer2013" / "paper"
    folder.mkdir()
    group = {"train_acc": 0.97, "public_acc": 0.63, "private_acc": 0.64, "ece": 0.02, "ece_band": [0.01, 0.03],
             "epochs": 100, "recipe": "paper", "run": "runs/paper/mobilenetv2_100", "command": "fer face train ..."}
    rows = [{"backbone": "mobilenetv2_100", "paper": {"train_acc": 0.96586, "test_acc": 0.64698},
             "paper_protocol": group, "improved": {**group, "recipe": "improved", "private_acc": 0.67}},
            {"backbone": "efficientnet_b0", "paper": {"train_acc": 0.99362, "test_acc": 0.65798},
             "paper_protocol": {**group, "private_acc": 0.65}, "improved": None}]
    (folder / "paper-table.json").write_text(json.dumps(rows))
    history = [{"epoch": e, "train_loss": 2.0 / e} for e in range(1, 6)]
    plot_loss_curves({"recipe paper": {"mobilenetv2_100": history}, "recipe improved": {"mobilenetv2_100": history}},
                     folder / "paper-figure6.png")
    at = open_app(root)
    heading = "The paper's protocol beside the improved recipe · `fer2013/paper`"
    assert heading in [s.value for s in at.subheader]
    table = next(d.value for d in at.dataframe if "recipe paper PrivateTest" in d.value.columns)
    assert list(table.index) == ["mobilenetv2_100", "efficientnet_b0"]
    assert table.loc["mobilenetv2_100", "recipe improved PrivateTest"] == 0.67
    assert table.loc["efficientnet_b0", "recipe paper PrivateTest"] == 0.65
    assert np.isnan(table.loc["efficientnet_b0", "recipe improved PrivateTest"])  # no improved run: no value
    assert table.loc["efficientnet_b0", "paper test acc"] == 0.65798
    assert any("Figure 6 redrawn" in img.caption for element in at.get("image") for img in element.proto.imgs)
