"""Test clips written with PyAV: scikit-image's astronaut sliding across a plain background (320x240, 10 fps,
4 s by default) with a spoken sentence (espeak-ng, committed as tests/media/speech.flac) or a synthesised tone (sound
that is not speech); shared by tests/test_video.py, tests/test_live.py and tests/test_dashboard_video.py."""

from pathlib import Path

import av
import numpy as np
import soundfile
from PIL import Image
from skimage import data

SIZE, FPS, SECONDS, HEAD = (320, 240), 10, 4.0, 200
SAMPLE_RATE = 16000


def head_picture(side=HEAD):
    return Image.fromarray(data.astronaut()[0:260, 90:350]).resize((side, side), Image.Resampling.BILINEAR)


def picture_frames(n, size=SIZE, heads=None):
    """RGB frames with the astronaut's head drawn per (left position of frame i, side in px) of ``heads``
    (default: one head sliding left to right; [] no face)."""
    width, height = size
    if heads is None:
        heads = [(lambda i: round(5 + i * (width - HEAD - 10) / max(1, n - 1)), HEAD)]
    pictures = [(left, head_picture(side), side) for left, side in heads]
    out = []
    for i in range(n):
        canvas = Image.new("RGB", size, (70, 90, 110))
        for left, picture, side in pictures:
            canvas.paste(picture, (left(i), (height - side) // 2))
        out.append(np.asarray(canvas))
    return out


def tone(seconds=SECONDS, silent_after=None):
    t = np.arange(round(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    if silent_after is not None:
        wave[t >= silent_after] = 0.0
    return wave.astype(np.float32)


SPEECH = Path(__file__).resolve().parent / "media" / "speech.flac"  # espeak-ng: "Oh no, I really did not expect ..."


def speech(seconds=SECONDS, silent_after=None):
    """A spoken sentence (tests/media/speech.flac, 16 kHz, 5.2 s), repeated or cut to ``seconds``."""
    voice, rate = soundfile.read(SPEECH, dtype="float32")
    assert rate == SAMPLE_RATE
    wave = np.resize(voice, round(SAMPLE_RATE * seconds))
    if silent_after is not None:
        wave[round(SAMPLE_RATE * silent_after):] = 0.0
    return wave


def write_clip(path, frames=None, wave=None, *, fps=FPS, vcodec="libx264", acodec="aac", faststart=False,
               rotation=0):
    """A video of ``frames`` (None: no video stream) with ``wave`` as its mono soundtrack (None: no audio).
    ``rotation``: stored as a phone stores it, turned the other way, with a display rotation of that many degrees
    counter-clockwise that a player undoes (90: a portrait clip filmed with the phone turned clockwise)."""
    if frames is not None and rotation:
        frames = [np.ascontiguousarray(np.rot90(f, -rotation // 90)) for f in frames]
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as out:
        if frames is not None:
            video = out.add_stream(vcodec, rate=fps)
            video.height, video.width = frames[0].shape[:2]
            video.pix_fmt = "yuv420p"
            if rotation:
                video.set_display_rotation(rotation)
        if wave is not None:
            audio = out.add_stream(acodec, rate=48000 if acodec == "libopus" else SAMPLE_RATE)
            audio.layout = "mono"
        for frame in frames or []:
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        if frames is not None:
            out.mux(video.encode())
        if wave is not None:
            if audio.rate != SAMPLE_RATE:
                wave = np.repeat(wave, audio.rate // SAMPLE_RATE)
            sound = av.AudioFrame.from_ndarray(wave[None], format="flt", layout="mono")
            sound.sample_rate, sound.pts = audio.rate, 0
            out.mux(audio.encode(sound))
            out.mux(audio.encode())
    return path




def shipped_voice():
    """The shipped speech model, on the CPU."""
    from fer_audio.predict import AudioPredictor
    from fer_core import zoo

    manifest = zoo.load_manifest(zoo.SHIPPED_DIR)
    return AudioPredictor.from_zoo(manifest.default_model("audio"), device="cpu", manifest=manifest)


def tiny_video_predictor(runs):
    """The test run's tiny face and landmark runs with their fusion (tests/conftest.py, ``tiny_runs``) and the
    shipped speech model."""
    from ensemble.photo import PhotoPredictor
    from ensemble.video import VideoPredictor

    photo = PhotoPredictor.load(runs["face"], runs["landmarks"], runs["fusion"], device="cpu")
    return VideoPredictor(photo, shipped_voice())
