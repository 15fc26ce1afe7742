"""The Try-it page's video upload: the guard in ``dashboard.uploads``, the helper in ``dashboard.live`` (the same
``ensemble.video`` pipeline as ``fer predict VIDEO``, on the shipped models) and the page under AppTest.

Clips are generated with PyAV (tests/video_fixtures.py): scikit-image's astronaut sliding across the frame with a
spoken sentence for a voice.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dashboard import live, uploads
from ensemble.video import VideoOptions, predict_video
from ensemble.video_decode import iter_frames, probe_video
from ensemble.video_output import TRACK_COLOURS
from fer_core.labels import FER7
from tests.dashboard_fixtures import shared_results
from tests.video_fixtures import picture_frames, speech, tone, write_clip

# a ceiling for loading the shipped models on a machine busy training, not an expectation
pytestmark = pytest.mark.timeout(900)
SECONDS, FPS = 2.0, 10


@pytest.fixture(scope="module")
def shipped():
    """The shipped face, landmark and fusion models and the shipped speech model, as the page loads them."""
    from ensemble.photo import PhotoPredictor
    from fer_audio.predict import load_model

    return PhotoPredictor.load(device="cpu"), load_model(device="cpu")


@pytest.fixture
def talk(tmp_path) -> Path:
    return write_clip(tmp_path / "talk.mp4", picture_frames(round(SECONDS * FPS)), speech(SECONDS))


def tiny_clip(path: Path, seconds: float, size: tuple[int, int] = (64, 48), fps: int = 1, sound: bool = False) -> Path:
    """A plain grey clip: cheap to write however long it is."""
    frames = [np.full((size[1], size[0], 3), 90, np.uint8)] * round(seconds * fps)
    return write_clip(path, frames, tone(seconds) if sound else None, fps=fps)


def test_an_uploaded_video_gives_the_clis_timeline_and_annotated_frames(shipped, talk):
    photo, voice = shipped
    predictor = live.video_predictor(photo, voice)
    with uploads.video_file(talk.read_bytes(), "../My Talk.MP4") as path:
        assert path.name == "video.mp4" and path.parent.name.startswith("fer-dashboard-")
        outcome, note = live.predict_video(predictor, path)
    assert not path.exists() and not path.parent.exists()
    assert note is None
    result = outcome.result
    cli = predict_video(talk, predictor, VideoOptions(progress=False))  # what `fer predict VIDEO` computes
    assert [(r.start, r.end, r.track, r.sound) for r in result.rows] == [(r.start, r.end, r.track, r.sound)
                                                                         for r in cli.rows]
    assert [(0.0, 2.0)] == [(r.start, r.end) for r in result.rows] and result.rows[0].sound
    assert set(result.branch_names) == {photo.face.branch, photo.landmarks.branch, voice.branch}
    for ours, theirs in zip(result.rows, cli.rows):
        assert ours.fused == pytest.approx(theirs.fused, abs=1e-9) and ours.label == theirs.label
    timeline = outcome.timeline
    assert len(timeline) == len(FER7) * len(result.rows) and set(timeline["track"]) == {"face #0"}
    for row in result.rows:
        window = timeline[timeline["start"] == row.start].set_index("emotion")
        assert window["time"].iloc[0] == (row.start + row.end) / 2
        assert dict(window["probability"]) == pytest.approx(row.fused, abs=1e-12)
    table = live.timeline_table(result)
    assert list(table["label"]) == [r.label for r in result.rows] and list(table.columns[-7:]) == list(FER7)

    assert 2 <= len(outcome.frames) <= live.VIDEO_FRAMES_SHOWN
    plain = {round(t, 6): rgb for _, t, rgb in iter_frames(probe_video(talk), "rgb24")}  # the upload is gone
    for frame in outcome.frames:
        boxes = next(f.boxes for f in result.frames if f.time == frame.time)
        assert [track for track, _ in boxes] == [0] and frame.image.size == (320, 240)
        assert re.fullmatch(rf"{frame.time:.1f} s · #0 ({'|'.join(FER7)}) \d+%", frame.caption)
        assert frame.caption.split()[4] == result.rows[0].label  # one window: every frame has its label
        drawn, raw = np.asarray(frame.image), plain[round(frame.time, 6)]
        left, top, right, bottom = boxes[0][1]
        assert tuple(drawn[bottom, (left + right) // 2]) == TRACK_COLOURS[0]  # the box's lower edge
        assert (drawn[bottom + 4:, :] == raw[bottom + 4:, :]).all()  # nothing drawn below it


def test_a_video_without_sound_is_face_only(shipped, tmp_path):
    photo, voice = shipped
    clip = write_clip(tmp_path / "silent.webm", picture_frames(round(SECONDS * FPS)), None, vcodec="libvpx")
    with uploads.video_file(clip.read_bytes(), "silent.webm") as path:
        outcome, note = live.predict_video(live.video_predictor(photo, voice), path)
    assert note is None and "no audio stream: face only" in outcome.result.notes
    assert all(r.sound is None and r.branches[voice.branch] is None for r in outcome.result.rows)
    assert not outcome.timeline.empty


def _refuse(data: bytes, name: str) -> str:
    with pytest.raises(uploads.UploadError) as refused:
        with uploads.video_file(data, name):
            pass
    text = str(refused.value)
    assert "\n" not in text and "fer-dashboard-" not in text  # one line, no temporary path
    return text


def _no_decoding(monkeypatch):
    """Any later stage (the packet scan, decoding) fails the test: the header alone must refuse."""
    import ensemble.video_decode as decode

    def never(*args, **kwargs):
        raise AssertionError("probe_video or decoding reached")

    monkeypatch.setattr(decode, "probe_video", never)
    monkeypatch.setattr(decode, "iter_frames", never)


def test_an_over_long_video_is_refused_from_its_header(tmp_path, monkeypatch):
    clip = tiny_clip(tmp_path / "long.mp4", 75.0)
    _no_decoding(monkeypatch)
    assert _refuse(clip.read_bytes(), "long.mp4") == "the video is 75 s long; the limit is 60 s"


def test_a_video_too_wide_is_refused_from_its_header(tmp_path, monkeypatch):
    clip = tiny_clip(tmp_path / "wide.mkv", 1.0, size=(2000, 64))
    _no_decoding(monkeypatch)
    assert _refuse(clip.read_bytes(), "wide.mkv") == "the video is 2000x64 pixels; the limit is 1920 px a side " \
                                                      "(scale it down)"


def test_a_video_at_the_limit_is_accepted(tmp_path):
    clip = tiny_clip(tmp_path / "minute.mp4", 59.0)
    with uploads.video_file(clip.read_bytes(), "minute.mp4") as path:
        assert path.stat().st_size == clip.stat().st_size


@pytest.mark.parametrize("name, make, match", [
    ("big.mp4", lambda tmp: b"\0" * (uploads.MAX_VIDEO_MB * 2**20 + 1), "the video is 50.0 MB; the limit is 50 MB"),
    ("clip.gif", lambda tmp: b"GIF89a", "'gif' is not an accepted video type; use mp4, mkv, webm, mov, avi"),
    ("clip.mp4", lambda tmp: b"", "the video is empty"),
    ("clip.mp4", lambda tmp: b"\0\0\0\x18ftypmp42 not really", "^unreadable, truncated or not a video file"),
    ("voice.mp4", lambda tmp: write_clip(tmp / "voice.mp4", None, tone(1.0)).read_bytes(),
     "^no video stream \\(a sound file\\); give a video with a face"),
])
def test_bad_video_uploads_are_refused_in_one_line(tmp_path, name, make, match):
    assert re.search(match, _refuse(make(tmp_path), name))


# ------------------------------------------------------------------------------------------- the page
def test_try_it_page_shows_a_videos_timeline_and_refuses_a_long_one(shipped, talk, tmp_path_factory, tmp_path):
    from tests.test_dashboard_app import open_app

    root, _ = shared_results(tmp_path_factory)
    at = open_app(root, "views/try_it.py")
    charts_before = len(at.get("vega_lite_chart"))
    at.file_uploader(key="tryit_video").set_value(("talk.mp4", talk.read_bytes(), "video/mp4")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) == charts_before + 1  # the timeline
    frames = [c for image in at.image for c in image.captions if re.match(r"\d+\.\d s · #0 ", c)]
    assert 2 <= len(frames) <= live.VIDEO_FRAMES_SHOWN
    photo, voice = shipped
    expected = predict_video(talk, live.video_predictor(photo, voice), VideoOptions(progress=False))
    table = at.dataframe[-1].value  # the timeline table, last on the page
    assert list(table["label"]) == [r.label for r in expected.rows]
    np.testing.assert_allclose(table[list(FER7)].to_numpy(), [[r.fused[c] for c in FER7] for r in expected.rows],
                               atol=1e-6)
    assert any(c.value.startswith("Note: face side and voice pooled by the default") for c in at.caption)

    long = tiny_clip(tmp_path / "long.mp4", 75.0)
    at.file_uploader(key="tryit_video").set_value(("long.mp4", long.read_bytes(), "video/mp4")).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Video refused: the video is 75 s long; the limit is 60 s"]
