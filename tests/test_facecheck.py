"""YuNet's second opinion on real frames: a face counts, a Haar false positive does not."""
from dataclasses import replace

import cv2
import numpy as np
import pytest

from reaction import DetectorConfig, FaceDetector, ListSink, ReactionPipeline, Track, TrackState, profile_config
from reaction.facecheck import FaceCheck, FaceCheckConfig, FaceGate
from reaction.types import ReactionError

FACE = (173.0, 62.0, 75.0, 75.0)  # the performer on frame 50 of the sample clip
HAAR_FALSE_POSITIVE = (18.0, 208.0, 75.0, 75.0)  # where Haar fired on frame 50: dark stage, no face


@pytest.fixture(scope="module")
def check():
    return FaceCheck()


@pytest.fixture(scope="module")
def frame50(sample_frames):
    return sample_frames[50].image


def without_face(image):
    blank = image.copy()
    x, y, w, h = (int(v) for v in FACE)
    blank[max(0, y - h // 2):y + h + h // 2, max(0, x - w // 2):x + w + w // 2] = 90
    return blank


def test_a_face_scores_high_and_a_haar_false_positive_low(check, frame50):
    assert check.score(frame50, FACE) > 0.7
    assert check.score(frame50, HAAR_FALSE_POSITIVE) < 0.3
    assert check.score(without_face(frame50), FACE) < 0.3
    assert check.score(np.full((360, 640, 3), 128, np.uint8), FACE) == 0.0


def test_a_box_at_the_frame_edge_is_cropped_with_black(check, frame50):
    crop = check.crop(frame50, (-30.0, -30.0, 60.0, 60.0))
    assert crop.shape == (96, 96, 3) and crop[0, 0].tolist() == [0, 0, 0]
    assert check.score(frame50, (600.0, 330.0, 80.0, 80.0)) >= 0.0  # partly outside: no error


def test_bad_settings_name_the_field(tmp_path):
    with pytest.raises(ReactionError, match="FaceCheckConfig: threshold"):
        FaceCheck(FaceCheckConfig(threshold=1.5))
    with pytest.raises(ReactionError, match="not found"):
        FaceCheck(FaceCheckConfig(model=str(tmp_path / "none.onnx")))


def track(box, viewer_id=1):
    return Track(viewer_id, box, TrackState.CONFIRMED, 5, detection=0)


def test_the_gate_keeps_a_verdict_per_viewer(check, frame50):
    gate = FaceGate(check, every_s=1.0, misses=2)
    blank = without_face(frame50)
    assert gate.update(blank, [track(FACE, 1)], 0.0) == set()  # new and not a face: not a viewer
    assert gate.update(frame50, [track(FACE, 2)], 0.0) == {2}
    assert gate.update(blank, [track(FACE, 2)], 0.5) == {2} and gate.checks == 2  # not due yet
    assert gate.update(blank, [track(FACE, 2)], 1.0) == {2}  # one miss: someone looking down
    assert gate.update(blank, [track(FACE, 2)], 2.0) == set()  # two in a row: not a face
    assert gate.update(frame50, [track(FACE, 2)], 3.0) == {2}  # a face again
    assert gate.update(frame50, [track(FACE, 1)], 1.0) == {1}  # the first one, once it is a face
    gate.forget({2})
    assert set(gate._verdicts) == {2}


def poster(image, side=70):
    """A drawn face pinned on the wall, bottom right: eyes, nose and mouth that Haar takes for a face."""
    img, cx, cy = image.copy(), 570, 290
    img[cy - 60:cy + 60, cx - 55:cx + 55] = 170
    cv2.ellipse(img, (cx, cy), (side // 2, int(side * 0.62)), 0, 0, 360, (196, 191, 126), -1)
    ey, ex, er = cy - side // 6 - 2, side // 4 + 1, max(3, side // 10)
    cv2.circle(img, (cx - ex, ey), er, (40, 40, 40), -1)
    cv2.circle(img, (cx + ex, ey), er, (40, 40, 40), -1)
    cv2.rectangle(img, (cx - side // 5, cy + side // 4), (cx + side // 5, cy + side // 4 + side // 14), (60, 60, 60), -1)
    cv2.line(img, (cx, ey), (cx, cy + side // 8), (120, 120, 120), 2)
    img[cy - 60:cy + 60, cx - 55:cx + 55] = cv2.GaussianBlur(img[cy - 60:cy + 60, cx - 55:cx + 55], (5, 5), 0)
    return img


def viewers_on_the_poster(frames, face_check):
    sink = ListSink()
    # Haar: YuNet, the default detector, never finds the poster in the first place.
    pipe = ReactionPipeline(profile_config("balanced", kind="haar", face_check=face_check), sinks=[sink])
    on_poster = set()
    for r in pipe.run(frames):
        on_poster |= {t.viewer_id for t in r.tracks if t.confirmed and t.box[0] > 480 and t.box[1] > 200}
    return on_poster, [e for e in sink.events if e.viewer_id in on_poster]


def test_a_face_like_poster_never_becomes_a_viewer(sample_frames, check):
    frames = [replace(f, image=poster(f.image)) for f in sample_frames[:90]]
    haar = FaceDetector(DetectorConfig())
    fired = [d for f in frames[::3] for d in haar.detect(f.image) if d.box[0] > 480 and d.box[1] > 200]
    assert len(fired) > 10 and max(check.score(frames[0].image, d.box) for d in fired) < 0.5
    assert viewers_on_the_poster(frames, face_check=False)[0]  # without the check it is a viewer
    assert viewers_on_the_poster(frames, face_check=True) == (set(), [])
