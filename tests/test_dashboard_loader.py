"""Dashboard data layer: run discovery, tolerant loading, tables, upload guards and the CLI (no Streamlit run)."""

from __future__ import annotations

import io
import json
import socket
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dashboard import loader, tables, uploads
from fer_core.artifact import load_run
from fer_core.report import build_metrics
from fer_face.faces import register_photo_formats
from fer_face.models import get_backbone
from tests.dashboard_fixtures import PUBLISHED, index_row, shared_published, shared_results, write_index

FACE_RUNS = ("fer2013/mobilenetv2_100", "fer2013/efficientnet_b0")


@pytest.fixture(scope="module")
def results_tree(tmp_path_factory):
    return shared_results(tmp_path_factory)


# ------------------------------------------------------------------------------------------ loader
def test_discovers_finished_in_progress_and_corrupt_runs(results_tree):
    root, expected = results_tree
    res = loader.load_results(root)
    assert res.exists
    assert sorted(r.id for r in res.finished) == sorted(expected)
    assert [r.id for r in res.in_progress] == ["fer2013/efficientnet_b2"]
    assert len(res.problems) == 1 and res.problems[0].startswith("fer2013/broken: metrics.json is not valid JSON")
    assert [r.id for r in res.ensembles] == ["fer2013/ensemble"]
    assert [r.id for r in res.with_conformal] == ["fer2013/ensemble"]
    cv = res.get("ravdess/kfold2")
    assert [r.id for r in res.with_cv] == ["ravdess/kfold2"] and not cv.finished and cv.dataset == "ravdess"
    assert cv not in res.in_progress and cv.cv["folds"] == 2
    ens = res.get("fer2013/ensemble")
    assert ens.modality == "fusion" and len(ens.ablation) == 7 and ens.tables_meta["ablation"]["eval_split"] == "PrivateTest"
    face = res.get("fer2013/mobilenetv2_100")
    assert (face.backbone, face.recipe, face.dataset) == ("mobilenetv2_100", "paper", "fer2013")
    assert face.prediction_splits == ("PrivateTest", "PublicTest")
    assert [e["epoch"] for e in face.history] == list(range(1, 7))


def test_corrupt_cv_summary_is_reported_not_shown(tmp_path):
    (tmp_path / "ravdess" / "kfold4").mkdir(parents=True)
    (tmp_path / "ravdess" / "kfold4" / "cv.json").write_text('{"folds": 4, "per_')
    res = loader.load_results(tmp_path)
    assert res.with_cv == [] and len(res.problems) == 1
    assert res.problems[0].startswith("ravdess/kfold4: cv.json is not valid JSON")


def test_missing_and_empty_roots(tmp_path):
    missing = loader.load_results(tmp_path / "nope")
    assert not missing.exists and missing.runs == [] and missing.problems == []
    empty = loader.load_results(tmp_path)
    assert empty.exists and empty.runs == []


@pytest.mark.parametrize("content, reason", [
    ("", "is empty"),
    ('{"split": "PrivateTest", "n": 3, "accu', "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"split": "PrivateTest"}', "lacks n, accuracy"),
    ('{"split": "t", "n": 3, "accuracy": NaN, "macro_f1": 0.5, "nll": 1, "ece": 0.1, "ece_uncalibrated": null, '
     '"temperature": 1, "command": ""}', "'accuracy' is nan"),
    ('{"split": "t", "n": 3, "accuracy": 1.5, "macro_f1": 0.5, "nll": 1, "ece": 0.1, "ece_uncalibrated": null, '
     '"temperature": 1, "command": ""}', "outside 0..1"),
    ('{"split": "t", "n": 0, "accuracy": 0.5, "macro_f1": 0.5, "nll": 1, "ece": 0.1, "ece_uncalibrated": null, '
     '"temperature": 1, "command": ""}', "'n' is 0"),
])
def test_bad_metrics_file_is_skipped_with_a_reason(tmp_path, content, reason):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text(content)
    res = loader.load_results(tmp_path)
    assert res.runs == []
    assert len(res.problems) == 1 and reason in res.problems[0] and res.problems[0].startswith("run: ")


def test_bad_side_files_only_hide_their_view(results_tree, tmp_path):
    src, _ = results_tree
    run = tmp_path / "face"
    run.mkdir()
    (run / "metrics.json").write_text((src / "fer2013/mobilenetv2_100/metrics.json").read_text())
    (run / "history.json").write_text('{"epoch": 1}')
    (run / "ablation.json").write_text('{"rows": 3}')
    res = loader.load_results(tmp_path)
    assert [r.id for r in res.finished] == ["face"] and res.runs[0].history is None and res.runs[0].ablation is None
    assert any("history.json is not a list" in p for p in res.problems)
    assert any("ablation.json is not a list of rows" in p for p in res.problems)


def test_table_rows_accepts_both_layouts():
    rows = [{"name": "a", "accuracy": 0.5}]
    assert loader.table_rows("t", rows) == (rows, {}, None)
    assert loader.table_rows("t", {"rows": rows, "command": "x"}) == (rows, {"command": "x"}, None)
    assert loader.table_rows("t", {"nope": 1})[2] == "t is not a list of rows"


def test_fingerprint_changes_when_a_result_is_rewritten(results_tree, tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text("{}")
    before = loader.fingerprint(tmp_path)
    (run / "metrics.json").write_text("{}")
    assert loader.fingerprint(tmp_path) != before


# ------------------------------------------------------------------------------------------ index.csv
@pytest.fixture(scope="module")
def published_tree(tmp_path_factory):
    return shared_published(tmp_path_factory)


def test_index_names_the_published_runs(published_tree):
    root, expected = published_tree
    res = loader.load_results(root)
    assert [(e.name, e.kind, e.folder, e.shipped) for e in res.index] == list(PUBLISHED)
    assert len(res.problems) == 1 and res.problems[0].startswith("fer2013/broken:")  # the index itself is clean
    for e in res.index:
        want = expected[e.folder]["accuracy"] if e.kind != "cv" else res.get(e.folder).cv[
            "pooled_cross_fitted_temperature"]["accuracy"]
        assert e.accuracy == pytest.approx(want, abs=1e-12) and res.test_accuracy(e) == pytest.approx(want, abs=1e-12)
    assert res.entry("fer2013/mobilenetv2_100").name == "MobileNetV2 (paper recipe)"
    assert res.entry("fer2013/efficientnet_b0") is None
    listed = [r.id for r in res.listed(res.finished)]
    assert listed == sorted(f for _, kind, f, _ in PUBLISHED if kind != "cv")
    assert len(res.listed(res.finished, unpublished=True)) == len(res.finished) > len(listed)


def test_best_published_is_per_dataset_fer2013_first_and_only_published(published_tree):
    root, expected = published_tree
    res = loader.load_results(root)
    models = [f for _, kind, f, _ in PUBLISHED if kind in loader.MODEL_KINDS]
    best_fer = max((f for f in models if f.startswith("fer2013/")), key=lambda f: expected[f]["accuracy"])
    assert [r.id for r in res.best_published(loader.MODEL_KINDS)] == [best_fer, "ravdess/audio"]
    # the unpublished EfficientNet scores higher than every published model: "best" never reaches outside the index
    assert expected["fer2013/efficientnet_b0"]["accuracy"] > expected[best_fer]["accuracy"]
    fusions = [f for _, kind, f, _ in PUBLISHED if kind == "fusion"]
    best_fusion = max(fusions, key=lambda f: expected[f]["accuracy"])
    assert [r.id for r in res.best_published(["fusion"])] == [best_fusion]
    assert res.best_published(loader.MODEL_KINDS, lambda r: r.dataset == "ravdess") == [res.get("ravdess/audio")]
    assert loader.load_results(published_tree[0].parent / "nowhere").best_published(loader.MODEL_KINDS) == []


def test_without_an_index_every_run_is_listed_and_none_is_best(results_tree):
    res = loader.load_results(results_tree[0])
    assert res.index is None and res.listed(res.finished) == res.finished
    assert res.best_published(loader.MODEL_KINDS) == [] and res.entry("fer2013/mobilenetv2_100") is None


def test_index_ties_go_to_the_first_row(results_tree, tmp_path):
    src, _ = results_tree
    root = tmp_path / "results"
    for run in ("fer2013/mobilenetv2_100", "fer2013/efficientnet_b0"):
        (root / run).mkdir(parents=True)
        m = json.loads((src / "fer2013/mobilenetv2_100/metrics.json").read_text())
        (root / run / "metrics.json").write_text(json.dumps(m))
    write_index(root, [index_row(root, "first", "face", "fer2013/mobilenetv2_100"),
                       index_row(root, "second", "face", "fer2013/efficientnet_b0")])
    assert [r.id for r in loader.load_results(root).best_published(["face"])] == ["fer2013/mobilenetv2_100"]


def test_bad_index_rows_are_left_out_with_a_reason(results_tree, tmp_path):
    src, _ = results_tree
    root = tmp_path / "results"
    (root / "fer2013").mkdir(parents=True)
    for run in ("mobilenetv2_100", "landmarks"):
        (root / "fer2013" / run).mkdir()
        (root / "fer2013" / run / "metrics.json").write_text((src / "fer2013" / run / "metrics.json").read_text())
    good = index_row(root, "face", "face", "fer2013/mobilenetv2_100")
    lm = index_row(root, "lm", "landmarks", "fer2013/landmarks")
    rows = [good,
            {**good, "name": "", "folder": "x"},
            {**lm, "name": "odd kind", "kind": "audio"},
            {**lm, "name": "escapes", "folder": "../elsewhere"},
            {**lm, "name": "absolute", "folder": "/etc"},
            {**lm, "name": "not a number", "accuracy": "62 %"},
            {**lm, "name": "percent", "accuracy": "62.5"},
            {**lm, "name": "maybe", "shipped": "maybe"},
            {**good, "name": "again"},
            {**lm, "name": "face"},
            {**lm, "name": "gone", "folder": "fer2013/gone"},
            {**lm, "name": "stale", "accuracy": lm["accuracy"] + 0.01}]
    write_index(root, rows)
    res = loader.load_results(root)
    assert [e.name for e in res.index] == ["face", "gone", "stale"]
    assert res.problems == [
        "index.csv: a row has no name; row left out",
        "index.csv: odd kind: kind 'audio' is not one of face, landmarks, speech, fusion, cv; row left out",
        "index.csv: escapes: folder '../elsewhere' is not a folder inside the results root; row left out",
        "index.csv: absolute: folder '/etc' is not a folder inside the results root; row left out",
        "index.csv: not a number: accuracy '62 %' is not a number; row left out",
        "index.csv: percent: accuracy 62.5 is outside 0..1; row left out",
        "index.csv: maybe: shipped 'maybe' is neither yes nor no; row left out",
        "index.csv: again: a second row for fer2013/mobilenetv2_100; row left out",
        "index.csv: face: a second row of that name; row left out",
        "index.csv: gone names fer2013/gone, which holds no readable run; not shown",
        f"index.csv: stale's accuracy {lm['accuracy'] + 0.01:.4f} differs from fer2013/landmarks/metrics.json "
        f"({lm['accuracy']:.4f}); the run's own is shown, re-run fer results index",
    ]
    assert res.test_accuracy(res.index[2]) == lm["accuracy"]


@pytest.mark.parametrize("content, reason", [
    ("name,kind,folder\nx,face,a\n", "no column dataset, accuracy, shipped (still being written?)"),
    ("", "no column name, kind, dataset, folder, accuracy, shipped (still being written?)"),
    (b"\xff\xfe\x00garbage", "unreadable (UnicodeDecodeError)"),
])
def test_an_unusable_index_lists_every_run(results_tree, tmp_path, content, reason):
    src, _ = results_tree
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text((src / "fer2013/landmarks/metrics.json").read_text())
    path = tmp_path / "index.csv"
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    res = loader.load_results(tmp_path)
    assert res.index is None and [r.id for r in res.listed(res.finished)] == ["run"]
    assert res.problems == [f"index.csv: {reason}; every run is listed"]


def test_fingerprint_changes_when_the_index_is_written(results_tree, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text("{}")
    before = loader.fingerprint(tmp_path)
    (tmp_path / "index.csv").write_text("name,kind\n")
    assert loader.fingerprint(tmp_path) != before


def test_accuracy_frame_puts_the_paper_beside_fer2013_and_marks_only_our_best(published_tree):
    root, expected = published_tree
    res = loader.load_results(root)
    acc = tables.accuracy_frame(res).set_index("name")
    ours = acc[acc["source"] == tables.OURS]
    assert list(ours.index) == [name for name, *_ in PUBLISHED]
    for name, kind, folder, _ in PUBLISHED:
        assert ours.loc[name, "kind"] == kind and ours.loc[name, "run"] == folder
        assert ours.loc[name, "accuracy"] == pytest.approx(res.test_accuracy(res.entry(folder)), abs=1e-12)
    paper = acc[acc["source"] == tables.PAPER]
    assert dict(paper["accuracy"]) == {"paper: MobileNetV2": 0.64698, "paper: EfficientNet-B0": 0.65798,
                                       "paper: EfficientNet-B2": 0.65213}
    assert set(paper["dataset"]) == {"fer2013"} and not paper["best"].any()
    for dataset, part in ours.groupby("dataset"):
        assert list(part.index[part["best"]]) == [part["accuracy"].idxmax()]


def test_the_papers_higher_numbers_are_never_marked_best(results_tree, tmp_path):
    src, expected = results_tree
    root = tmp_path / "results"
    for run in ("fer2013/mobilenetv2_100", "fer2013/landmarks"):
        (root / run).mkdir(parents=True)
        (root / run / "metrics.json").write_text((src / run / "metrics.json").read_text())
    write_index(root, [index_row(root, "face", "face", "fer2013/mobilenetv2_100"),
                       index_row(root, "lm", "landmarks", "fer2013/landmarks")])
    acc = tables.accuracy_frame(loader.load_results(root)).set_index("name")
    assert acc.loc[acc["source"] == tables.PAPER, "accuracy"].min() > max(
        expected[r]["accuracy"] for r in ("fer2013/mobilenetv2_100", "fer2013/landmarks"))  # the paper scores higher
    best = "face" if expected["fer2013/mobilenetv2_100"]["accuracy"] > expected["fer2013/landmarks"]["accuracy"] else "lm"
    assert list(acc.index[acc["best"]]) == [best]


def test_accuracy_frame_without_an_index_is_every_finished_run(results_tree):
    root, expected = results_tree
    acc = tables.accuracy_frame(loader.load_results(root))
    ours = acc[acc["source"] == tables.OURS].set_index("run")
    assert sorted(ours.index) == sorted(expected)
    assert ours.loc["ravdess/audio", "kind"] == "speech" and ours.loc["fer2013/ensemble", "kind"] == "fusion"
    assert (acc["source"] == tables.PAPER).sum() == 3


def test_split_metrics_match_build_metrics(results_tree):
    root, _ = results_tree
    run = root / "fer2013/efficientnet_b0"
    assert loader.split_metrics(run, "PublicTest") == build_metrics(load_run(run, "PublicTest"))
    from fer_core.errors import ArtifactError

    with pytest.raises(ArtifactError, match="no predictions for split 'Training'"):
        loader.split_metrics(run, "Training")


# ------------------------------------------------------------------------------------------ tables
def test_overview_frame_holds_metrics_and_paper_table_1(results_tree):
    root, expected = results_tree
    frame = tables.overview_frame(loader.load_results(root).finished)
    assert sorted(frame.index) == sorted(expected)
    for rid, m in expected.items():
        row = frame.loc[rid]
        assert row[tables.TEST_ACC] == m["accuracy"] and row[tables.MACRO_F1] == m["macro_f1"]
        assert row[tables.NLL] == m["nll"] and row[tables.ECE] == m["ece"]
        assert row[tables.ECE_UNCAL] == m["ece_uncalibrated"] and row["n"] == m["n"]
    for rid in FACE_RUNS:
        spec = get_backbone(rid.split("/")[1])
        assert frame.loc[rid, tables.PAPER_TEST] == spec.paper_test_acc
        assert frame.loc[rid, tables.PAPER_TRAIN] == spec.paper_train_acc
        assert frame.loc[rid, tables.TRAIN_ACC] == expected[rid]["train_accuracy_clean"]
    assert np.isnan(frame.loc["fer2013/ensemble", tables.PAPER_TEST])
    assert list(frame.loc[frame["dataset"] == "fer2013", "modality"]) == ["face", "face", "landmarks", "fusion"]


def test_best_index_directions_ties_and_nan():
    import pandas as pd

    df = pd.DataFrame({"acc": [0.5, 0.7, 0.7], "nll": [1.0, 0.9, np.nan], "empty": [np.nan] * 3}, index=list("abc"))
    best = tables.best_index(df, ["acc", "empty"], ["nll"])
    assert best == {"acc": ["b", "c"], "nll": ["b"]}


def test_normalised_confusion_rows_are_recall(results_tree):
    root, expected = results_tree
    m = expected["fer2013/landmarks"]
    by_true = tables.normalised_confusion(m, "true")
    np.testing.assert_allclose(by_true.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.diag(by_true), [m["per_class"][c]["recall"] for c in m["label_space"]])
    by_pred = tables.normalised_confusion(m, "predicted")
    np.testing.assert_allclose(np.diag(by_pred), [m["per_class"][c]["precision"] for c in m["label_space"]])
    with pytest.raises(ValueError, match="does not match"):
        tables.normalised_confusion({**m, "confusion_matrix": [[1, 2], [3, 4]]})


def test_ablation_and_weights_tables(results_tree):
    root, _ = results_tree
    ens = loader.load_results(root).get("fer2013/ensemble")
    ab = tables.ablation_frame(ens.ablation)
    assert len(ab) == 7 and ab["accuracy"].is_monotonic_decreasing
    assert ab["accuracy"].iloc[0] == max(r["accuracy"] for r in ens.ablation)
    assert sorted(ab["fit-split CV acc"]) == sorted(r["fit_cv_accuracy"] for r in ens.ablation)
    w = tables.fusion_weights_frame(ens.fusion)
    assert list(w.index) == [b["name"] for b in ens.fusion["branches"]]
    assert list(w["weight"]) == [ens.fusion["weights"][n] for n in w.index]


# ------------------------------------------------------------------------------------------ uploads
def _png(size=(32, 24), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 128).save(buf, format="PNG")
    return buf.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's signature)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_open_image_accepts_photos_and_converts_to_rgb():
    im = uploads.open_image(_png(mode="L"))
    assert im.mode == "RGB" and im.size == (32, 24)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_open_image_accepts_heic_and_avif_photos(fmt):
    register_photo_formats()
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 100, 50)).save(buf, format=fmt, quality=95)
    im = uploads.open_image(buf.getvalue())
    assert im.mode == "RGB" and im.size == (32, 24)
    assert np.abs(np.asarray(im, np.int16) - (200, 100, 50)).mean() < 8


def test_a_16_bit_upload_keeps_its_grey_levels():
    buf = io.BytesIO()
    Image.fromarray(np.full((24, 32), 128 * 257, np.uint16)).save(buf, format="PNG")
    im = uploads.open_image(buf.getvalue())
    assert im.mode == "RGB" and np.asarray(im).min() == np.asarray(im).max() == 128


@pytest.mark.parametrize("data, match", [
    (b"", "empty"),
    (b"not an image at all", "not a readable"),
    (_png_claiming(100_000, 100_000), "too many pixels|megapixels"),
    (_png_claiming(8_000, 6_000), "8000x6000 pixels; the limit is 40 megapixels"),
    (b"GIF89a" + b"\0" * 64, "not a readable"),
])
def test_open_image_refuses_bad_uploads(data, match):
    with pytest.raises(uploads.UploadError, match=match):
        uploads.open_image(data)


def test_open_image_refuses_oversized_files():
    with pytest.raises(uploads.UploadError, match="the limit is 10 MB"):
        uploads.open_image(b"\0" * (uploads.MAX_IMAGE_MB * 2**20 + 1))


def _wav(seconds: float, sr: int = 8000) -> bytes:
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, np.zeros(int(seconds * sr), np.float32), sr, format="WAV")
    return buf.getvalue()


def test_audio_file_lives_in_a_temp_dir_and_is_removed():
    with uploads.audio_file(_wav(1.0), "../../etc/evil name.WAV") as path:
        assert path.name == "clip.wav" and path.is_file() and path.parent.name.startswith("fer-dashboard-")
    assert not path.exists() and not path.parent.exists()


def _m4a(seconds: float, sr: int = 16000) -> bytes:
    """A voice memo's container (AAC in M4A), written with PyAV."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="ipod") as out:
        stream = out.add_stream("aac", rate=sr)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.full((1, int(seconds * sr)), 0.1, np.float32), format="flt",
                                           layout="mono")
        frame.sample_rate, frame.pts = sr, 0
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    return buf.getvalue()


def test_a_voice_memo_is_accepted():
    with uploads.audio_file(_m4a(2.0), "Memo 12.m4a") as path:
        assert path.name == "clip.m4a" and path.is_file()


@pytest.mark.parametrize("name, data, match", [
    ("clip.aiff", b"FORM", "not an accepted audio type"),
    ("clip.pkl", b"\x80\x04", "not an accepted audio type"),
    ("clip.wav", b"RIFF....garbage", "not a readable WAV"),
    ("clip.m4a", b"\x00\x00\x00\x18ftypM4A garbage", "not a readable M4A audio file: corrupt"),
    ("clip.wav", None, "the limit is 60 s"),
    ("clip.m4a", "memo", "the limit is 60 s"),
])
def test_audio_file_refuses_bad_clips(name, data, match):
    data = _wav(61.0) if data is None else _m4a(61.0) if data == "memo" else data
    with pytest.raises(uploads.UploadError, match=match):
        with uploads.audio_file(data, name):
            pass


# ------------------------------------------------------------------------------------------ CLI
def test_cli_builds_the_streamlit_command(tmp_path):
    from dashboard import cli
    from fer_core.cli import build_parser

    args = build_parser().parse_args(["dashboard", "--results", str(tmp_path), "--port", "8765", "--no-browser"])
    cmd = cli.streamlit_command(args)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and Path(cmd[4]) == Path(cli.__file__).with_name("app.py")
    assert cmd[cmd.index("--server.port") + 1] == "8765" and cmd[cmd.index("--server.headless") + 1] == "true"
    assert cmd[cmd.index("--server.maxUploadSize") + 1] == str(uploads.MAX_VIDEO_MB)  # the largest upload
    assert cmd[-3:] == ["--", "--results", str(tmp_path.resolve())]


def test_cli_refuses_a_busy_port(tmp_path):
    from dashboard import cli
    from fer_core.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not cli.port_free("localhost", port)
        assert main(["dashboard", "--results", str(tmp_path), "--port", str(port)]) == 2


def test_default_results_root_reads_streamlit_script_args(monkeypatch):
    from dashboard.state import default_results_root

    monkeypatch.delenv("FER_RESULTS", raising=False)
    assert default_results_root(["--results", "runs"]) == "runs"
    assert default_results_root(["-q", "tests"]) == "results"
    monkeypatch.setenv("FER_RESULTS", "elsewhere")
    assert default_results_root([]) == "elsewhere"
    assert json.loads(json.dumps(default_results_root(["--results=x"]))) == "x"


def test_training_summary_shows_warm_starts(tmp_path):
    hist = [{"epoch": e, "val_acc": v, "epoch_time_s": 60.0, "train_images_per_s": 200.0}
            for e, v in ((1, 0.60), (2, 0.64), (3, 0.63))]
    runs = [loader.Run(id="restart", path=tmp_path, metrics={"prior_epochs": 42}, history=hist),
            loader.Run(id="scratch", path=tmp_path, metrics={}, history=hist[:1]),
            loader.Run(id="running", path=tmp_path, history=hist[:2])]
    df = tables.training_summary(runs)
    assert df.loc["restart", "warm start (epochs)"] == 42 and df.loc["restart", "best epoch"] == 2
    assert df.loc["scratch", "warm start (epochs)"] == 0 and df.loc["running", "status"] == "in progress"
    assert df.loc["restart", "time (min)"] == pytest.approx(3.0)


def test_calibration_table_names_each_runs_calibration():
    results = loader.load_results(Path(__file__).resolve().parents[1] / "results")
    frame = tables.calibration_frame(results.finished)
    assert frame.loc["fer2013/fusion-vgg48_slim-landmarks", "calibration"] == "isotonic"
    assert frame.loc["fer2013/vgg48_slim", "calibration"] == "isotonic"
    assert frame.loc["fer2013/landmarks_hog", "calibration"] == "temperature+bias"
    assert frame.loc["fer2013/vgg48_slim_seed0", "calibration"] == "temperature"
