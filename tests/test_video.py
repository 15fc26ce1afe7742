"""Video with sound (ensemble/video.py): decode checks, tracking, speech windows, fusion per window, outputs.

Clips are written in tmp_path (tests/video_fixtures.py: scikit-image's astronaut sliding across a plain background
with a synthesised tone), or with speech from espeak-ng when it is on PATH. The face and landmark models
are the test run's tiny synthetic runs (tests/conftest.py, `tiny_runs`); the speech model is the shipped
one.
"""

import json
import os
import shutil
import subprocess

import av
import numpy as np
import pytest
import soundfile

from ensemble.fusion import FUSION_FILE, FittedFusion
from ensemble.labels import LabelMapping
from ensemble.methods import LogPoolFusion
from ensemble.video import VideoLimits, VideoOptions, VideoPredictor, landmark_probs, predict_video, write_outputs
from ensemble.video_decode import decode_soundtrack, iter_frames, probe_video
from ensemble.video_track import FaceTracker
from ensemble.video_voice import window_grid
from fer_audio.decode import to_mono_at
from fer_core import atomic
from fer_core.artifact import Predictions, artifact_path, load_run
from fer_core.calibration import Calibrator
from fer_core.errors import DataError, UserError
from fer_core.labels import FER7
from fer_face.faces import crop_face, detect_faces, to_gray
from tests.cli import fer
from tests.video_fixtures import shipped_voice, tiny_video_predictor, FPS, HEAD, SAMPLE_RATE, SECONDS, picture_frames, speech, tone, write_clip

# the shared fixture trains two tiny models once per test run: a minute on an idle machine, several on a busy one
pytestmark = pytest.mark.timeout(900)

QUIET = VideoOptions(progress=False)


# -- models ------------------------------------------------------------------------------------------------------
def ok(r):
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def runs(tiny_runs):
    """The test run's tiny face run, tiny landmark run and their logpool fusion (run directories)."""
    return tiny_runs


@pytest.fixture(scope="module")
def predictor(runs):
    return tiny_video_predictor(runs)


# -- clips ---------------------------------------------------------------------------------------------------------
def espeak_speech(seconds=SECONDS):
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not on PATH")
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"speech-{os.getpid()}.wav")
    subprocess.run([espeak, "-w", path, "Oh no, I really did not expect that at all."], check=True)
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    os.unlink(path)
    wave = np.zeros(round(SAMPLE_RATE * seconds), np.float32)
    speech = to_mono_at(samples, rate, SAMPLE_RATE)[: len(wave) // 2]
    wave[: len(speech)] = speech
    return wave


N_FRAMES = round(SECONDS * FPS)


@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "astronaut.mp4", picture_frames(N_FRAMES), speech())


def one_line(error) -> str:
    text = str(error.value)
    assert "\n" not in text and "Traceback" not in text
    return text


# -- the timeline ------------------------------------------------------------------------------------------------
def test_timeline_covers_the_clip_with_one_track_and_pools_face_and_voice(predictor, clip):
    result = predict_video(clip, predictor, QUIET)
    duration = result.info.duration
    assert duration == pytest.approx(SECONDS) and result.info.frame_count == N_FRAMES
    windows = [(r.start, r.end) for r in result.rows]
    assert windows == window_grid(duration, 3.0, 1.0) == [(0.0, 3.0), (1.0, 4.0)]
    assert all(0 <= r.start < r.end <= duration + 1e-6 for r in result.rows)
    assert [r.start for r in result.rows] == sorted(r.start for r in result.rows)
    assert result.rows[0].start == 0 and result.rows[-1].end == pytest.approx(duration)
    times = [f.time for f in result.frames]
    assert times == sorted(times) and times[0] == 0 and times[-1] < duration and len(times) == N_FRAMES
    # one face, one id from start to end
    assert {r.track for r in result.rows} == {0}
    (track,) = result.tracks
    assert track.frames >= 0.9 * N_FRAMES and track.first_s == 0 and track.last_s == pytest.approx(times[-1])
    assert track.detections == N_FRAMES // QUIET.every_n_frames
    voice_branch = predictor.voice.branch
    for row in result.rows:
        # the face and landmark models score the detection frames: 6 of a window's 30 frames
        assert row.sound and row.face_frames == row.landmark_frames == 30 // QUIET.every_n_frames
        assert set(row.fused) == set(FER7) and sum(row.fused.values()) == pytest.approx(1, abs=1e-6)
        assert row.label == max(row.fused, key=row.fused.get)
        # the default: an equal-weight product of the calibrated face side and voice, renormalised
        face_side = np.array([row.face_side[c] for c in FER7])
        voice = np.array([row.branches[voice_branch][c] for c in FER7])
        expected = np.clip(face_side, 1e-6, None) * np.clip(voice, 1e-6, None)
        np.testing.assert_allclose([row.fused[c] for c in FER7], expected / expected.sum(), atol=1e-6)
    assert any("not fit on paired data" in n for n in result.notes)


def test_score_every_frame_runs_the_face_model_on_the_followed_boxes_too(predictor, clip):
    default = predict_video(clip, predictor, QUIET)
    every = predict_video(clip, predictor, VideoOptions(score_every_frame=True, progress=False))
    assert [(r.start, r.track) for r in every.rows] == [(r.start, r.track) for r in default.rows]
    for fast, full in zip(default.rows, every.rows):
        assert full.face_frames == 30 and full.landmark_frames == fast.landmark_frames == 6
        assert set(full.fused) == set(FER7) and sum(full.fused.values()) == pytest.approx(1, abs=1e-6)
    assert [f.boxes for f in every.frames] == [f.boxes for f in default.frames]
    assert any("face model scored on every processed frame" in n for n in every.notes)
    assert any(n.startswith("face and landmarks scored on detection frames") for n in default.notes)


@pytest.mark.parametrize("rotation", [90, 270])
def test_a_phone_clip_stored_sideways_is_read_upright(predictor, clip, tmp_path, rotation):
    phone = write_clip(tmp_path / "phone.mp4", picture_frames(N_FRAMES), speech(), rotation=rotation)
    with av.open(str(phone)) as raw:  # stored sideways, as a phone stores a portrait clip
        assert raw.streams.video[0].codec_context.height == 320
    info = probe_video(phone)
    assert (info.width, info.height, info.rotation) == (320, 240, rotation)
    upright = [pixels for _, _, pixels in iter_frames(probe_video(clip))]
    turned = [pixels for _, _, pixels in iter_frames(info)]
    assert np.abs(np.stack(turned).astype(int) - np.stack(upright)).mean() < 3  # encoding noise only
    expected, result = predict_video(clip, predictor, QUIET), predict_video(phone, predictor, QUIET)
    assert [r.track for r in result.rows] == [r.track for r in expected.rows] == [0, 0]
    for got, want in zip(result.frames, expected.frames):
        assert len(got.boxes) == len(want.boxes) == 1
        assert np.abs(np.subtract(got.boxes[0][1], want.boxes[0][1])).max() <= 4


def test_silent_windows_are_face_only(predictor, tmp_path):
    path = write_clip(tmp_path / "half_silent.mp4", picture_frames(N_FRAMES), speech(silent_after=2.0))
    result = predict_video(path, predictor, VideoOptions(window_s=1.0, hop_s=1.0, progress=False))
    assert [r.sound for r in result.rows] == [True, True, False, False]
    for row in result.rows[2:]:
        assert row.branches[predictor.voice.branch] is None and row.sound_db < -60
        np.testing.assert_allclose([row.fused[c] for c in FER7], [row.face_side[c] for c in FER7], atol=1e-9)


def test_audio_and_video_stay_aligned(tmp_path):
    """A click at 2.5 s in the soundtrack lands at 2.5 s on the video's clock, in every container.

    (MP3 in AVI would land ~70 ms late: MP3's encoder delay, which AVI has no field for; players hear it late too.)
    """
    wave = np.zeros(round(SECONDS * SAMPLE_RATE), np.float32)
    click = round(2.5 * SAMPLE_RATE)
    wave[click:click + 800] = 0.8
    for suffix, vcodec, acodec in ((".mp4", "libx264", "aac"), (".mkv", "libx264", "aac"),
                                   (".webm", "libvpx", "libopus"), (".mov", "libx264", "aac"),
                                   (".avi", "mpeg4", "pcm_s16le")):
        path = write_clip(tmp_path / f"click{suffix}", picture_frames(N_FRAMES, heads=[]), wave, vcodec=vcodec,
                          acodec=acodec)
        info = probe_video(path)
        assert info.frame_count == N_FRAMES and info.has_audio, suffix
        assert info.duration == pytest.approx(SECONDS, abs=0.15), suffix
        sound = decode_soundtrack(info, SAMPLE_RATE)
        assert sound.shape == (1, round(info.duration * SAMPLE_RATE)), suffix
        loud = np.flatnonzero(np.abs(sound[0]) > 0.3)
        assert abs(loud[0] / SAMPLE_RATE - 2.5) < 0.03, suffix
        assert sum(1 for _ in iter_frames(info)) == N_FRAMES, suffix


@pytest.mark.timeout(120)
def test_stopping_decoding_early_does_not_hang(clip):
    """FFmpeg's frame-threaded decoding can deadlock, with torch loaded (it is, by the models), when a decode loop
    stops early; frames are decoded on one thread."""
    info = probe_video(clip)
    for _ in range(5):
        for index, _, _ in iter_frames(info):
            if index == 2:
                break


def test_a_video_without_audio_is_face_only(predictor, tmp_path):
    path = write_clip(tmp_path / "mute.mp4", picture_frames(N_FRAMES))
    result = predict_video(path, predictor, QUIET)
    assert "no audio stream: face only" in result.notes
    assert {r.track for r in result.rows} == {0} and all(r.sound is None for r in result.rows)
    for row in result.rows:
        assert row.branches[predictor.voice.branch] is None
        np.testing.assert_allclose([row.fused[c] for c in FER7], [row.face_side[c] for c in FER7], atol=1e-9)


def test_sound_without_speech_gives_no_voice_unless_told_to(predictor, tmp_path):
    path = write_clip(tmp_path / "humming.mp4", picture_frames(N_FRAMES), tone())  # loud, but nobody speaks
    result = predict_video(path, predictor, QUIET)
    assert all(row.sound is False and row.speech < 0.05 and row.branches[predictor.voice.branch] is None
               for row in result.rows)
    assert any(n.startswith("no speech in the soundtrack") for n in result.notes)
    anything = predict_video(path, predictor, VideoOptions(progress=False, speech_activity=False))
    assert all(row.sound and row.speech is None and row.branches[predictor.voice.branch] is not None
               for row in anything.rows)


def test_no_face_anywhere_is_voice_only(predictor, tmp_path):
    path = write_clip(tmp_path / "empty_room.mp4", picture_frames(N_FRAMES, heads=[]), speech())
    result = predict_video(path, predictor, QUIET)
    assert "no face found in any frame: voice only" in result.notes and result.tracks == []
    for row in result.rows:
        assert row.track is None and row.face_frames == 0 and row.face_side is None and row.sound
        voice = np.array([row.branches[predictor.voice.branch][c] for c in FER7])
        np.testing.assert_allclose([row.fused[c] for c in FER7], voice / voice.sum(), atol=1e-5)


# -- refusals ----------------------------------------------------------------------------------------------------
def test_an_audio_only_file_is_refused_in_one_line(predictor, tmp_path):
    path = write_clip(tmp_path / "voice.mp4", None, tone())
    with pytest.raises(DataError) as e:
        predict_video(path, predictor, QUIET)
    assert str(path) in one_line(e) and "no video stream" in str(e.value) and "fer audio predict" in str(e.value)


@pytest.mark.parametrize("faststart", [False, True], ids=["index-at-end", "index-at-start"])
def test_a_truncated_file_is_refused_in_one_line(tmp_path, faststart):
    path = write_clip(tmp_path / "cut.mp4", picture_frames(N_FRAMES), tone(), faststart=faststart)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) * 6 // 10])
    with pytest.raises(DataError) as e:
        probe_video(path)
    assert str(path) in one_line(e) and "truncated" in str(e.value)


def test_missing_unreadable_and_oversized_files_are_refused(tmp_path, clip):
    with pytest.raises(DataError) as e:
        probe_video(tmp_path / "nope.mp4")
    assert "not found" in one_line(e)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    with pytest.raises(DataError) as e:
        probe_video(junk)
    assert str(junk) in one_line(e) and "not a video" in str(e.value)
    for limits, says in ((VideoLimits(max_side=200), "px limit"), (VideoLimits(max_seconds=2.0), "s limit"),
                         (VideoLimits(max_frames=25), "frame limit")):
        with pytest.raises(DataError) as e:
            probe_video(clip, limits)
        assert str(clip) in one_line(e) and says in str(e.value) and "raise the limit" in str(e.value)


def test_bad_options_are_refused():
    with pytest.raises(UserError, match="every_n_frames"):
        VideoOptions(every_n_frames=0).check()
    with pytest.raises(UserError, match="hop"):
        VideoOptions(window_s=1.0, hop_s=2.0).check()


# -- tracking ----------------------------------------------------------------------------------------------------
def test_tracks_keep_their_ids_and_max_faces_keeps_the_most_confident():
    n = 20
    big, small = (lambda i: 250 - i, 220), (lambda i: 10 + i, 180)
    two_faces = [to_gray(f) for f in picture_frames(n, size=(480, 240), heads=[big, small])]
    for max_faces in (2, 1):
        tracker = FaceTracker(max_faces=max_faces, every_n_frames=3)
        seen = [sorted(tracker.step(gray)[0], key=lambda t: t.id) for gray in two_faces]
        assert {tuple(t.id for t in tracks) for tracks in seen} == {tuple(range(max_faces))}
    # with max_faces=1 the face kept is the most confident one: the larger, on the right
    assert all(tracks[0].box.left > 200 for tracks in seen)


def test_a_face_that_leaves_ends_its_track_and_a_new_face_gets_a_new_id():
    face = [to_gray(f) for f in picture_frames(6, heads=[(lambda i: 20, HEAD)])]
    empty = [to_gray(f) for f in picture_frames(12, heads=[])]
    tracker = FaceTracker(every_n_frames=2, patience=2)
    ids = [tuple(t.id for t in tracker.step(gray)[0]) for gray in face + empty + face]
    assert ids[:6] == [(0,)] * 6 and ids[6:18] == [()] * 12 and ids[18:] == [(1,)] * 6


def test_batched_landmarks_equal_one_crop_at_a_time(predictor):
    landmarks = predictor.photo.landmarks
    crops = [crop_face(gray, detect_faces(gray)[0].box) for gray in map(to_gray, picture_frames(3))]
    crops.append(to_gray(picture_frames(1, heads=[])[0])[:48, :48])  # no face in it
    batched = landmark_probs(landmarks, crops)
    for crop, row in zip(crops, batched):
        single = landmarks.predict_image(crop, mode="crop")["probs"]
        if single is None:
            assert np.isnan(row).all()
        else:
            np.testing.assert_allclose(row, single, atol=1e-6)  # float32 batch vs one: ~1e-7


# -- outputs -----------------------------------------------------------------------------------------------------
def test_outputs_and_the_annotated_video(predictor, clip, tmp_path):
    result = predict_video(clip, predictor, QUIET)
    out = tmp_path / "out"
    written = write_outputs(result, csv=out / "t.csv", json=out / "t.json", plot=out / "t.png",
                            annotate=out / "boxed.mp4", progress=False)
    assert len(written) == 4 and sorted(p.name for p in out.iterdir()) == ["boxed.mp4", "t.csv", "t.json", "t.png"]
    table = (out / "t.csv").read_text().splitlines()
    assert len(table) == 1 + len(result.rows) and table[0].startswith("start,end,track,")
    assert "fused_happy" in table[0] and f"{predictor.voice.branch}:neutral" in table[0]
    saved = json.loads((out / "t.json").read_text())
    assert len(saved["timeline"]) == len(result.rows) and saved["notes"] == result.notes
    assert saved["video"]["frames"] == N_FRAMES and saved["fusion"]["method"].startswith("product of experts")
    assert (out / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    boxed = probe_video(out / "boxed.mp4")
    assert boxed.frame_count == N_FRAMES == sum(1 for _ in iter_frames(boxed))
    assert boxed.has_audio and boxed.duration == pytest.approx(result.info.duration, abs=0.05)
    with pytest.raises(UserError, match="MP4"):
        write_outputs(result, annotate=out / "boxed.avi", progress=False)
    with pytest.raises(UserError, match="overwrite its input"):
        write_outputs(result, annotate=clip, progress=False)


# -- a fusion with an audio member --------------------------------------------------------------------------------
def _fingerprint(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return load_run(run_dir, metrics["calibration_split"]).fingerprint()


def voice_fusion_dir(root, runs, voice_fingerprint):
    """A logpool fusion of face, landmarks and voice. The face member is a pseudo-pairs artifact (it names the
    run it was made from, as ``fer ensemble pairs`` writes); landmarks and voice are named by fingerprint."""
    pairs = root / "pairs-face"
    Predictions(ids=["p0", "p1"], labels=[0, 3], probs=np.full((2, 7), 1 / 7), label_space=FER7,
                branch="face/mobilenetv2_100", modality="face", dataset="pseudo-pairs", split="validation",
                extra={"pseudo_pairs": True, "source_run": str(runs["face"])}).save(artifact_path(pairs, "validation"))
    same = {c: c for c in FER7}
    branches = [{"name": "face/mobilenetv2_100", "run_dir": str(pairs), "modality": "face",
                 "branch": "face/mobilenetv2_100", "label_space": list(FER7)},
                {"name": "landmarks/mlp", "run_dir": "elsewhere", "modality": "landmarks", "branch": "landmarks/mlp",
                 "label_space": list(FER7), "fingerprint": _fingerprint(runs["landmarks"])},
                {"name": "audio/cnn-small", "run_dir": "elsewhere", "modality": "audio", "branch": "audio/cnn-small",
                 "label_space": list(FER7), "fingerprint": voice_fingerprint}]
    fusion = FittedFusion(LogPoolFusion([0.8, 0.4, 1.1]), Calibrator(1.2), branches, FER7,
                          {b["name"]: LabelMapping(FER7, FER7, same, "identity") for b in branches},
                          fit_split="validation", eval_split="test")
    out = root / "voice-fusion"
    atomic.write_json(out / FUSION_FILE, fusion.to_json())
    return out, fusion


def test_a_fusion_with_an_audio_member_fuses_the_windows(runs, clip, tmp_path, monkeypatch):
    monkeypatch.delenv("FER_ZOO_DIR", raising=False)
    voice = shipped_voice()
    fusion_dir, fusion = voice_fusion_dir(tmp_path, runs, voice.fingerprint)
    predictor = VideoPredictor.load(runs["face"], runs["landmarks"], fusion_dir, device="cpu")
    assert predictor.photo.fusion is None and predictor.fusion.voice_fusion is not None
    result = predict_video(clip, predictor, QUIET)
    assert result.fusion["members"] == {"face/mobilenetv2_100": predictor.photo.face.branch,
                                        "landmarks/mlp": predictor.photo.landmarks.branch,
                                        "audio/cnn-small": voice.branch}
    assert not any("not fit on paired data" in n for n in result.notes)
    for row in result.rows:
        members = result.fusion["members"].items()
        probs = {name: np.array([[row.branches[key][c] for c in FER7]]) for name, key in members}
        np.testing.assert_allclose([row.fused[c] for c in FER7], fusion.fuse(probs)[0], atol=1e-5)
        assert row.face_side is None

    other, _ = voice_fusion_dir(tmp_path / "other", runs, "0" * 64)
    with pytest.raises(UserError) as e:
        VideoPredictor.load(runs["face"], runs["landmarks"], other, device="cpu")
    assert "audio/cnn-small" in one_line(e) and "not loaded as the exact run" in str(e.value)


def test_speech_from_espeak_is_sound_and_the_pause_is_silence(predictor, tmp_path):
    path = write_clip(tmp_path / "speech.mp4", picture_frames(N_FRAMES), espeak_speech())
    result = predict_video(path, predictor, VideoOptions(window_s=1.0, hop_s=1.0, progress=False))
    assert result.rows[0].sound and not result.rows[-1].sound
    assert result.rows[0].branches[predictor.voice.branch] is not None


def test_fer_predict_on_a_video_writes_the_timeline_and_plot(runs, clip, tmp_path):
    out_json, plot = tmp_path / "timeline.json", tmp_path / "timeline.png"
    r = ok(fer("predict", str(clip), "--face", str(runs["face"]), "--landmarks", str(runs["landmarks"]),
               "--fusion", str(runs["fusion"]), "--json", str(out_json), "--plot", str(plot), "--no-progress"))
    timeline = json.loads(out_json.read_text())
    assert timeline["timeline"] and plot.stat().st_size > 0 and f"wrote {out_json}" in r.stderr
    r = fer("predict", str(clip), str(clip))
    assert r.returncode == 2 and "one video at a time" in r.stderr and "Traceback" not in r.stderr
    r = fer("predict", str(clip), "--every-n-frames", "0")
    assert r.returncode == 2 and "every_n_frames must be >= 1" in r.stderr
    r = fer("predict", str(clip), "--max-seconds", "2", "--no-progress")  # the clip is 4 s long
    assert r.returncode == 2 and "over the 2 s limit" in r.stderr and "--max-seconds" in r.stderr
    r = fer("predict", str(clip), "--max-seconds", "0")
    assert r.returncode == 2 and "--max-seconds 0.0: must be a finite number > 0" in r.stderr
    r = fer("predict", str(clip), "--plot", str(tmp_path))  # refused before the video is decoded
    assert r.returncode == 2 and r.stderr == f"error: {tmp_path}: is a folder; give a file name\n"


def test_max_seconds_sets_the_frame_limit_too():
    assert VideoLimits().max_seconds == 600  # the default fer predict --help states
    assert VideoLimits.of_length(600) == VideoLimits()
    assert VideoLimits.of_length(1800).max_frames == 108_000


def test_detection_frames_search_near_the_tracked_face_and_rescan_the_whole_frame(monkeypatch):
    import ensemble.video_track as video_track
    from fer_face.faces import detect_faces_near

    frames = [to_gray(f) for f in picture_frames(24)]
    calls = []
    whole, near = video_track.detect_faces, video_track.detect_faces_near
    monkeypatch.setattr(video_track, "detect_faces", lambda gray, detector: calls.append("frame") or whole(gray, detector))
    monkeypatch.setattr(video_track, "detect_faces_near",
                        lambda gray, boxes, detector: calls.append("near") or near(gray, boxes, detector=detector))
    tracker = FaceTracker(every_n_frames=2, rescan_every=3)
    seen = [[(t.id, t.box) for t in tracker.step(gray)[0]] for gray in frames]  # tracks change: copy the boxes
    assert calls == ["frame", "near", "near"] * 4
    assert all([track_id for track_id, _ in tracks] == [0] for tracks in seen)
    # the region around the box (corner on the detector's grid) finds the face exactly as the whole frame does
    for gray, tracks in zip(frames[::2], seen[::2]):
        assert tracks[0][1] == detect_faces(gray)[0].box
    small = to_gray(picture_frames(1, size=(180, 150), heads=[(lambda i: 20, 130)])[0])  # resized for detection
    (found,) = detect_faces(small)
    assert detect_faces_near(small, [found.box]) == [found]
    # one face seen from two overlapping regions is reported once; a region without a face finds nothing
    box = detect_faces(frames[0])[0].box
    assert len(detect_faces_near(frames[0], [box, box])) == 1
    assert detect_faces_near(frames[0], [(300, 0, 320, 20)]) == []
    with pytest.raises(UserError, match="rescan_every"):
        VideoOptions(rescan_every=0).check()
