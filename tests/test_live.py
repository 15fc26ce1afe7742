"""Live emotion (ensemble/live.py, ``fer live``): sources, the newest-frame rule that keeps up with the source,
tracking and the running average, the CLI's outputs and refusals.

A video file stands in for a camera (it is released frame by frame at its own frame rate), a WAV file for a
microphone. The face and landmark models are the test run's tiny synthetic runs (tests/conftest.py, `tiny_runs`);
the speech model is the shipped one.
"""

import dataclasses
import json
import math
import time

import numpy as np
import pytest

import soundfile

from ensemble.live import LiveOptions, TimeAverage, run_live
from ensemble.live_source import LatestFrame, Microphone, live_source, microphone_source, open_source
from fer_core.cli import main
from fer_core.errors import DataError, UserError
from fer_core.labels import FER7
from fer_face.level import level_face
from fer_face.predict import FaceCrop
from tests.video_fixtures import tiny_video_predictor, FPS, HEAD, SAMPLE_RATE, picture_frames, speech, tone, write_clip

pytestmark = pytest.mark.timeout(900)  # the shared tiny runs train once per test run


@pytest.fixture(scope="module")
def predictor(tiny_runs):
    return tiny_video_predictor(tiny_runs)


STILL_HEAD = [(lambda i: 60, HEAD)]  # skipped frames do not move it out of its track


@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "astronaut.mp4", picture_frames(20, heads=STILL_HEAD))  # 2 s at 10 frames/s, silent


@pytest.fixture
def clip_with_sound(tmp_path):
    return write_clip(tmp_path / "speaking.mp4", picture_frames(25, heads=STILL_HEAD), speech(2.5))


# -- sources ------------------------------------------------------------------------------------------------------
def test_a_source_is_a_camera_number_a_device_a_url_or_a_file(clip):
    assert live_source("0", platform="linux") == live_source("0", platform="linux2")
    camera = live_source("2", platform="linux")
    assert (camera.url, camera.format, camera.paced) == ("/dev/video2", "v4l2", False)
    mac = live_source("0", platform="darwin")
    assert (mac.url, mac.format, mac.options) == ("0", "avfoundation", (("framerate", "30"),))
    stream = live_source("rtsp://camera.local/stream")
    assert (stream.url, stream.format, stream.paced) == ("rtsp://camera.local/stream", None, False)
    assert live_source(str(clip)).paced  # a file plays at its own frame rate
    named = live_source("video=Integrated Camera", "dshow")
    assert (named.url, named.format, named.paced) == ("video=Integrated Camera", "dshow", False)
    with pytest.raises(UserError, match="--format dshow"):
        live_source("0", platform="win32")
    with pytest.raises(UserError, match="no such camera, stream or file"):
        live_source("missing.mp4")
    assert (microphone_source(None, platform="linux").url, microphone_source(None, platform="linux").format) == \
        ("default", "alsa")
    assert microphone_source(None, platform="darwin").url == ":0"
    assert microphone_source("hw:1,0", platform="linux").url == "hw:1,0"
    with pytest.raises(UserError, match="audio=Microphone"):
        microphone_source(None, platform="win32")


def test_the_users_input_options_come_after_a_sources_defaults(clip, monkeypatch):
    import ensemble.live_source as live_source_module

    with_defaults = dataclasses.replace(live_source(str(clip)), options=(("probesize", "32"), ("analyzeduration", "0")))
    monkeypatch.setattr(live_source_module, "live_source", lambda spec, input_format=None: with_defaults)
    with open_source(str(clip), options=(("probesize", "5000000"),)) as frames:
        assert frames.source.options == (("probesize", "32"), ("analyzeduration", "0"), ("probesize", "5000000"))
        assert dict(frames.source.options)["probesize"] == "5000000"


def test_a_source_that_does_not_open_is_one_line(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(DataError, match="junk.mp4: cannot open") as e:
        LatestFrame(live_source(str(junk)))
    assert "\n" not in str(e.value)


# -- the newest-frame rule ----------------------------------------------------------------------------------------
def test_a_slow_consumer_gets_the_newest_frames_and_the_rest_are_counted_as_skipped(clip):
    with open_source(str(clip)) as frames:
        started = time.monotonic()
        got = []
        while (frame := frames.next()) is not None:
            got.append(frame)
            time.sleep(0.35)  # slower than the 10 frames/s the file is released at
        elapsed = time.monotonic() - started
    indices = [index for index, _, _ in got]
    assert elapsed >= 1.5  # paced: 20 frames at 10 frames/s take about 2 s, not a burst
    assert indices == sorted(indices) and 4 <= len(got) <= 10
    assert frames.read == 20 and frames.taken == len(got) and frames.skipped == 20 - len(got)
    times = [t for _, t, _ in got]
    assert times[0] == pytest.approx(0.0) and times[-1] == pytest.approx(indices[-1] / FPS, abs=1e-3)


def test_a_fast_consumer_gets_every_frame(clip):
    with open_source(str(clip)) as frames:
        got = []
        while (frame := frames.next()) is not None:
            got.append(frame[0])
    assert got == list(range(20)) and frames.skipped == 0


def test_a_phone_clip_stored_sideways_arrives_upright(clip, tmp_path):
    phone = write_clip(tmp_path / "phone.mp4", picture_frames(20, heads=STILL_HEAD), rotation=90)
    frames_of = {}
    for name, path in (("upright", clip), ("phone", phone)):
        with open_source(str(path)) as frames:
            frames_of[name] = [pixels for _, _, pixels in iter(frames.next, None)]
    upright, turned = np.stack(frames_of["upright"]), np.stack(frames_of["phone"])
    assert turned.shape == upright.shape == (20, 240, 320)
    assert np.abs(turned.astype(int) - upright).mean() < 3  # encoding noise only


def test_closing_early_stops_the_decoder(clip):
    with open_source(str(clip)) as frames:
        frames.next()
    assert not frames._thread.is_alive()


# -- scoring ------------------------------------------------------------------------------------------------------
def test_the_running_average_weighs_by_elapsed_time():
    average = TimeAverage(tau_s=1.0)
    first = average.update(0, 0.0, np.array([1.0, 0.0]))
    assert first.tolist() == [1.0, 0.0]
    moved = average.update(0, 1.0, np.array([0.0, 1.0]))  # one time constant later: 1 - 1/e of the way
    assert moved == pytest.approx([math.exp(-1), 1 - math.exp(-1)])
    assert average.update(1, 1.0, np.array([0.0, 1.0])).tolist() == [0.0, 1.0]  # another key starts afresh
    average.keep(lambda key: key == 1)
    assert average.update(0, 1.1, np.array([0.5, 0.5])).tolist() == [0.5, 0.5]  # a forgotten key starts afresh
    assert TimeAverage(0.0).update(0, 0.0, np.array([0.2, 0.8])).tolist() == [0.2, 0.8]
    gaps = TimeAverage(tau_s=1.0)
    assert np.isnan(gaps.update("k", 0.0, np.array([np.nan, np.nan]))).all()  # no value yet
    gaps.update("k", 0.0, np.array([1.0, 0.0]))
    assert gaps.update("k", 0.5, np.array([np.nan, np.nan])).tolist() == [1.0, 0.0]  # a missing value keeps it
    assert gaps.update("k", 1.0, np.array([0.0, 1.0])) == pytest.approx([math.exp(-1), 1 - math.exp(-1)])


def test_live_updates_follow_the_face_and_fuse_its_branches(predictor, clip):
    options = LiveOptions(every_n_frames=2, smooth_s=0.0)
    with open_source(str(clip)) as frames:
        updates = list(run_live(frames, predictor, options))
    assert updates and [u.scored for u in updates] == list(range(1, len(updates) + 1))
    assert updates[0].detection and all(u.t >= 0 for u in updates)
    assert all(u.voice is None for u in updates)  # a silent clip: face side only
    with_face = [u for u in updates if u.faces]
    assert len(with_face) >= len(updates) - 1
    assert {f.track for u in with_face for f in u.faces} == {0}  # one person, one id
    first = with_face[0].faces[0]
    left, top, right, bottom = first.box
    assert right - left > HEAD // 4 and 60 < (left + right) / 2 < 60 + HEAD  # on the head, drawn at x 60
    # with no averaging, a detection frame's fused probabilities are the photo path's for that face crop
    photo = predictor.photo
    expected = photo.score_faces(photo_crops(clip, first.box))[0]
    assert first.fused == pytest.approx(expected.fused, abs=1e-6)
    assert first.label == max(first.fused, key=first.fused.get)
    followed = [u for u in with_face if not u.detection]
    assert followed  # frames between detections: the landmark average is held (no averaging: the last one)
    assert followed[0].faces[0].branches[photo.landmarks.branch] is not None


def photo_crops(clip, box) -> list[FaceCrop]:
    """The first frame's face cut as live cuts it on a detection frame."""
    with open_source(str(clip)) as frames:
        _, _, gray = frames.next()
    crop, degrees = level_face(gray, box)
    return [FaceCrop(crop, None, degrees)]


def test_the_voice_is_scored_every_hop_and_pooled_into_the_face(predictor, clip_with_sound):
    options = LiveOptions(hop_s=0.5, window_s=1.0)
    with open_source(str(clip_with_sound)) as frames:
        updates = list(run_live(frames, predictor, options))
    voiced = [u for u in updates if u.voice is not None]
    assert voiced and voiced[0].t >= 0.4  # the first prediction once half a second of sound is there
    ends = sorted({u.voice.end for u in voiced})
    assert len(ends) >= 3 and all(b - a >= 0.5 - 1e-6 for a, b in zip(ends, ends[1:]))
    face = voiced[-1].faces[0]
    voice = predictor.voice
    assert voiced[-1].voice.sound and set(voiced[-1].voice.probs) == set(voice.label_space)
    assert set(face.branches[voice.branch]) == set(FER7)
    pooled = predictor.fusion.pool.fuse({predictor.fusion.face_side: np.array([list(face_side(predictor, face))]),
                                         voice.branch: np.array([list(face.branches[voice.branch].values())])})
    assert list(face.fused.values()) == pytest.approx(pooled[0], abs=1e-6)


def face_side(predictor, face):
    photo = predictor.photo
    by_member = {name: np.array([list(face.branches[key].values())]) for name, key in photo.members.items()}
    return photo.fusion.fuse(by_member)[0]


def test_a_tone_is_heard_as_no_speech_unless_told_otherwise(predictor, tmp_path):
    humming = write_clip(tmp_path / "humming.mp4", picture_frames(15, heads=STILL_HEAD), tone(1.5))
    with open_source(str(humming)) as frames:
        voices = [u.voice for u in run_live(frames, predictor, LiveOptions(hop_s=0.5)) if u.voice is not None]
    assert voices and all(v.loud and not v.sound and v.heard == "no speech" and v.speech < 0.05 for v in voices)
    with open_source(str(humming)) as frames:
        anything = [u.voice for u in run_live(frames, predictor, LiveOptions(hop_s=0.5, speech_activity=False))
                    if u.voice is not None]
    assert anything and all(v.sound and v.speech is None and v.heard in predictor.voice.label_space for v in anything)


def test_a_microphone_feeds_the_voice_of_a_silent_video(predictor, clip, tmp_path):
    wav = tmp_path / "mic.wav"
    soundfile.write(wav, speech(2.0), SAMPLE_RATE)
    microphone = Microphone(microphone_source(str(wav), "wav"))  # a WAV file stands in for a capture device
    try:
        with open_source(str(clip)) as frames:
            updates = list(run_live(frames, predictor, LiveOptions(), microphone=microphone))
    finally:
        microphone.close()
    assert any(u.voice is not None and u.voice.sound for u in updates)


def test_duration_stops_the_run(predictor, clip):
    with open_source(str(clip)) as frames:
        updates = list(run_live(frames, predictor, LiveOptions(duration_s=0.5)))
    assert updates and all(u.t <= 0.5 for u in updates)


def test_bad_options_are_refused():
    for options, flag in [(LiveOptions(every_n_frames=0), "--every-n-frames"), (LiveOptions(max_faces=0), "--max-faces"),
                          (LiveOptions(smooth_s=-1), "--smooth"), (LiveOptions(duration_s=0), "--duration"),
                          (LiveOptions(detector="mtcnn"), "--detector")]:
        with pytest.raises(UserError, match=flag):
            options.check()


# -- the command --------------------------------------------------------------------------------------------------
def test_fer_live_prints_the_faces_and_logs_every_scored_frame(tiny_runs, clip, tmp_path, capsys):
    log = tmp_path / "live.jsonl"
    code = main(["live", str(clip), "--face", str(tiny_runs["face"]), "--landmarks", str(tiny_runs["landmarks"]),
                 "--fusion", str(tiny_runs["fusion"]), "--jsonl", str(log), "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "face 0: " in out and out.strip().splitlines()[0].lstrip().startswith("0.0 s")
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert rows and [row["scored"] for row in rows] == list(range(1, len(rows) + 1))
    assert rows[0]["faces"][0]["track"] == 0 and rows[0]["faces"][0]["label"] in rows[0]["faces"][0]["fused"]
    summary = err.strip().splitlines()[-1]
    assert f"20 frames read, {len(rows)} scored" in summary and "skipped to keep up" in summary
    assert sorted(f.name for f in tmp_path.iterdir()) == ["astronaut.mp4", "live.jsonl"]  # no temp file left


def test_fer_live_streams_json_lines_to_stdout(tiny_runs, clip, capsys):
    code = main(["live", str(clip), "--face", str(tiny_runs["face"]), "--landmarks", "none", "--fusion", "none",
                 "--jsonl", "-", "--duration", "1", "--device", "cpu", "--option", "probesize=5000000"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and all(row["t"] <= 1.0 for row in rows)
    assert "no face/landmark fusion applied" in err


def test_fer_live_uses_the_sound_unless_told_not_to(tiny_runs, clip_with_sound, capsys):
    models = ["--face", str(tiny_runs["face"]), "--landmarks", str(tiny_runs["landmarks"]),
              "--fusion", str(tiny_runs["fusion"]), "--device", "cpu", "--jsonl", "-"]
    assert main(["live", str(clip_with_sound), *models]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert "with its sound" in err and any(row["voice"] and row["voice"]["sound"] for row in rows)
    assert main(["live", str(clip_with_sound), *models, "--voice", "none"]) == 0
    out, err = capsys.readouterr()
    assert "with its sound" not in err and all(json.loads(line)["voice"] is None for line in out.splitlines())


@pytest.mark.parametrize("argv, message", [
    (["missing.mp4"], "missing.mp4: no such camera, stream or file"),
    (["rtsp://127.0.0.1:9/stream"], "rtsp://127.0.0.1:9/stream: cannot open (Connection refused)"),
    (["{clip}", "--smooth", "-1"], "--smooth -1.0: must be a finite number >= 0"),
    (["{clip}", "--every-n-frames", "0"], "--every-n-frames 0: must be an integer >= 1"),
    (["{clip}", "--duration", "0"], "--duration 0.0: must be a finite number > 0"),
    (["{clip}", "--jsonl", "{tmp}/no/such/folder/x.jsonl"], "--jsonl {tmp}/no/such/folder/x.jsonl: its folder"),
    (["{clip}", "--option", "framerate"], "--option framerate: write KEY=VALUE"),
    (["{clip}", "--hop", "4"], "need --window > 0 and 0 < --hop <= --window (got 3.0, 4.0)"),
    (["{clip}", "--mic", "--voice", "none"], "--mic with --voice none: the microphone would not be used"),
    (["{clip}", "--mic", "{tmp}/no-such-device", "--mic-format", "wav"], "{tmp}/no-such-device: cannot open"),
])
def test_fer_live_refuses_bad_input_in_one_line(clip, tmp_path, capsys, argv, message):
    argv = [a.replace("{clip}", str(clip)).replace("{tmp}", str(tmp_path)) for a in argv]
    code = main(["live", *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: " + message.replace("{tmp}", str(tmp_path)))
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
