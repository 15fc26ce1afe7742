"""Audio branch data layer: RAVDESS names, actor-disjoint splits, decoding, bad clips, log-mel features."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fer_core.errors import DataError, UserError
from fer_core.labels import FER7
from fer_audio.branch import AudioBranch
from fer_audio.decode import decode_bytes, decode_clip
from fer_audio.features import FeatureConfig, crop, extract, window_starts
from fer_audio.labels import ACTORS, EMOTIONS, RAVDESS8, label_index, label_space_for, parse_name
from fer_audio.splits import fixed_split, kfold_split, resolve_split

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------ file names
def test_parse_every_field():
    n = parse_name("Audio_Speech_Actors_01-24/Actor_12/03-01-05-02-01-02-12.wav")
    assert (n.modality, n.vocal_channel, n.emotion, n.intensity) == ("audio-only", "speech", "angry", "strong")
    assert (n.statement, n.repetition, n.actor, n.sex, n.stem) == (1, 2, 12, "female", "03-01-05-02-01-02-12")
    n = parse_name("01-02-01-01-02-01-07.flac")
    assert (n.modality, n.vocal_channel, n.emotion, n.intensity) == ("audio-video", "song", "neutral", "normal")
    assert (n.statement, n.repetition, n.actor, n.sex) == (2, 1, 7, "male")
    assert parse_name("02-01-03-01-01-01-01.mp4").modality == "video-only"


@pytest.mark.parametrize("code,name", sorted(EMOTIONS.items()))
def test_parse_every_emotion(code, name):
    assert parse_name(f"03-01-{code:02d}-01-01-01-01.wav").emotion == name


@pytest.mark.parametrize("name,field", [
    ("04-01-01-01-01-01-01.wav", "modality"), ("03-03-01-01-01-01-01.wav", "vocal channel"),
    ("03-01-09-01-01-01-01.wav", "emotion"), ("03-01-02-03-01-01-01.wav", "intensity"),
    ("03-01-02-01-03-01-01.wav", "statement"), ("03-01-02-01-01-03-01.wav", "repetition"),
    ("03-01-02-01-01-01-25.wav", "actor"), ("03-01-02-01-01-01-00.wav", "actor"),
    ("03-01-01-02-01-01-01.wav", "strong-intensity neutral"), ("03-01-02-01-01-01.wav", "seven two-digit"),
    ("hello.wav", "seven two-digit"),
])
def test_parse_rejects_bad_names(name, field):
    with pytest.raises(DataError, match=field):
        parse_name(name)


def test_label_spaces_and_fer7_mapping():
    assert label_space_for("keep") == RAVDESS8 and len(RAVDESS8) == 8
    assert label_space_for("merge") == FER7
    assert label_index("calm", "merge") == label_index("neutral", "merge") == FER7.index("neutral")
    assert label_index("calm", "keep") == 1
    for ravdess, fer in (("fearful", "fear"), ("surprised", "surprise"), ("angry", "angry")):
        assert label_index(ravdess, "merge") == FER7.index(fer)
        assert AudioBranch.canonical_label(ravdess) == fer
    assert AudioBranch.canonical_label("calm") == "neutral"
    assert {AudioBranch.canonical_label(e) for e in RAVDESS8} == set(FER7)
    with pytest.raises(DataError):
        label_space_for("drop")


# ---------------------------------------------------------------------------------------- splits
def _check_split(split):
    tr, va, te = set(split.train), set(split.validation), set(split.test)
    assert tr and va and te
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert tr | va | te == set(ACTORS)
    assert sum(a % 2 for a in te) * 2 == len(te)  # as many male (odd) as female actors
    assert sum(a % 2 for a in va) * 2 == len(va)


def test_fixed_split_is_the_documented_one():
    s = fixed_split()
    assert s.train == tuple(range(1, 19)) and s.validation == (19, 20) and s.test == (21, 22, 23, 24)
    _check_split(s)
    assert resolve_split() == s


@settings(max_examples=60, deadline=None)
@given(folds=st.integers(2, 12), data=st.data())
def test_every_kfold_split_is_actor_disjoint(folds, data):
    fold = data.draw(st.integers(1, folds))
    _check_split(kfold_split(fold, folds))
    tests = [set(kfold_split(f, folds).test) for f in range(1, folds + 1)]
    assert set().union(*tests) == set(ACTORS) and sum(map(len, tests)) == len(ACTORS)  # folds partition actors


@settings(max_examples=20, deadline=None)
@given(folds=st.integers(2, 12), data=st.data())
def test_dataset_split_indices_never_share_an_actor(folds, data, tiny_synthetic):
    split = kfold_split(data.draw(st.integers(1, folds)), folds)
    actors = {s: set(tiny_synthetic.actors[tiny_synthetic.split_indices(split, s)]) for s in ("train", "validation", "test")}
    assert not (actors["train"] & actors["test"]) and not (actors["validation"] & actors["test"])
    assert not (actors["train"] & actors["validation"])


def test_bad_fold_arguments():
    for folds, fold in ((1, 1), (13, 1), (6, 7), (6, 0)):
        with pytest.raises(UserError):
            kfold_split(fold, folds)
    with pytest.raises(UserError):
        resolve_split(folds=6)


@pytest.fixture(scope="module")
def tiny_synthetic():
    from fer_audio.synthetic import make_synthetic

    return make_synthetic(seed=1, seconds=0.4, statements=(1,), repetitions=(1,))


# -------------------------------------------------------------------------------------- decoding
def _voice(sr: int, seconds: float = 1.2) -> np.ndarray:
    """A band-limited (< 4 kHz) voiced sound, identical whatever the sample rate it is rendered at."""
    t = np.arange(int(sr * seconds)) / sr
    f0 = 140 + 30 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 20))
    return (0.3 * x * np.hanning(len(t))).astype(np.float32)


def _wav(tmp_path: Path, name: str, x: np.ndarray, sr: int, subtype: str = "PCM_16") -> Path:
    p = tmp_path / name
    sf.write(p, x, sr, subtype=subtype)
    return p


def test_any_rate_and_stereo_decode_to_mono_at_model_rate(tmp_path):
    stereo = np.stack([_voice(48000), _voice(48000)], 1)
    x = decode_clip(_wav(tmp_path, "a.flac", stereo, 48000), 16000)
    assert x.ndim == 1 and x.dtype == np.float32 and abs(len(x) - 1.2 * 16000) <= 2


def test_log_mels_do_not_depend_on_input_sample_rate(tmp_path):
    cfg = FeatureConfig()
    a = decode_clip(_wav(tmp_path, "48k.wav", _voice(48000), 48000), cfg.sample_rate)
    b = decode_clip(_wav(tmp_path, "16k.wav", _voice(16000), 16000), cfg.sample_rate)
    feats, counts = extract([a, b], cfg)
    assert feats.shape[:2] == (2, cfg.n_mels) and feats.shape[2] == int(counts.max())
    assert abs(int(counts[0]) - int(counts[1])) <= 1
    n = int(counts.min())
    diff = (feats[0, :, :n].float() - feats[1, :, :n].float()).abs()
    assert diff.mean() < 0.02 and diff.max() < 0.25  # normalised units (unit variance)
    # features are normalised per utterance: zero mean, unit variance over the speech frames
    f0 = feats[0, :, : int(counts[0])].float()
    assert abs(float(f0.mean())) < 1e-2 and abs(float(f0.std()) - 1) < 1e-2


def test_crop_windows_have_fixed_shape_and_keep_short_clips_whole():
    feats = torch.arange(2 * 3 * 10, dtype=torch.float32).reshape(2, 3, 10) + 1
    counts = torch.tensor([10, 4])
    out = crop(feats, counts, 6, window_starts(counts, 6, 0.5))
    assert out.shape == (2, 3, 6)
    assert torch.equal(out[0], feats[0, :, 2:8])  # centre of a long clip
    assert torch.equal(out[1, :, 1:5], feats[1, :, :4]) and (out[1, :, [0, 5]] == 0).all()  # short clip centred
    assert torch.equal(crop(feats, counts, 6, window_starts(counts, 6, 0.0))[0], feats[0, :, :6])
    assert torch.equal(crop(feats, counts, 6, window_starts(counts, 6, 1.0))[0], feats[0, :, 4:])
    shifted = window_starts(counts, 6, 0.5, torch.tensor([100, -100]))
    assert shifted.tolist() == [4, -2]  # shifts stay inside the clip / the window


def _encode(path: Path, x: np.ndarray, sr: int, codec: str, fmt: str, rate: int, **options) -> Path:
    """``x`` encoded with FFmpeg (PyAV) as a phone or a browser would record it."""
    import av

    with av.open(str(path), "w", format=fmt, options=options) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.repeat(x, rate // sr)[None], format="flt", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    return path


PHONE_AND_BROWSER = [  # (file, codec, FFmpeg muxer, rate): a voice memo, a browser's MediaRecorder, MP3, Ogg Opus
    ("memo.m4a", "aac", "ipod", 48000), ("recording.webm", "libopus", "webm", 48000),
    ("clip.mp3", "libmp3lame", "mp3", 48000), ("note.opus", "libopus", "ogg", 48000),
]


@pytest.mark.parametrize("name, codec, fmt, rate", PHONE_AND_BROWSER, ids=[c[0] for c in PHONE_AND_BROWSER])
def test_compressed_recordings_decode_like_the_flac_they_came_from(tmp_path, name, codec, fmt, rate):
    x = _voice(16000)
    reference = decode_clip(_wav(tmp_path, "voice.flac", x, 16000), 16000)
    decoded = decode_clip(_encode(tmp_path / name, x, 16000, codec, fmt, rate), 16000)
    assert decoded.dtype == np.float32 and abs(len(decoded) - len(reference)) <= 0.03 * 16000
    n = min(len(decoded), len(reference))
    assert np.corrcoef(decoded[:n], reference[:n])[0, 1] > 0.95  # lossy, but the same sound, not shifted


def test_a_truncated_voice_memo_is_one_line(tmp_path):
    memo = _encode(tmp_path / "memo.m4a", _voice(16000), 16000, "aac", "ipod", 48000, movflags="faststart")
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(memo.read_bytes()[: memo.stat().st_size * 3 // 5])
    not_audio = tmp_path / "empty.webm"
    not_audio.write_bytes(b"\x1a\x45\xdf\xa3" + b"\x00" * 64)
    for path in (cut, not_audio):
        with pytest.raises(DataError) as e:
            decode_clip(path, 16000)
        assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)
        assert "truncated" in str(e.value)


# ------------------------------------------------------------------------------------ bad input
def _bad_clips(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    sr = 16000
    good = _voice(sr)
    wav_bytes = _wav(tmp_path, "good.wav", good, sr).read_bytes()
    flac_bytes = _wav(tmp_path, "good.flac", good, sr).read_bytes()
    nan = good.copy()
    nan[100] = np.nan
    cases = {
        "silent": (_wav(tmp_path, "silent.wav", np.zeros(sr, np.float32), sr), "silent"),
        "short": (_wav(tmp_path, "short.wav", good[: int(0.2 * sr)], sr), "shorter than the 0.3 s"),
        "nan": (_wav(tmp_path, "nan.wav", nan, sr, subtype="FLOAT"), "NaN"),
        "corrupt": (tmp_path / "corrupt.wav", "corrupt"),
        "truncated-wav": (tmp_path / "cut.wav", "truncated"),
        "truncated-flac": (tmp_path / "cut.flac", "truncated"),
        "container": (tmp_path / "clip.mp4", "unsupported audio container"),
        "missing": (tmp_path / "nope.wav", "not found"),
    }
    (tmp_path / "corrupt.wav").write_bytes(b"this is not audio at all " * 40)
    (tmp_path / "cut.wav").write_bytes(wav_bytes[: len(wav_bytes) // 2])
    (tmp_path / "cut.flac").write_bytes(flac_bytes[: len(flac_bytes) // 2])
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    return cases


def test_bad_clips_are_one_line_data_errors(tmp_path):
    for case, (path, phrase) in _bad_clips(tmp_path).items():
        with pytest.raises(DataError) as e:
            decode_clip(path, 16000)
        msg = str(e.value)
        assert phrase in msg, (case, msg)
        assert "\n" not in msg and str(path.name) in msg, (case, msg)
    assert decode_clip(tmp_path / "good.wav", 16000).shape == (int(1.2 * 16000),)


def test_quiet_but_valid_clip_is_accepted():
    x = (_voice(16000) * 0.01).astype(np.float32)  # about -45 dBFS peak
    buf = io.BytesIO()
    sf.write(buf, x, 16000, format="WAV", subtype="PCM_16")
    assert len(decode_bytes(buf.getvalue(), "quiet.wav", 16000)) == len(x)


# ------------------------------------------------------------------------------- dataset reading
def _ravdess_zip(tmp_path: Path, sr: int = 44100) -> Path:
    from fer_audio.synthetic import synthetic_stems, tone

    rng = np.random.default_rng(0)
    path = tmp_path / "mini-ravdess.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for stem in synthetic_stems(actors=(1, 2, 19, 20, 21, 22), statements=(1,), repetitions=(1,)):
            buf = io.BytesIO()
            x = tone(stem, sr, 0.5, rng)
            sf.write(buf, np.stack([x, x], 1), sr, format="WAV", subtype="PCM_16")  # stereo, 44.1 kHz
            zf.writestr(f"Audio_Speech_Actors_01-24/Actor_{stem[-2:]}/{stem}.wav", buf.getvalue())
        zf.writestr("Audio_Speech_Actors_01-24/Actor_01/03-02-03-01-01-01-01.wav", buf.getvalue())  # song: skipped
        zf.writestr("readme.txt", "not audio")
    return path


def test_reader_zip_folder_and_cache(tmp_path, monkeypatch):
    from fer_audio.data import load_ravdess

    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    src = _ravdess_zip(tmp_path)
    ds = load_ravdess(src, sample_rate=16000)
    assert len(ds) == 6 * 15 and ds.sample_rate == 16000 and ds.cache_path
    assert any("song" in n for n in ds.notes)
    assert ds.actors.tolist() == sorted(ds.actors.tolist())
    assert abs(ds.durations()[0] - 0.9) < 0.05  # 0.5 s tone + 2 x 0.2 s padding, resampled 44.1 -> 16 kHz
    again = load_ravdess(src, sample_rate=16000)  # from the cache
    assert np.array_equal(again.audio, ds.audio) and list(again.ids) == list(ds.ids)
    folder = tmp_path / "folder"
    zipfile.ZipFile(src).extractall(folder)
    from_folder = load_ravdess(folder, sample_rate=16000, use_cache=False)
    assert list(from_folder.ids) == list(ds.ids)
    assert np.abs(from_folder.audio.astype(int) - ds.audio.astype(int)).max() <= 1


def test_reader_refuses_a_corrupt_member_naming_it(tmp_path, monkeypatch):
    from fer_audio.data import load_ravdess

    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Actor_01/03-01-01-01-01-01-01.wav", b"garbage" * 50)
    with pytest.raises(DataError, match="03-01-01-01-01-01-01.wav"):
        load_ravdess(path)
    with pytest.raises(DataError, match="no RAVDESS speech clips"):
        empty = tmp_path / "empty.zip"
        with zipfile.ZipFile(empty, "w") as zf:
            zf.writestr("x.txt", "x")
        load_ravdess(empty)


def test_data_info_cli(tmp_path):
    env = {"FER_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    src = _ravdess_zip(tmp_path)
    r = subprocess.run([sys.executable, "-m", "fer_core.cli", "audio", "data-info", "--data", str(src)],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "validation" in r.stdout and "19,20" in r.stdout and "21,22,23,24" in r.stdout
    r = subprocess.run([sys.executable, "-m", "fer_core.cli", "audio", "data-info", "--data", str(tmp_path / "no.zip")],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "no such file" in r.stderr
