"""The speech detector (fer_audio/speech_activity.py): Silero VAD's published weights, sha256-checked, on speech,
a tone, noise and silence; fed piece by piece it decides as on the whole waveform."""

import numpy as np
import pytest

from fer_audio import speech_activity
from fer_audio.speech_activity import FRAME, SpeechDetector
from fer_core.errors import UserError
from tests.video_fixtures import SAMPLE_RATE, speech, tone


@pytest.fixture(scope="module")
def detector():
    return SpeechDetector.load()


def test_speech_is_found_and_a_tone_noise_or_silence_is_not(detector):
    assert detector.speech_share(speech(5.0)) > 0.6
    assert detector.speech_share(tone(3.0)) < 0.05
    noise = (0.1 * np.random.default_rng(0).standard_normal(3 * SAMPLE_RATE)).astype(np.float32)
    assert detector.speech_share(noise) < 0.05
    assert detector.speech_share(np.zeros(SAMPLE_RATE, np.float32)) == 0.0
    assert detector.speech_share(np.zeros(0, np.float32)) == 0.0


def test_a_stream_fed_in_pieces_decides_as_the_whole_waveform(detector):
    wave = speech(3.0)
    whole = detector.frame_probabilities(wave)
    stream = detector.stream()
    pieces = np.concatenate([stream.feed(piece) for piece in np.array_split(wave, [700, 701, 5000, 20000])])
    assert len(whole) == len(wave) // FRAME + (len(wave) % FRAME > 0) and stream.frames == len(wave) // FRAME
    assert pieces == pytest.approx(whole[: len(pieces)], abs=1e-6)


def test_weights_that_are_not_the_pinned_release_are_refused(monkeypatch, tmp_path):
    changed = tmp_path / "silero_vad_16k.safetensors"
    changed.write_bytes(speech_activity.weights_path().read_bytes() + b"\0")
    monkeypatch.setattr(speech_activity, "weights_path", lambda: changed)
    with pytest.raises(UserError, match=r"is not the pinned release's; pip install 'silero-vad==") as e:
        SpeechDetector.load()
    assert "\n" not in str(e.value)
