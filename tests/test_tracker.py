"""Tracker: unit tests and Hypothesis properties, each of which fails for a wrong tracker."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from reaction.tracker import TrackerConfig, ViewerTracker
from reaction.types import TrackState
from reaction.types import Detection, ReactionError

FPS = 25.0


def det(x, y, w=60.0, h=60.0):
    return Detection(box=(float(x), float(y), float(w), float(h)))


def confirmed_ids(tracks):
    return [t.viewer_id for t in tracks if t.state is TrackState.CONFIRMED]


boxes = st.tuples(
    st.floats(0, 1200), st.floats(0, 650), st.floats(20, 120)
).map(lambda t: det(t[0], t[1], t[2], t[2]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(boxes, max_size=12), min_size=1, max_size=30))
def test_ids_unique_within_a_frame_and_detections_feed_one_track(frames):
    tracker = ViewerTracker()
    for i, dets in enumerate(frames):
        tracks = tracker.update(dets, i / FPS)
        ids = [t.viewer_id for t in tracks]
        assert len(ids) == len(set(ids))
        fed = [t.detection for t in tracks if t.detection is not None]
        assert len(fed) == len(set(fed))
        assert all(0 <= d < len(dets) for d in fed)
        # The exposed mapping agrees with the tracks and covers every detection once.
        assert sorted(tracker.assignment) == list(range(len(dets)))
        assert len(set(tracker.assignment.values())) == len(dets)
        by_id = {t.viewer_id: t.detection for t in tracks}
        for d, vid in tracker.assignment.items():
            assert by_id[vid] == d


@settings(max_examples=8, deadline=None)
@given(st.floats(50, 1100), st.floats(50, 600), st.floats(24, 150), st.integers(0, 2**31 - 1))
def test_static_face_keeps_one_id_over_1000_frames(x, y, size, seed):
    rng = np.random.default_rng(seed)
    tracker = ViewerTracker()
    seen = set()
    for i in range(1000):
        jitter = rng.normal(0, 0.03 * size, 3)  # Haar boxes wobble by a few per cent
        tracks = tracker.update([det(x + jitter[0], y + jitter[1], size + jitter[2], size + jitter[2])], i / FPS)
        seen.update(confirmed_ids(tracks))
    assert len(seen) == 1


@settings(max_examples=15, deadline=None)
@given(st.floats(50, 1100), st.floats(50, 600), st.floats(24, 150), st.floats(0.04, 14.5))
def test_face_missing_less_than_lost_limit_comes_back_with_old_id(x, y, size, gap_s):
    config = TrackerConfig(max_lost_s=15.0)
    tracker = ViewerTracker(config)
    t = 0.0
    for _ in range(10):
        tracks = tracker.update([det(x, y, size, size)], t)
        t += 1 / FPS
    (before,) = confirmed_ids(tracks)
    end = t + gap_s
    while t < end:
        tracker.update([], t)
        t += 1 / FPS
    tracks = tracker.update([det(x + 0.05 * size, y, size, size)], t)
    assert confirmed_ids(tracks) == [before]


def test_face_missing_longer_than_lost_limit_gets_a_new_id():
    tracker = ViewerTracker(TrackerConfig(max_lost_s=1.0))
    for i in range(10):
        tracks = tracker.update([det(100, 100)], i / FPS)
    (before,) = confirmed_ids(tracks)
    tracker.update([], 2.0)
    for i in range(5):
        tracks = tracker.update([det(100, 100)], 2.1 + i / FPS)
    assert confirmed_ids(tracks) and confirmed_ids(tracks) != [before]


@settings(max_examples=20, deadline=None)
@given(
    st.floats(40, 120),  # face size
    st.floats(0.02, 0.25),  # speed, face widths per frame
    st.floats(-0.3, 0.3),  # vertical offset between the two, face heights
)
def test_two_faces_crossing_at_constant_velocity_keep_their_ids(size, speed, offset):
    tracker = ViewerTracker()
    v = speed * size
    start_gap = 12 * size
    frames = int(2 * start_gap / v) + 20
    a0, b0, y = 100.0, 100.0 + start_gap, 300.0
    ids_a, ids_b = set(), set()
    for i in range(frames):
        xa, xb = a0 + v * i, b0 - v * i
        tracks = tracker.update([det(xa, y, size, size), det(xb, y + offset * size, size, size)], i / FPS)
        if abs(xa - xb) < size:
            continue  # while the faces overlap, "which is which" is not defined
        for t in tracks:
            if t.state is not TrackState.CONFIRMED:
                continue
            cx = t.box[0] + t.box[2] / 2
            # Attribute the track to the face whose true centre it is nearer.
            (ids_a if abs(cx - (xa + size / 2)) < abs(cx - (xb + size / 2)) else ids_b).add(t.viewer_id)
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


@settings(max_examples=40, deadline=None)
@given(
    st.floats(30, 120),  # face size
    st.floats(1.0, 3.0),  # centre distance between the two when A's face vanishes, face widths
    st.floats(0.5, 8.0),  # A's speed towards B, face widths per second
    st.floats(-0.4, 0.4),  # A's vertical offset from B, face heights
    st.integers(0, 2**31 - 1),
)
def test_a_coasting_track_never_takes_the_face_of_another_live_viewer(size, gap, speed, offset, seed):
    # A walks towards a seated viewer B; A's face vanishes and A's box coasts on, over B and past.
    rng = np.random.default_rng(seed)
    tracker = ViewerTracker()
    bx, by = 600.0, 300.0
    warm = int(1.0 * FPS)  # both faces detected for a second: B is a confirmed, live viewer
    ax0 = bx - (gap + speed * warm / FPS) * size
    for i in range(warm + int(3.0 * FPS)):
        jb = rng.normal(0, 0.03 * size, 3)
        b_face = det(bx + jb[0], by + jb[1], size + jb[2], size + jb[2])
        if i < warm:
            ja = rng.normal(0, 0.03 * size, 3)
            a_face = det(ax0 + speed * size * i / FPS + ja[0], by + offset * size + ja[1], size + ja[2], size + ja[2])
            tracker.update([a_face, b_face], i / FPS)
            if i == warm - 1:
                id_a, id_b = tracker.assignment[0], tracker.assignment[1]
                assert id_a != id_b
                assert set(confirmed_ids(tracker.tracks)) == {id_a, id_b}
        else:
            tracker.update([b_face], i / FPS)
            assert tracker.assignment[0] == id_b, "frame {}: B's face went to viewer {}".format(i, tracker.assignment)


@settings(max_examples=25, deadline=None)
@given(
    st.floats(50, 1100),
    st.floats(50, 600),
    st.floats(24, 150),  # face size
    st.floats(0.0, 0.1),  # sway amplitude, face widths
    st.floats(0.1, 0.5),  # sway frequency, Hz
    st.sampled_from([10.0, 15.0, 25.0, 30.0]),  # detection passes per second
    st.integers(0, 2**31 - 1),
)
def test_a_seated_viewer_whose_face_is_gone_for_two_seconds_comes_back_with_the_same_id(
    x, y, size, sway, hz, fps, seed
):
    rng = np.random.default_rng(seed)
    tracker = ViewerTracker()

    def face(t):
        jitter = rng.normal(0, 0.03 * size, 3)  # Haar boxes wobble by a few per cent
        dx = sway * size * np.sin(2 * np.pi * hz * t)
        return det(x + dx + jitter[0], y + jitter[1], size + jitter[2], size + jitter[2])

    n = int(round(2.0 * fps))
    for i in range(n):  # seen for 2 s
        tracks = tracker.update([face(i / fps)], i / fps)
    (before,) = confirmed_ids(tracks)
    for i in range(n, 2 * n):  # gone for 2 s: detection runs, finds nothing
        assert confirmed_ids(tracker.update([], i / fps)) in ([], [before])
    tracks = tracker.update([face(2 * n / fps)], 2 * n / fps)
    assert confirmed_ids(tracks) == [before]


def test_ids_are_per_instance_not_global():
    first, second = ViewerTracker(TrackerConfig(min_hits=1)), ViewerTracker(TrackerConfig(min_hits=1))
    a = first.update([det(10, 10)], 0.0)
    b = second.update([det(10, 10)], 0.0)
    assert a[0].viewer_id == b[0].viewer_id == 1


def test_lifecycle_tentative_confirmed_lost_deleted():
    tracker = ViewerTracker(TrackerConfig(min_hits=3, coast_s=0.2, max_lost_s=1.0))
    states = [tracker.update([det(100, 100)], i / FPS)[0].state for i in range(3)]
    assert states == [TrackState.TENTATIVE, TrackState.TENTATIVE, TrackState.CONFIRMED]
    # Within coast time the track reports its predicted box.
    assert tracker.update([], 3 / FPS)[0].state is TrackState.CONFIRMED
    assert tracker.update([], 0.5) == []  # past coast_s: lost, not reported
    assert [t.state for t in tracker.tracks] == [TrackState.LOST]
    tracker.update([], 2.0)
    assert tracker.tracks == []  # past max_lost_s: deleted


def test_a_single_spurious_detection_never_becomes_a_viewer():
    tracker = ViewerTracker()
    tracker.update([det(500, 300)], 0.0)
    for i in range(1, 20):
        assert confirmed_ids(tracker.update([], i / FPS)) == []
    assert tracker.tracks == []


def test_predict_moves_boxes_without_penalising_tentative_tracks():
    tracker = ViewerTracker()
    for i in range(5):
        tracker.update([det(100 + 4 * i, 100)], i / FPS)
    x_before = tracker.tracks[0].box[0]
    tracks = tracker.predict(5 / FPS)
    assert tracks[0].box[0] > x_before  # moving right, as the detections did


def test_time_going_backwards_is_an_error():
    tracker = ViewerTracker()
    tracker.update([], 1.0)
    with pytest.raises(ReactionError, match="backwards"):
        tracker.update([], 0.5)


def test_bad_config_names_the_field():
    with pytest.raises(ReactionError, match="TrackerConfig: min_iou"):
        ViewerTracker(TrackerConfig(min_iou=1.5))
