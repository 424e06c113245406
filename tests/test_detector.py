"""The Haar detector on real frames of the sample clip."""
import os

import cv2
import numpy as np
import pytest

from reaction.boxes import box_iou
from reaction.detector import DetectorConfig, FaceDetector, make_detector
from reaction.types import ReactionError


@pytest.fixture
def frames(sample_frames):
    return sample_frames


def test_detector_finds_faces_on_the_clip_and_width_maps_back(frames):
    full = FaceDetector(DetectorConfig())
    small = FaceDetector(DetectorConfig(detect_width=320))
    hits = 0
    for f in frames[::25]:
        a = full.detect(f.image)
        b = small.detect(f.image)
        hits += len(a)
        for d in b:
            x, y, w, h = d.box
            assert 0 <= x and 0 <= y and x + w <= 641 and y + h <= 361
            assert w >= 20  # min size is in full-frame pixels
    assert hits >= 5


def test_faces_come_back_top_to_bottom_left_to_right():
    # A 3x4 grid of real GENKI faces: enough faces for OpenCV's threads to
    # report them in varying order, which would make viewer ids vary by run.
    folder = os.path.join(os.path.dirname(__file__), "fixtures", "genki", "smile")
    faces = [cv2.resize(cv2.imread(os.path.join(folder, f)), (128, 128))
             for f in sorted(os.listdir(folder))[:12]]
    grid = np.vstack([np.hstack(faces[r * 4:(r + 1) * 4]) for r in range(3)])
    detector = FaceDetector(DetectorConfig())
    boxes = [d.box for d in detector.detect(grid)]
    assert len(boxes) >= 6
    keys = [(y, x) for x, y, w, h in boxes]
    assert keys == sorted(keys)
    assert all([d.box for d in detector.detect(grid)] == boxes for _ in range(3))


def test_scale_step_can_be_coarser_for_one_call(frames):
    det = FaceDetector(DetectorConfig())
    sample = frames[::25]
    fine = [det.detect(f.image) for f in sample]
    coarse = [det.detect(f.image, scale_factor=1.3) for f in sample]
    assert sum(map(len, coarse)) >= 1
    # Same faces, fewer scales: every coarse box is one of the fine scan's faces.
    for a, b in zip(fine, coarse):
        for d in b:
            assert any(box_iou(d.box, e.box) > 0.5 for e in a)
    # The override is per call: the config's step is untouched.
    assert [len(x) for x in fine] == [len(det.detect(f.image)) for f in sample]
    with pytest.raises(ReactionError, match="scale factor"):
        det.detect(sample[0].image, scale_factor=1.0)


def test_detector_regions_and_size_band(frames):
    det = FaceDetector(DetectorConfig())
    found = total = 0
    for frame in frames[::4]:
        for d in det.detect(frame.image):
            total += 1
            x, y, w, h = d.box
            # The pipeline's geometry: a region 1.8x the face, a band of 0.8 to 1.3x its size.
            region = (x - 0.4 * w, y - 0.4 * h, 1.8 * w, 1.8 * h)
            again = det.detect(frame.image, regions=[region], size_band=(0.8 * w, 1.3 * w))
            found += any(box_iou(a.box, d.box) > 0.5 for a in again)
            assert all(box_iou(a.box, region) > 0 for a in again)  # nothing outside the region
    assert total >= 20 and found >= 0.85 * total  # re-detection finds the viewer again nearly always
    assert det.detect(frame.image, regions=[(0, 0, 10, 10)]) == []
    assert det.detect(frame.image, size_band=(3 * w, 4 * w)) == [] or all(
        d.box[2] >= 2.5 * w for d in det.detect(frame.image, size_band=(3 * w, 4 * w))
    )


def test_region_boxes_match_full_scan_boxes_in_size(frames):
    # The smile net was trained on full-scan boxes, so a viewer re-found in
    # its region must get a box of the same size. Faces of the sample clip's
    # audience, blown up 3x so that regions are shrunk before the cascade.
    with pytest.raises(ReactionError, match="region_face_px"):
        DetectorConfig(region_face_px=12).validate()
    big = [cv2.resize(f.image, None, fx=3, fy=3) for f in frames[211::4]]
    full = FaceDetector(DetectorConfig(detect_width=1280))
    scans = [(im, full.detect(im, size_band=(0.04 * im.shape[0], None))) for im in big]

    def size_ratios(region_face_px):
        det = FaceDetector(DetectorConfig(region_face_px=region_face_px))
        ratios = []
        for im, found in scans:
            for d in found:
                x, y, w, h = d.box
                again = det.detect(im, regions=[(x - 0.4 * w, y - 0.4 * w, 1.8 * w, 1.8 * w)],
                                   size_band=(0.8 * w, 1.3 * w))
                ratios += [a.box[2] / w for a in again if box_iou(a.box, d.box) > 0.5]
        return np.array(ratios)

    default, small = size_ratios(DetectorConfig().region_face_px), size_ratios(30)
    assert len(default) >= 8 and abs(default.mean() - 1.0) < 0.03
    assert small.mean() > default.mean() + 0.03  # shrunk further, the boxes come out larger


def test_detector_accepts_grey_and_bgra(frames):
    det = FaceDetector()
    image = next(f.image for f in frames if det.detect(f.image))
    bgr = det.detect(image)
    grey = det.detect(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    bgra = det.detect(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA))
    assert [d.box for d in grey] == [d.box for d in bgr] == [d.box for d in bgra]


def test_detector_rejects_bad_frames_and_options():
    det = FaceDetector()
    with pytest.raises(ReactionError, match="shape"):
        det.detect(np.zeros((0, 0), np.uint8))
    with pytest.raises(ReactionError, match="DetectorConfig: scale_factor"):
        FaceDetector(DetectorConfig(scale_factor=1.0))
    with pytest.raises(ReactionError, match="cascade"):
        FaceDetector(DetectorConfig(cascade="no-such-cascade.xml"))


def test_yunet_finds_the_faces_haar_finds_in_haar_geometry(frames):
    haar, yunet = FaceDetector(DetectorConfig()), make_detector(DetectorConfig(kind="yunet"))
    pairs = 0
    for f in frames[::25]:
        found = yunet.detect(f.image)
        for d in haar.detect(f.image):
            same = [y for y in found if box_iou(d.box, y.box) > 0.5]
            pairs += len(same)
            # Square, about Haar's size: the smile net sees the crop it was trained on.
            assert all(0.8 < y.box[2] / d.box[2] < 1.25 and y.box[2] == y.box[3] for y in same)
    assert pairs >= 8


def test_yunet_in_regions_and_size_band(frames):
    yunet = make_detector(DetectorConfig(kind="yunet"))
    for f in frames[100:200:20]:
        for d in yunet.detect(f.image):
            x, y, w, h = d.box
            region = (x - 0.4 * w, y - 0.4 * h, 1.8 * w, 1.8 * h)
            again = yunet.detect(f.image, regions=[region])
            assert any(box_iou(a.box, d.box) > 0.7 for a in again)
            assert not yunet.detect(f.image, regions=[region], size_band=(3 * w, None))


def test_detectors_are_looked_up_by_name():
    assert isinstance(make_detector(DetectorConfig()), FaceDetector)
    with pytest.raises(ReactionError, match="DetectorConfig: kind must be one of haar, yunet"):
        make_detector(DetectorConfig(kind="dlib"))
