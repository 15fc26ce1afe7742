from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_core.errors import DataError
from fer_core.labels import FER7
from fer_face.data import SPLITS, load_fer2013
from fer_face.data import cache as data_cache
from tests.cli import fer
from tests.fer_fixtures import make_pixels, write_csv, write_folder, write_zip


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("FER_CACHE_DIR", str(d))
    return d


@pytest.fixture()
def rows():
    return make_pixels(per_class=2)


def run_cli(*args, env_extra=None):
    return fer(*args, env=env_extra)


def test_three_layouts_load_identical_arrays(tmp_path, rows, cache_dir):
    csv_path = write_csv(rows, tmp_path / "fer2013.csv")
    folder = write_folder(rows, tmp_path / "folder")
    zip_path = write_zip(folder, tmp_path / "fer2013.zip", top="fer2013")
    loaded = [load_fer2013(p) for p in (csv_path, folder, zip_path)]
    ref = loaded[0]
    assert ref.layout == "csv" and loaded[1].layout == "folder" and loaded[2].layout == "zip"
    for ds in loaded:
        assert ds.images.dtype == np.uint8 and ds.images.shape == (len(rows), 48, 48)
        np.testing.assert_array_equal(ds.images, ref.images)
        np.testing.assert_array_equal(ds.labels, ref.labels)
        np.testing.assert_array_equal(ds.splits, ref.splits)
    # stable ids: CSV row numbers, file names for folders/zips
    assert ref.ids[0] == "csv-row-00001"
    assert loaded[2].ids[0] == "Training_00001.png"
    assert ref.counts() == {s: [2] * 7 for s in SPLITS}


def test_folder_spellings_map_to_canonical_order(tmp_path, rows, cache_dir):
    spelled = ("anger", "disgusted", "fearful", "happiness", "sadness", "surprised", "Neutral")
    a = load_fer2013(write_folder(rows, tmp_path / "a"))
    b = load_fer2013(write_folder(rows, tmp_path / "b", class_names=spelled))
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.images, b.images)


def test_unprefixed_test_folder_is_split_deterministically_and_stratified(tmp_path, cache_dir):
    rows = make_pixels(per_class=4)
    ds1 = load_fer2013(write_folder(rows, tmp_path / "x", prefix=False), use_cache=False)
    ds2 = load_fer2013(write_folder(rows, tmp_path / "y", prefix=False), use_cache=False)
    np.testing.assert_array_equal(ds1.splits, ds2.splits)
    counts = ds1.counts()
    assert counts["Training"] == [4] * 7
    assert counts["PublicTest"] == [4] * 7 and counts["PrivateTest"] == [4] * 7  # 8 test images per class, halved
    assert any("deterministically" in n for n in ds1.notes)


def test_cache_hit_returns_same_arrays(tmp_path, rows, cache_dir):
    src = write_zip(write_folder(rows, tmp_path / "f"), tmp_path / "d.zip")
    first = load_fer2013(src)
    assert first.cache_path and Path(first.cache_path).is_file()
    second = load_fer2013(src)
    assert second.cache_path == first.cache_path
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.ids, second.ids)


def test_killed_cache_write_leaves_no_trusted_cache(tmp_path, rows, cache_dir, monkeypatch):
    src = write_csv(rows, tmp_path / "fer2013.csv")

    def dying_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a cache")
        raise KeyboardInterrupt  # the process is killed mid-write

    monkeypatch.setattr(data_cache.np, "savez", dying_savez)
    with pytest.raises(KeyboardInterrupt):
        load_fer2013(src)
    assert not list(cache_dir.glob("*.npz")), "a partial cache file was left where a later load would find it"
    monkeypatch.undo()
    monkeypatch.setenv("FER_CACHE_DIR", str(cache_dir))
    ds = load_fer2013(src)
    assert len(ds) == len(rows)


def test_corrupt_cache_is_rebuilt_not_trusted(tmp_path, rows, cache_dir):
    src = write_csv(rows, tmp_path / "fer2013.csv")
    path = Path(load_fer2013(src).cache_path)
    path.write_bytes(b"garbage")
    ds = load_fer2013(src)
    assert len(ds) == len(rows)


def test_non_48_images_resized_with_note_or_refused(tmp_path, rows, cache_dir):
    folder = write_folder(rows, tmp_path / "f")
    big = next(folder.rglob("*.png"))
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(big)
    ds = load_fer2013(folder, use_cache=False)
    assert ds.images.shape[1:] == (48, 48)
    assert any("resized 1 image" in n for n in ds.notes)
    with pytest.raises(DataError, match="not 48x48"):
        load_fer2013(folder, strict_size=True, use_cache=False)


def test_synthetic_is_deterministic_and_labelled():
    a, b = load_fer2013("synthetic"), load_fer2013("synthetic")
    np.testing.assert_array_equal(a.images, b.images)
    assert a.name == "synthetic" and a.synthetic
    assert set(np.unique(a.labels)) == set(range(7))
    assert all(a.counts()[s] for s in SPLITS)


# ------------------------------------------------------------------ bad input: one line, exit 2, no cache
def _bad_csv(tmp_path, rows, mutate):
    p = write_csv(rows, tmp_path / "bad.csv")
    lines = p.read_text().splitlines()
    lines = mutate(lines)
    p.write_text("\n".join(lines) + "\n")
    return p


BAD_CASES = {
    "missing_path": (lambda tmp, rows: tmp / "nope.csv", "no such file"),
    "missing_column": (lambda tmp, rows: _bad_csv(tmp, rows, lambda l: ["emotion,pixels"] + [x.rsplit(",", 1)[0] for x in l[1:]]),
                       "missing column(s) Usage"),
    "wrong_pixel_count": (lambda tmp, rows: _bad_csv(tmp, rows, lambda l: l[:3] + ["3,1 2 3,Training"] + l[3:]),
                          "row 4: field 'pixels' has 3 values"),
    "non_numeric_pixels": (lambda tmp, rows: _bad_csv(tmp, rows, lambda l: l[:2] + ["3," + "x " * 2304 + ",Training"] + l[2:]),
                           "row 3: field 'pixels' holds non-numeric"),
    "unknown_class_folder": (lambda tmp, rows: (write_folder(rows, tmp / "f"), (tmp / "f/train/contempt").mkdir(),
                                                Image.fromarray(rows[0][1]).save(tmp / "f/train/contempt/Training_9.png"))[0],
                             "unknown class folder 'contempt'"),
    "corrupt_image": (lambda tmp, rows: (write_folder(rows, tmp / "f"),
                                         (tmp / "f/train/angry/Training_00001.png").write_bytes(b"not a png"))[0],
                      "Training_00001.png: corrupt or unreadable image"),
    "empty_split": (lambda tmp, rows: write_csv([r for r in rows if r[2] != "PrivateTest"], tmp / "x.csv"),
                    "split 'PrivateTest' is empty"),
    "zip_without_layout": (lambda tmp, rows: _zip_flat(tmp), "no images in a <split>/<class>/ layout"),
}


def _zip_flat(tmp):
    import zipfile

    p = tmp / "flat.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("readme.txt", "hello")
        zf.writestr("img1.jpg", b"xx")
    return p


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_one_clear_line_no_cache(case, tmp_path, rows, cache_dir):
    make, expected = BAD_CASES[case]
    src = make(tmp_path, rows)
    with pytest.raises(DataError, match=None) as err:
        load_fer2013(src)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)
    assert not cache_dir.exists() or not list(cache_dir.glob("*.npz"))


def test_cli_bad_input_exit_code_and_no_traceback(tmp_path):
    r = run_cli("data-info", str(tmp_path / "missing.zip"))
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_no_data_anywhere_says_what_to_download(tmp_path):
    r = run_cli("data-info", env_extra={"FER_DATA_ROOT": str(tmp_path)})
    assert r.returncode == 2
    assert "download FER2013" in r.stderr and "--data synthetic" in r.stderr


def test_data_info_table(tmp_path, rows, cache_dir):
    src = write_csv(rows, tmp_path / "fer2013.csv")
    r = run_cli("data-info", str(src), env_extra={"FER_CACHE_DIR": str(cache_dir)})
    assert r.returncode == 0, r.stderr
    assert "layout csv" in r.stdout and "cache" in r.stdout
    assert "PrivateTest" in r.stdout and "angry" in r.stdout


@pytest.mark.realdata
def test_real_fer2013_zip_counts(fer2013_zip):
    ds = load_fer2013(fer2013_zip)
    counts = ds.counts()
    assert [sum(counts[s]) for s in SPLITS] == [28709, 3589, 3589]
    assert dict(zip(FER7, counts["PrivateTest"])) == {
        "angry": 491, "disgust": 55, "fear": 528, "happy": 879, "sad": 594, "surprise": 416, "neutral": 626}
    assert len(set(ds.ids)) == len(ds) and ds.ids[0].startswith("Training_")
    assert (np.char.find(ds.ids.astype(str), "/") >= 0).sum() == 4  # the 2 file names that occur twice
