"""Levelling the eyes before cropping (fer_face.level) and the turned crop it cuts (fer_face.faces.crop_face)."""

import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

from fer_face.faces import crop_face, crop_to_image, detect_faces, to_gray
from fer_face.level import KEEP_SLOPE_DEGREES, TrackLevels, crop_tilt, eye_tilt, level_face
from fer_face.predict import face_crops
from tests.cli import fer


def bright_spot(crop: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(crop > 20)
    weights = crop[ys, xs].astype(float)
    return np.array([[np.average(xs, weights=weights), np.average(ys, weights=weights)]])


@pytest.mark.parametrize("degrees", [0.0, 30.0, -50.0])
def test_a_turned_crop_maps_its_points_back_to_the_image(degrees):
    image = np.zeros((300, 400), np.uint8)
    image[100:106, 230:236] = 255  # a dot centred at (232.5, 102.5)
    box = (150, 80, 250, 180)
    crop = crop_face(image, box, size=96, degrees=degrees)
    back = crop_to_image(bright_spot(crop), box, 96, degrees=degrees)
    np.testing.assert_allclose(back, [[232.5, 102.5]], atol=1.0)


def test_a_turned_crop_shows_the_turned_image_and_repeats_the_border():
    image = np.zeros((100, 100), np.uint8)
    image[:, 50:] = 255  # left half black, right half white: a vertical edge through the box centre
    turned = crop_face(image, (20, 20, 80, 80), margin=0.5, size=64, degrees=90)
    # counter-clockwise by 90 degrees: the white half is now on top, the corners come from repeated border pixels
    assert turned[:24].mean() > 250 and turned[40:].mean() < 5
    np.testing.assert_array_equal(crop_face(image, (20, 20, 80, 80)), crop_face(image, (20, 20, 80, 80), degrees=0))


def test_eye_tilt_is_the_slope_of_the_eye_line():
    points = np.zeros((68, 2))
    points[36:42] = [10, 20]  # the subject's right eye, image left
    points[42:48] = [30, 40]
    assert eye_tilt(points) == pytest.approx(45.0)
    points[42:48] = [30, 0]
    assert eye_tilt(points) == pytest.approx(-45.0)


def astronaut_turned(degrees: float) -> np.ndarray:
    """scikit-image's astronaut, turned counter-clockwise by ``degrees`` about her face, as gray uint8."""
    photo = Image.fromarray(to_gray(data.astronaut()))
    return np.asarray(photo.rotate(degrees, resample=Image.Resampling.BILINEAR, center=(215, 120),
                                   fillcolor=128))


@pytest.mark.parametrize("degrees", [-20.0, 20.0])
def test_a_leaning_face_is_turned_until_its_eyes_keep_the_allowed_slope(degrees):
    upright = astronaut_turned(0)
    own_tilt = crop_tilt(crop_face(upright, detect_faces(upright)[0].box))
    assert own_tilt is not None and abs(own_tilt) < 10
    leaning = astronaut_turned(degrees)
    box = detect_faces(leaning)[0].box
    first = crop_tilt(crop_face(leaning, box))
    assert first == pytest.approx(own_tilt - degrees, abs=4)
    crop, turned_by = level_face(leaning, box)
    assert turned_by == pytest.approx(first - np.copysign(KEEP_SLOPE_DEGREES, first), abs=2)
    assert crop_tilt(crop) == pytest.approx(np.copysign(KEEP_SLOPE_DEGREES, first), abs=2)
    sloping, partly = level_face(leaning, box, keep_degrees=10.0)
    assert partly == pytest.approx(first - np.copysign(10.0, first), abs=2)
    assert crop_tilt(sloping) == pytest.approx(np.copysign(10.0, first), abs=2)


def test_a_face_within_the_slope_it_may_keep_is_cut_as_it_stands():
    upright = astronaut_turned(0)
    box = detect_faces(upright)[0].box
    crop, turned_by = level_face(upright, box, keep_degrees=10.0)
    assert turned_by == 0.0
    np.testing.assert_array_equal(crop, crop_face(upright, box))
    _, levelled = level_face(upright, box, keep_degrees=0.0)
    assert levelled != 0.0


def test_photos_are_levelled_and_crops_are_taken_as_they_stand():
    leaning = astronaut_turned(20.0)
    (face,) = face_crops(leaning)
    first = crop_tilt(crop_face(leaning, face.detection.box))
    assert face.level_degrees == pytest.approx(first - np.copysign(KEEP_SLOPE_DEGREES, first), abs=2)
    assert face.level_degrees != 0.0
    (as_it_stands,) = face_crops(leaning, level=False)
    assert as_it_stands.level_degrees == 0.0 and as_it_stands.detection == face.detection
    np.testing.assert_array_equal(as_it_stands.pixels, crop_face(leaning, face.detection.box))
    small = crop_face(leaning, face.detection.box)  # a 48x48 crop is used whole, never turned
    (whole,) = face_crops(small)
    assert whole.detection is None and whole.level_degrees == 0.0
    np.testing.assert_array_equal(whole.pixels, small)


def test_a_followed_face_is_measured_on_detection_frames_only():
    leaning = astronaut_turned(20.0)
    box = detect_faces(leaning)[0].box
    levels = TrackLevels()
    measured = levels.crop(leaning, 7, box, measure=True)
    turned_by = levels.degrees[7]
    upright = astronaut_turned(0)
    # a frame in between reuses the angle even though this frame's face is upright
    np.testing.assert_array_equal(levels.crop(upright, 7, box, measure=False),
                                  crop_face(upright, box, degrees=turned_by))
    np.testing.assert_array_equal(measured, level_face(leaning, box)[0])
    levels.keep(set())
    assert levels.degrees == {}
    assert TrackLevels(level=False).crop(leaning, 7, box, measure=True).tobytes() == crop_face(leaning, box).tobytes()


def test_fer_face_predict_reports_the_turn_and_no_level_cuts_as_it_stands(tmp_path):
    photo = tmp_path / "leaning.png"
    Image.fromarray(astronaut_turned(20.0)).save(photo)
    levelled = fer("face", "predict", photo, "--json")
    assert levelled.returncode == 0, levelled.stderr
    (face,) = json.loads(levelled.stdout)["results"]
    assert face["level_degrees"] == pytest.approx(crop_tilt(crop_face(astronaut_turned(20.0), face["box"])), abs=2)
    as_it_stands = fer("face", "predict", photo, "--json", "--no-level")
    (unturned,) = json.loads(as_it_stands.stdout)["results"]
    assert unturned["level_degrees"] == 0.0 and unturned["box"] == face["box"]
