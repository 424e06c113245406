"""Aligned face crops (reaction.align): the transform, its fallbacks, and landmarks carried per viewer."""

import os

import cv2
import numpy as np
import pytest

from reaction import align
from reaction.detector import DetectorConfig, YuNetDetector
from reaction.preprocess import InputSpec, crop_faces
from reaction.sources import open_source
from reaction.training.config import ALIGN_TEMPLATE, TrainConfig
from reaction.types import Detection, ReactionError, Track, TrackState

from helpers import FIXTURES, SAMPLE_CLIP

ALIGNED = TrainConfig(align=True).spec()


def _rotation(angle_deg: float, scale: float, shift) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), shift[0]], [scale * np.sin(a), scale * np.cos(a), shift[1]]])


def _apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ m[:, :2].T + m[:, 2]


def test_similarity_recovers_a_known_transform():
    src = np.array(ALIGN_TEMPLATE) * 100 + np.array([[0.0, 0], [3, -1], [1, 2], [-2, 1], [2, 2]])
    m = _rotation(23.0, 1.7, (12.0, -40.0))
    np.testing.assert_allclose(align.similarity(src, _apply(m, src)), m, atol=1e-9)


def test_similarity_refuses_coincident_points():
    with pytest.raises(ValueError):
        align.similarity(np.ones((5, 2)), np.zeros((5, 2)))


def test_box_crop_without_landmarks_or_template():
    box = (40.0, 30.0, 80.0, 80.0)
    boxed = align.box_matrix(box, 48, 48, 0.1)
    marks = align.absolute(np.array(ALIGN_TEMPLATE), box)
    assert np.array_equal(align.crop_matrix(box, None, np.array(ALIGN_TEMPLATE), 48, 48, 0.1), boxed)
    assert np.array_equal(align.crop_matrix(box, marks, None, 48, 48, 0.1), boxed)


def test_landmarks_off_the_box_fall_back_to_the_box_crop():
    box = (40.0, 30.0, 80.0, 80.0)
    boxed = align.box_matrix(box, 48, 48, 0.1)
    template = np.array(ALIGN_TEMPLATE)
    elsewhere = align.absolute(template, (300.0, 300.0, 80.0, 80.0))  # another face's landmarks
    tiny = align.absolute(template, (70.0, 60.0, 10.0, 10.0))  # a face a tenth the box's size
    for marks in (elsewhere, tiny):
        assert np.array_equal(align.crop_matrix(box, marks, template, 48, 48, 0.1), boxed)
    # Landmarks where the template puts them on the box's crop give the box crop itself.
    inverse = cv2.invertAffineTransform(boxed)
    on_template = _apply(inverse, template * 48)
    np.testing.assert_allclose(align.crop_matrix(box, on_template, template, 48, 48, 0.1), boxed, atol=1e-9)


def test_template_is_symmetric_so_flipped_crops_stay_aligned():
    template = np.array(ALIGN_TEMPLATE)
    np.testing.assert_allclose(align.mirrored(template), template, atol=1e-4)


def _genki_face():
    image = cv2.imread(os.path.join(FIXTURES, "genki", "smile", sorted(os.listdir(os.path.join(FIXTURES, "genki",
                                                                                                "smile")))[0]))
    # GENKI images are tight: give YuNet some room, as the training pass does.
    return cv2.copyMakeBorder(cv2.resize(image, None, fx=3, fy=3), 80, 80, 80, 80, cv2.BORDER_REPLICATE)


def test_aligned_crops_of_a_turned_head_match_the_upright_crop():
    detector = YuNetDetector(DetectorConfig(kind="yunet"))
    upright = _genki_face()
    h, w = upright.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)
    rolled = cv2.warpAffine(upright, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    crops = {}
    for name, image in (("upright", upright), ("rolled", rolled)):
        found = detector.detect(image)
        assert len(found) == 1 and found[0].landmarks is not None
        d = found[0]
        crops[name, "box"] = crop_faces(image, [d.box], ALIGNED)[0, 0]
        crops[name, "aligned"] = crop_faces(image, [d.box], ALIGNED, [np.array(d.landmarks)])[0, 0]

    def diff(kind: str) -> float:
        return float(np.abs(crops["upright", kind] - crops["rolled", kind]).mean())

    # Rolled 20 degrees, the box crop is a rotated face; the aligned crop turns it back.
    assert diff("aligned") < 0.5 * diff("box")


def test_crop_faces_needs_one_landmark_set_per_box():
    image = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(ReactionError):
        crop_faces(image, [(10.0, 10.0, 50.0, 50.0)], ALIGNED, [None, None])


def test_yunet_landmarks_sit_in_their_boxes_on_full_frames_and_regions():
    detector = YuNetDetector(DetectorConfig(kind="yunet"))
    frame = next(iter(open_source(SAMPLE_CLIP))).image
    full = detector.detect(frame)
    assert full
    regions = [(d.box[0] - 20, d.box[1] - 20, d.box[2] + 40, d.box[3] + 40) for d in full]
    for found in (full, detector.detect(frame, regions=regions)):
        for d in found:
            marks = np.array(d.landmarks)
            x, y, w, h = d.box
            assert marks.shape == (5, 2)
            assert (marks[:, 0] > x - 0.2 * w).all() and (marks[:, 0] < x + 1.2 * w).all()
            # Eyes above the mouth corners, as the person faces the camera.
            assert marks[:2, 1].mean() < marks[3:, 1].mean()


def _track(vid: int, box, detection=None) -> Track:
    return Track(vid, box, TrackState.CONFIRMED, 5, detection)


def test_viewer_landmarks_move_with_the_predicted_box_and_are_forgotten():
    marks = align.ViewerLandmarks()
    points = tuple((float(x), float(y)) for x, y in align.absolute(np.array(ALIGN_TEMPLATE), (100, 100, 50, 50)))
    seen = [_track(1, (100.0, 100.0, 50.0, 50.0), 0), _track(2, (300.0, 100.0, 50.0, 50.0), 1)]
    dets = [Detection((100.0, 100.0, 50.0, 50.0), landmarks=points), Detection((300.0, 100.0, 50.0, 50.0))]
    now = marks.follow(seen, dets, seen)
    assert set(now) == {1}  # a detection without landmarks gives none
    np.testing.assert_allclose(now[1], np.array(points))
    moved = [_track(1, (120.0, 110.0, 100.0, 100.0))]  # predicted only, twice the size
    later = marks.follow(moved, None, moved)
    np.testing.assert_allclose(later[1], (np.array(points) - [100, 100]) * 2 + [120, 110])
    assert marks.follow([], None, []) == {}
    assert marks.follow(moved, None, moved) == {}  # gone for a frame: forgotten


def test_spec_round_trips_template_and_threshold(tmp_path):
    spec = InputSpec(template=ALIGN_TEMPLATE, threshold=0.4)
    spec.save(str(tmp_path / "s.json"))
    back = InputSpec.load(str(tmp_path / "s.json"))
    assert back.threshold == 0.4
    np.testing.assert_allclose(back.template_array, np.array(ALIGN_TEMPLATE), atol=1e-5)
    plain = InputSpec()
    plain.save(str(tmp_path / "p.json"))
    assert "threshold" not in open(str(tmp_path / "p.json")).read()
    assert InputSpec.load(str(tmp_path / "p.json")).template is None


@pytest.mark.parametrize("raw", ['"threshold": 1.5', '"align_template": [[0.1, 0.2]]'])
def test_spec_rejects_a_bad_threshold_or_template(tmp_path, raw):
    path = tmp_path / "bad.json"
    path.write_text('{"input_size": [48, 48], "channels": "grey", "mean": 0, "scale": 1, '
                    '"classes": ["neutral", "smile"], ' + raw + "}")
    with pytest.raises(ReactionError):
        InputSpec.load(str(path))
