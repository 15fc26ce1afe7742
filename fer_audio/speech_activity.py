"""Is anyone speaking? Silero VAD's 16 kHz network on a waveform: the share of its 32 ms frames that hold speech.

The weights are the ``silero_vad_16k.safetensors`` file that the ``silero-vad`` package ships (MIT licence), read as
safetensors and checked against the sha256 of the pinned release; the network is the package's own reference
architecture for that file (``silero_vad/tinygrad_model.py``: an STFT as a strided convolution, four convolutions,
an LSTM cell carried from frame to frame, a sigmoid). The package's TorchScript loader is not used: nothing is
unpickled.

    detector = SpeechDetector.load()
    detector.speech_share(wave_16k)        # 0.84 for a spoken sentence, about 0 for a tone, noise or silence
"""

from __future__ import annotations

import functools
import hashlib
import threading
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fer_core.errors import UserError

SAMPLE_RATE = 16000
FRAME = 512  # samples per decision (32 ms)
CONTEXT = 64  # samples of the previous frame the network also sees
SPEECH_PROBABILITY = 0.5  # a frame holds speech above this (silero-vad's default threshold)
MIN_SPEECH_SHARE = 0.2  # of a clip's or window's 32 ms frames: 0.6 s of speech in 3 s makes it a voice
WEIGHTS = ("silero_vad.data", "silero_vad_16k.safetensors")
WEIGHTS_SHA256 = "c59271c284ae9c8335d795d60e0bfdb71aaaceec578d9bd9ffc1b8153c319ea1"  # silero-vad 6.2.3
PINNED = "silero-vad==6.2.3"


class SileroVAD(nn.Module):
    def __init__(self):
        super().__init__()
        self.stft_conv = nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)
        self.conv1 = nn.Conv1d(129, 128, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(128, 64, kernel_size=3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(64, 64, kernel_size=3, stride=2, padding=1)
        self.conv4 = nn.Conv1d(64, 128, kernel_size=3, padding=1)
        self.lstm_cell = nn.LSTMCell(128, 128)
        self.final_conv = nn.Conv1d(128, 1, kernel_size=1)

    def forward(self, chunk: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """(speech probability (B,), LSTM state) of (B, CONTEXT + FRAME) samples."""
        x = self.stft_conv(F.pad(chunk, (0, CONTEXT), mode="reflect").unsqueeze(1))
        half = x.shape[1] // 2
        x = torch.sqrt(x[:, :half] ** 2 + x[:, half:] ** 2)  # STFT magnitudes
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = F.relu(conv(x))
        h, c = self.lstm_cell(x.squeeze(-1), state)
        speech = torch.sigmoid(self.final_conv(F.relu(h).unsqueeze(-1))).squeeze(1).mean(1)
        return speech, (h, c)


def weights_path() -> Path:
    try:
        return Path(str(resources.files(WEIGHTS[0]).joinpath(WEIGHTS[1])))
    except ModuleNotFoundError:
        raise UserError(f"the speech detector needs the silero-vad package: pip install '{PINNED}'") from None


class SpeechStream:
    """Speech probabilities of a waveform fed piece by piece (the LSTM state carried over): each ``feed`` returns
    those of the 32 ms frames it completed."""

    def __init__(self, detector: "SpeechDetector"):
        self.detector = detector
        self._pending = np.zeros(CONTEXT, np.float32)  # the context, then samples not yet a whole frame
        self._state: tuple[torch.Tensor, torch.Tensor] | None = None
        self.frames = 0  # frames decided so far

    @torch.no_grad()
    def feed(self, samples: np.ndarray) -> np.ndarray:
        x = np.concatenate([self._pending, np.asarray(samples, np.float32)])
        n = (len(x) - CONTEXT) // FRAME
        out = []
        with self.detector.lock:
            for i in range(n):
                chunk = torch.from_numpy(x[i * FRAME:i * FRAME + CONTEXT + FRAME])[None]
                speech, self._state = self.detector.network(chunk, self._state)
                out.append(float(speech))
        self._pending = x[n * FRAME:]
        self.frames += n
        return np.asarray(out)


class SpeechDetector:
    def __init__(self, network: SileroVAD):
        self.network = network.eval()
        self.lock = threading.Lock()  # torch modules are not reentrant; streams share the network

    @classmethod
    def load(cls) -> "SpeechDetector":
        from safetensors.torch import load_file

        path = weights_path()
        if not path.is_file():
            raise UserError(f"{path}: missing; reinstall the speech detector: pip install '{PINNED}'")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != WEIGHTS_SHA256:
            raise UserError(f"{path}: sha256 {digest[:12]}... is not the pinned release's; pip install '{PINNED}'")
        network = SileroVAD()
        network.load_state_dict(load_file(str(path)))
        return cls(network)

    def stream(self) -> SpeechStream:
        return SpeechStream(self)

    def frame_probabilities(self, wave: np.ndarray) -> np.ndarray:
        """Speech probability of each 32 ms frame of a mono waveform at 16 kHz (the last frame zero-padded)."""
        wave = np.asarray(wave, np.float32)
        return self.stream().feed(np.pad(wave, (0, -len(wave) % FRAME)))

    def speech_share(self, wave: np.ndarray) -> float:
        """The share of the waveform's 32 ms frames that hold speech (0 for an empty waveform)."""
        probs = self.frame_probabilities(wave)
        return float((probs > SPEECH_PROBABILITY).mean()) if len(probs) else 0.0


@functools.lru_cache(maxsize=1)
def shared_detector() -> SpeechDetector:
    """One detector per process (its network is locked per call, so videos and live runs can share it)."""
    return SpeechDetector.load()
