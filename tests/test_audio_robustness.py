"""The speech branch does not depend on the recording level, and its waveform augmentation does what it says."""

import numpy as np
import pytest
import torch

from fer_core.errors import UserError
from fer_audio.augment import WaveAugment, add_noise, augment_waves, babble_noise, clip_power, reverb, white_noise
from fer_audio.config import apply_overrides, load_recipe
from fer_audio.features import FeatureConfig, extract, pad_waves

SR = 16000


def _speechlike(seed: int, seconds: float = 1.5, level: float = 0.01) -> np.ndarray:
    """A quiet, RAVDESS-like clip: silence, a voiced stretch with harmonics and a moving pitch, silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip((t - 0.3) * 10, 0, 1) * np.clip((seconds - 0.3 - t) * 10, 0, 1)
    return (level * voiced * envelope + 1e-5 * rng.standard_normal(len(t))).astype(np.float32)


def test_features_do_not_depend_on_gain_with_the_relative_floor():
    clips = [_speechlike(s) for s in range(3)]
    cfg = FeatureConfig()
    quiet, n_quiet = extract(clips, cfg)
    for gain in (0.1, 4.0, 10.0):
        loud, n_loud = extract([c * gain for c in clips], cfg)
        assert torch.equal(n_quiet, n_loud)
        assert (quiet.float() - loud.float()).abs().max() < 2e-2  # float16 storage


def test_the_absolute_floor_does_depend_on_gain():
    clips = [_speechlike(0)]
    cfg = FeatureConfig(floor="absolute")
    quiet, n_quiet = extract(clips, cfg)
    loud, n_loud = extract([clips[0] * 10], cfg)
    assert not torch.equal(n_quiet, n_loud) or (quiet.float() - loud.float()).abs().max() > 0.1


def test_the_shipped_speech_model_gives_a_clip_and_its_x4_copy_the_same_answer():
    from fer_audio.predict import load_model

    model = load_model()
    assert model.features.floor == "relative"
    for seed in range(3):
        clip = _speechlike(seed)
        a, b = model.predict_waveform(clip), model.predict_waveform(clip * 4)
        assert a["label"] == b["label"]
        assert np.abs(np.asarray(a["probs"]) - np.asarray(b["probs"])).max() < 1e-2


def test_noise_lands_at_the_asked_snr_and_padding_stays_silent():
    waves, lengths = pad_waves([_speechlike(0, 1.0), _speechlike(1, 1.5)])
    gen = torch.Generator().manual_seed(0)
    noisy = add_noise(waves, lengths, white_noise(tuple(waves.shape), gen), torch.tensor([10.0, 0.0]))
    snr = 10 * torch.log10(clip_power(waves, lengths) / clip_power(noisy - waves, lengths))
    assert torch.allclose(snr, torch.tensor([10.0, 0.0]), atol=1e-3)
    assert noisy[0, int(lengths[0]):].abs().max() == 0


def test_babble_is_made_only_of_other_speakers():
    t = np.arange(SR) / SR
    own = (0.1 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    other = (0.1 * np.sin(2 * np.pi * 1200 * t)).astype(np.float32)
    waves, lengths = pad_waves([own, own, other])
    babble = babble_noise(waves, lengths, torch.tensor([1, 1, 2]), 3, torch.Generator().manual_seed(0))
    spectrum = torch.fft.rfft(babble[0]).abs()
    assert abs(int(spectrum.argmax()) - 1200) <= 2  # 1 Hz bins: the other speaker's tone, never its own 300 Hz
    assert spectrum[300] < 1e-3 * spectrum.max()


def test_reverb_keeps_level_and_length_and_augmentation_is_seeded():
    waves, lengths = pad_waves([_speechlike(0), _speechlike(1, 1.0)])
    wet = reverb(waves, lengths, torch.tensor([0.3, 0.8]), SR, torch.Generator().manual_seed(0))
    assert wet.shape == waves.shape and torch.allclose(clip_power(wet, lengths), clip_power(waves, lengths), rtol=1e-4)
    aug = WaveAugment(noise_prob=1.0, reverb_prob=0.5, bandlimit_prob=0.5, gain_db=20.0)
    speakers = torch.tensor([1, 2])
    first = augment_waves(waves, lengths, speakers, aug, SR, torch.Generator().manual_seed(3))
    again = augment_waves(waves, lengths, speakers, aug, SR, torch.Generator().manual_seed(3))
    other = augment_waves(waves, lengths, speakers, aug, SR, torch.Generator().manual_seed(4))
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_recipe_refuses_bad_augmentation_settings():
    cfg = load_recipe()
    assert WaveAugment.from_config(cfg["augment"]).active
    with pytest.raises(UserError, match="augment.noise_kinds 'white,hum'"):
        apply_overrides(cfg, ['augment.noise_kinds="white,hum"'])
    with pytest.raises(UserError, match="augment.snr_min_db \\(40\\) is above augment.snr_max_db"):
        apply_overrides(cfg, ["augment.snr_min_db=40"])
    with pytest.raises(UserError, match="augment.noise_prob"):
        apply_overrides(cfg, ["augment.noise_prob=1.5"])
