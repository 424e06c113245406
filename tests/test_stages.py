"""Detector, frame sources and preprocessing, on real frames of the sample clip."""
import os
import threading

import cv2
import numpy as np
import pytest

from helpers import DATA, SAMPLE_CLIP
from reaction.boxes import box_iou
from reaction.detector import DetectorConfig, FaceDetector
from reaction.preprocess import InputSpec, as_bgr, crop_faces
from reaction.sources import ImageFolderSource, VideoSource, open_source, prefetch
from reaction.types import ReactionError


def clip_frames(n=None):
    frames = []
    for f in VideoSource(SAMPLE_CLIP):
        frames.append(f)
        if n and len(frames) == n:
            break
    return frames


@pytest.fixture(scope="module")
def frames():
    return clip_frames()


def test_video_source_reads_every_frame_with_container_timestamps(frames):
    assert len(frames) == 275
    assert [f.index for f in frames] == list(range(275))
    times = np.array([f.time_s for f in frames])
    assert times[0] == 0.0
    # 29.97 fps NTSC timing from the container, not an assumed 30 fps.
    assert np.diff(times).mean() == pytest.approx(1001 / 30000, rel=1e-3)
    assert frames[0].image.shape == (360, 640, 3) and frames[0].image.dtype == np.uint8


def test_prefetch_keeps_order_and_frames_of_the_real_decoder(frames):
    got = list(prefetch(VideoSource(SAMPLE_CLIP), depth=3))
    assert [f.index for f in got] == list(range(275))
    assert all(np.array_equal(a.image, b.image) and a.time_s == b.time_s for a, b in zip(got, frames))


def test_prefetch_raises_a_source_error_after_the_frames_before_it(frames):
    def broken():
        yield frames[0]
        yield frames[1]
        raise ReactionError("clip.mp4: decoder gave up")

    got = []
    with pytest.raises(ReactionError, match="decoder gave up"):
        for f in prefetch(broken(), depth=1):
            got.append(f.index)
    assert got == [0, 1]


def test_prefetch_stopped_early_releases_its_worker_and_the_source():
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    before = threading.active_count()
    it = prefetch(endless(), depth=2)
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    it.close()
    # close() returns only after the worker has ended the source.
    assert closed.is_set()
    assert threading.active_count() == before
    with pytest.raises(ReactionError, match="depth"):
        next(prefetch(iter(()), depth=0))


def test_image_folder_source_uses_the_given_rate(tmp_path, frames):
    for i in (0, 1, 2):
        cv2.imwrite(str(tmp_path / "f{:03d}.png".format(i)), frames[i * 10].image)
    (tmp_path / "notes.txt").write_text("not an image")
    src = open_source(str(tmp_path), fps=10.0)
    assert isinstance(src, ImageFolderSource)
    got = list(src)
    assert [f.time_s for f in got] == [0.0, 0.1, 0.2]
    assert np.array_equal(got[1].image, cv2.imread(str(tmp_path / "f001.png")))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "not a video"),
        (lambda p: p.write_bytes(os.urandom(20000)), "not a video"),
    ],
)
def test_bad_videos_are_clear_errors(tmp_path, make, message):
    path = tmp_path / "bad.mp4"
    make(path)
    with pytest.raises(ReactionError, match=message) as err:
        list(VideoSource(str(path)))
    assert str(path) in str(err.value)


def test_truncated_video_is_read_up_to_the_damage(tmp_path):
    data = open(SAMPLE_CLIP, "rb").read()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    try:
        got = list(VideoSource(str(path)))
    except ReactionError as e:  # moov atom at the end: nothing decodable
        assert "cut.mp4" in str(e)
    else:
        assert 0 < len(got) < 275


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


def test_as_bgr_normalises_grey_bgra_and_rejects_the_rest():
    grey = np.full((4, 5), 7, np.uint8)
    assert as_bgr(grey).shape == (4, 5, 3)
    bgra = np.zeros((4, 5, 4), np.uint8)
    assert as_bgr(bgra).shape == (4, 5, 3)
    bgr = np.zeros((4, 5, 3), np.uint8)
    assert as_bgr(bgr) is bgr  # no copy on the hot path
    with pytest.raises(ReactionError, match="shape"):
        as_bgr(np.zeros((4, 5, 2), np.uint8))
    with pytest.raises(ReactionError, match="dtype"):
        as_bgr(np.zeros((4, 5, 3), np.float32))


def test_crop_faces_geometry_and_normalisation():
    spec = InputSpec(width=32, height=32, channels="grey", mean=0.0, scale=1.0, margin=0.0)
    image = np.zeros((100, 100, 3), np.uint8)
    image[20:60, 30:70] = 255  # a white 40x40 square
    batch = crop_faces(image, [(30, 20, 40, 40), (90, 90, 40, 40)], spec)
    assert batch.shape == (2, 1, 32, 32) and batch.dtype == np.float32
    assert batch[0].min() > 250  # the box is exactly the square
    assert batch[1].mean() < 60  # mostly outside the frame: edge pixels replicated, no crash
    rgb = InputSpec(width=8, height=8, channels="rgb", mean=0.0, scale=1.0, margin=0.0)
    red = np.zeros((10, 10, 3), np.uint8)
    red[..., 2] = 200  # red in BGR
    out = crop_faces(red, [(0, 0, 10, 10)], rgb)
    assert out[0, 0].mean() == pytest.approx(200) and out[0, 2].max() == 0


def test_input_spec_round_trip_and_malformed(tmp_path):
    spec = InputSpec(width=40, height=40, channels="bgr", mean=100.0, scale=0.01, margin=0.2)
    path = str(tmp_path / "spec.json")
    spec.save(path)
    assert InputSpec.load(path) == spec
    (tmp_path / "bad.json").write_text("{\"input_size\": 3}")
    with pytest.raises(ReactionError, match="bad.json"):
        InputSpec.load(str(tmp_path / "bad.json"))
