"""The project's face detector and safe image loading (fer_face.faces)."""

import numpy as np
import pytest
from PIL import Image

from fer_core.errors import DataError, UserError
from fer_face.faces import (DETECTORS, Detection, FaceBox, best_face, crop_face, detect_faces, load_image,
                            register_photo_formats, to_gray)

# skimage.data.astronaut() is 512x512; her face (hairline to chin) spans about x 170-262, y 72-168. Saved as
# JPEG at quality 95, dlib's HOG detector also reports the mission patch on her suit (around x 123-228,
# y 330-435) with a near-zero score and a larger box than her face.
FACE_CENTRE_X, FACE_CENTRE_Y = (185, 245), (90, 150)


def test_load_image_roundtrip_and_modes(tmp_path):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "a.png")
    im = load_image(tmp_path / "a.png")
    assert im.size == (30, 20)
    g = to_gray(im)
    assert g.shape == (20, 30) and g.dtype == np.uint8 and int(g[0, 0]) == round(0.299 * 200)
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))  # fully transparent -> white background
    assert (to_gray(rgba) == 255).all()


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_corrupt_image_is_one_line_data_error_naming_the_file(tmp_path, content):
    p = tmp_path / "broken.jpg"
    p.write_bytes(content)
    with pytest.raises(DataError) as e:
        load_image(p)
    msg = str(e.value)
    assert "broken.jpg" in msg and "\n" not in msg


def test_truncated_jpeg_is_refused(tmp_path):
    p = tmp_path / "cut.jpg"
    Image.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)).save(p, quality=95)
    p.write_bytes(p.read_bytes()[:300])
    with pytest.raises(DataError, match="cut.jpg"):
        load_image(p)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_image(tmp_path / "nope.png")


def test_decompression_bomb_guard(tmp_path, monkeypatch):
    p = tmp_path / "big.png"
    Image.new("L", (200, 200)).save(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 40,000 px > 1,000 (the warning level) -> refused
    with pytest.raises(DataError, match="too large"):
        load_image(p)


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_16_bit_and_float_photos_keep_their_grey_levels(tmp_path, fmt):
    from skimage import data

    grey = to_gray(Image.fromarray(data.astronaut()))
    deep = tmp_path / f"deep16.{fmt}"
    Image.fromarray(grey.astype(np.uint16) * 257).save(deep)
    unit = tmp_path / "unit.tiff"
    Image.fromarray(grey.astype(np.float32) / 255).save(unit)
    for path in (deep, unit):
        image = load_image(path)
        assert image.mode in ("I;16", "I", "F")
        np.testing.assert_array_equal(to_gray(image), grey)
        assert on_her_face(best_face(to_gray(image)).box)
    assert to_gray(np.full((2, 2, 3), 65535, np.uint16)).max() == 255
    assert to_gray(np.full((2, 2), 200, np.uint16)).max() == 1  # 16-bit: 200 of 65535 is nearly black
    assert to_gray(np.full((2, 2), 200, np.int64)).max() == 200


def test_to_gray_accepts_arrays_and_rejects_bad_shapes():
    assert to_gray(np.full((5, 6), 0.5)).max() == 128  # float in [0, 1]
    assert to_gray(np.full((5, 6), 300.0)).max() == 255
    assert to_gray(np.zeros((5, 6, 1), np.uint8)).shape == (5, 6)
    assert to_gray(np.zeros((5, 6, 4), np.uint8)).shape == (5, 6)
    with pytest.raises(DataError, match="shape"):
        to_gray(np.zeros((5, 6, 2)))
    with pytest.raises(DataError, match="shape"):
        to_gray(np.zeros((0, 6)))
    with pytest.raises(DataError, match="NaN"):
        to_gray(np.full((3, 3), np.nan))


@pytest.mark.parametrize("shape", [(1, 1), (7, 300), (48, 48), (200, 150)])
def test_detector_finds_no_face_in_flat_or_noise_images(shape):
    rng = np.random.default_rng(1)
    assert detect_faces(np.full(shape, 128, np.uint8)) == []
    noise = rng.integers(0, 256, shape, dtype=np.uint8)
    face = best_face(noise)
    assert face is None or (isinstance(face, Detection) and isinstance(face.box, FaceBox))


def test_crop_face_shape_padding_and_centre():
    img = np.zeros((100, 100), np.uint8)
    img[40:60, 40:60] = 255
    crop = crop_face(img, FaceBox(40, 40, 60, 60), margin=0.0, size=48)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert crop[24, 24] == 255 and crop.mean() > 200
    # box hanging over the corner: border pixels are repeated, no exception
    edge = crop_face(img, (-30, -30, 20, 20), margin=0.2, size=32)
    assert edge.shape == (32, 32)
    assert crop_face(Image.fromarray(img), (0, 0, 100, 100)).shape == (48, 48)
    with pytest.raises(ValueError, match="empty"):
        crop_face(img, (10, 10, 10, 20))


def test_facebox_geometry():
    b = FaceBox(10, 20, 50, 80)
    assert (b.width, b.height, b.area) == (40, 60, 2400)
    assert FaceBox(5, 5, 1, 1).area == 0


@pytest.fixture(scope="module")
def astronaut_gray(tmp_path_factory):
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(path, quality=95)
    return to_gray(load_image(path))


def centre(box: FaceBox) -> tuple[float, float]:
    return (box.left + box.right) / 2, (box.top + box.bottom) / 2


def on_her_face(box: FaceBox) -> bool:
    x, y = centre(box)
    return FACE_CENTRE_X[0] < x < FACE_CENTRE_X[1] and FACE_CENTRE_Y[0] < y < FACE_CENTRE_Y[1]


def test_most_confident_face_is_chosen_not_the_largest(astronaut_gray):
    faces = detect_faces(astronaut_gray)
    assert len(faces) >= 1 and all(isinstance(f, Detection) for f in faces)
    scores = [f.score for f in faces]
    assert scores == sorted(scores, reverse=True)
    best = best_face(astronaut_gray)
    assert best == faces[0] and on_her_face(best.box)
    patches = faces[1:]
    assert patches and all(centre(f.box)[1] > 300 for f in patches)
    assert max(f.box.area for f in patches) > best.box.area  # the largest box would be the wrong face


# EXIF orientation -> how the stored pixels are turned before display (PIL's exif_transpose inverts it)
STORED_SIDEWAYS = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


@pytest.mark.parametrize("orientation", sorted(STORED_SIDEWAYS))
def test_a_phone_photo_stored_sideways_is_read_upright(tmp_path, orientation):
    from skimage import data

    upright = Image.fromarray(data.astronaut())
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    path = tmp_path / f"phone-{orientation}.jpg"
    upright.transpose(STORED_SIDEWAYS[orientation]).save(path, quality=95, exif=exif.tobytes())
    with Image.open(path) as raw:
        assert raw.getexif()[0x0112] == orientation
    image = load_image(path)
    assert image.size == upright.size and 0x0112 not in image.getexif()
    assert np.abs(np.asarray(image, np.int16) - np.asarray(upright, np.int16)).mean() < 3  # JPEG noise only
    assert on_her_face(best_face(to_gray(image)).box)


@pytest.mark.parametrize("suffix", ["heic", "avif"])
def test_iphone_heic_and_avif_photos_are_read(tmp_path, suffix):
    from skimage import data

    register_photo_formats()  # pillow-heif writes HEIC too
    path = tmp_path / f"astronaut.{suffix}"
    Image.fromarray(data.astronaut()).save(path, quality=90)
    image = load_image(path)
    assert image.size == (512, 512)
    assert np.abs(np.asarray(image.convert("RGB"), np.int16) - data.astronaut()).mean() < 4
    assert on_her_face(best_face(to_gray(image)).box)


def test_photo_landmarks_use_the_most_confident_face(astronaut_gray):
    from fer_face.landmarks.extract import landmarks_in_photo

    best = best_face(astronaut_gray)
    lm = landmarks_in_photo(astronaut_gray)
    assert lm.present and lm.score == best.score
    assert on_her_face(FaceBox(*(round(v) for v in lm.box)))


def test_cnn_detector_finds_her_face(astronaut_gray):
    faces = detect_faces(astronaut_gray, detector="cnn")
    assert faces and on_her_face(faces[0].box)
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)


def test_unknown_detector_is_a_user_error(astronaut_gray):
    assert DETECTORS == ("hog", "cnn")
    with pytest.raises(UserError, match="hog, cnn"):
        detect_faces(astronaut_gray, detector="viola-jones")


def test_concurrent_detection_matches_sequential(astronaut_gray):
    from concurrent.futures import ThreadPoolExecutor

    expected = detect_faces(astronaut_gray)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: detect_faces(astronaut_gray), range(4)))
    assert all(r == expected for r in results)


def test_min_face_sets_the_detection_scale():
    from fer_face.faces import DETECT_MAX_SIDE, detection_scale

    assert detection_scale(480, 640) == 1.0
    assert detection_scale(480, 640, min_face=160) == 0.5  # a 160-px face meets the 80-px window at half size
    assert detection_scale(480, 640, min_face=40) == 2.0
    assert detection_scale(3000, 4000, min_face=40) == DETECT_MAX_SIDE / 4000  # never past the size guard
    with pytest.raises(UserError, match="--min-face 0"):
        detection_scale(480, 640, min_face=0)
