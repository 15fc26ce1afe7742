"""The soundtrack on sliding windows: the window grid, the sound/silence rule and the voice's probabilities.

Grid (``window_grid``): windows of ``window_s`` seconds starting every ``hop_s`` seconds from 0; the last window
is the first one that reaches the end of the video, and every window ends at ``min(start + window_s,
duration)``. A video shorter than one window is one window. The face side is averaged on the same grid.

Sound rule (``sound_levels``): a window's level is the RMS of its samples in dBFS. It is *sound* when it is within
``silence_db`` (default 35 dB) of the loudest window of the clip and above ``FLOOR_DBFS`` (-60 dBFS, the level
below which ``fer_audio.decode`` calls a clip silent); otherwise it is silence and the voice gives no prediction
for it. With a speech detector (``fer_audio.speech_activity``, on by default), a sound window also needs speech:
at least ``MIN_SPEECH_SHARE`` of its 32 ms frames; music, noise or a tone as loud as a voice then gives no voice
prediction either (``speech_shares``).

Voice probabilities: each sound window, resampled to the speech model's rate, is scored by the speech model
(calibrated, in its own label space) and mapped onto FER2013's 7 classes with ``fer_audio.labels.to_fer7_probs``
(calm + neutral -> neutral).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fer_audio.decode import MIN_SECONDS, to_mono_at
from fer_audio.labels import to_fer7_probs
from fer_audio.predict import AudioPredictor
from fer_audio.speech_activity import FRAME, MIN_SPEECH_SHARE, SPEECH_PROBABILITY, SpeechDetector
from fer_audio.speech_activity import SAMPLE_RATE as SPEECH_RATE
from fer_core.labels import FER7

FLOOR_DBFS = -60.0
DEFAULT_SILENCE_DB = 35.0


def window_grid(duration: float, window_s: float, hop_s: float) -> list[tuple[float, float]]:
    """(start, end) seconds of every window; together they cover [0, duration]."""
    if window_s <= 0 or hop_s <= 0:
        raise ValueError("window and hop must be positive")
    windows, start = [], 0.0
    while True:
        end = min(start + window_s, duration)
        windows.append((round(start, 6), round(end, 6)))
        if end >= duration - 1e-9:
            return windows
        start += hop_s


def window_slice(window: tuple[float, float], sample_rate: int) -> slice:
    return slice(round(window[0] * sample_rate), round(window[1] * sample_rate))


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dB relative to full scale (1.0); -200 for digital silence or no samples."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    return 20 * np.log10(max(rms, 1e-10))


def sound_levels(wave: np.ndarray, sample_rate: int, windows: list[tuple[float, float]],
                 silence_db: float = DEFAULT_SILENCE_DB) -> tuple[np.ndarray, np.ndarray]:
    """(level in dBFS, is sound) per window of a mono waveform."""
    levels = np.array([rms_dbfs(wave[window_slice(w, sample_rate)]) for w in windows])
    loudest = levels.max()
    sound = (levels >= loudest - silence_db) & (levels > FLOOR_DBFS)
    return levels, sound


def speech_shares(wave: np.ndarray, sample_rate: int, windows: list[tuple[float, float]],
                  detector: SpeechDetector) -> np.ndarray:
    """Per window, the share of its 32 ms frames that hold speech (the waveform is scored once, start to end)."""
    wave16 = wave if sample_rate == SPEECH_RATE else to_mono_at(wave, sample_rate, SPEECH_RATE)
    speech = detector.frame_probabilities(wave16) > SPEECH_PROBABILITY
    frame_s = FRAME / SPEECH_RATE
    shares = []
    for start, end in windows:
        first = min(int(start / frame_s), len(speech))
        last = max(int(np.ceil(end / frame_s)), first + 1)
        shares.append(float(speech[first:last].mean()) if first < len(speech) else 0.0)
    return np.asarray(shares)


@dataclass
class VoiceWindows:
    level_db: np.ndarray  # (W,)
    sound: np.ndarray  # (W,) bool: loud enough, and speech when a detector was used
    probs: np.ndarray  # (W, C) calibrated, the speech model's own labels; NaN rows where not scored
    fer7: np.ndarray  # (W, 7) the same mapped onto FER7; NaN rows where not scored
    speech: np.ndarray | None = None  # (W,) share of 32 ms frames with speech; None: no detector


def voice_windows(wave: np.ndarray, windows: list[tuple[float, float]], voice: AudioPredictor,
                  silence_db: float = DEFAULT_SILENCE_DB, detector: SpeechDetector | None = None) -> VoiceWindows:
    """Score the sound windows of a mono waveform at ``voice.sample_rate``, in one batch."""
    rate = voice.sample_rate
    levels, sound = sound_levels(wave, rate, windows, silence_db)
    speech = None
    if detector is not None:
        speech = speech_shares(wave, rate, windows, detector)
        sound = sound & (speech >= MIN_SPEECH_SHARE)
    long_enough = np.array([w[1] - w[0] >= MIN_SECONDS for w in windows])
    todo = np.flatnonzero(sound & long_enough)
    probs = np.full((len(windows), len(voice.label_space)), np.nan)
    fer7 = np.full((len(windows), len(FER7)), np.nan)
    if len(todo):
        logits = voice.logits_for_waves([wave[window_slice(windows[i], rate)] for i in todo])
        probs[todo] = voice.calibrator.probs(logits)
        fer7[todo] = to_fer7_probs(probs[todo], voice.label_space)
    return VoiceWindows(levels, sound, probs, fer7, speech)
