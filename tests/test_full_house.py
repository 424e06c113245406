"""The full-house levers: smile scores at a fixed rate, the smile stage on a
second thread, and still viewers found again without a detector run; on real
frames of the sample clip with the shipped smile-net."""
import numpy as np
import pytest

from helpers import SAMPLE_CLIP
from reaction import ListSink, ReactionPipeline, VideoSource, profile_config
from reaction.smile import SmileNet, SmileRate
from reaction.stillness import StillViewers
from reaction.types import Frame, Track, TrackState


@pytest.fixture(scope="module")
def clip():
    return list(VideoSource(SAMPLE_CLIP))


@pytest.fixture(scope="module")
def net():
    return SmileNet.load()


class CountingNet:
    def __init__(self, net):
        self.net, self.boxes = net, []

    def predict(self, image, boxes, landmarks=None):
        self.boxes.append(len(boxes))
        return self.net.predict(image, boxes, landmarks)


def audience(n, side=40):
    return [Track(viewer_id=i + 1, box=(10 + 45 * (i % 12), 10 + 45 * (i // 12), side, side),
                  state=TrackState.CONFIRMED, hits=5) for i in range(n)]


def test_each_viewer_is_scored_at_the_rate_and_frames_cost_the_same(clip, net):
    counting = CountingNet(net)
    rate = SmileRate(counting, hz=10.0)
    viewers = audience(24)
    held = []
    image = clip[0].image
    for k in range(50):  # 2 s at 25 fps
        p = rate.scores(image, viewers, k / 25.0)
        assert set(p) == {v.viewer_id for v in viewers}
        held.append(p)
    # The first frame scores everyone; then each viewer about 10 times a second.
    assert counting.boxes[0] == 24
    per_frame = counting.boxes[1:]
    assert sum(per_frame) == pytest.approx(24 * 10 * 49 / 25.0, rel=0.1)
    # Staggered: with 24 viewers at 10 of 25 frames a second, every frame scores 9 or 10 of them.
    assert max(per_frame) - min(per_frame) <= 3
    # Between its scores a viewer keeps the last one (the image is the same: so are the scores).
    assert all(abs(h[1] - held[0][1]) < 1e-6 for h in held)


def test_rate_zero_scores_everyone_on_every_frame(clip, net):
    counting = CountingNet(net)
    rate = SmileRate(counting, hz=0.0)
    for k in range(5):
        rate.scores(clip[k].image, audience(7), k / 25.0)
    assert counting.boxes == [7] * 5


def test_which_viewers_are_scored_depends_only_on_frame_times(clip, net):
    runs = []
    for _ in range(2):
        counting = CountingNet(net)
        rate = SmileRate(counting, hz=10.0)
        for k in range(30):
            rate.scores(clip[k].image, audience(5 + k // 6), k / 25.0)
        runs.append(counting.boxes)
    assert runs[0] == runs[1]


def summary(results):
    return [(r.index, [(t.viewer_id, t.box, t.state) for t in r.tracks], r.p_smile, r.smiling) for r in results]


@pytest.mark.parametrize("smile_hz", [0.0, 10.0])
def test_the_smile_worker_changes_nothing_but_the_speed(clip, smile_hz):
    outs = []
    for worker in (False, True):
        sink = ListSink()
        pipe = ReactionPipeline(profile_config("balanced", smile_worker=worker, smile_hz=smile_hz), sinks=[sink])
        results = list(pipe.run(clip))
        pipe.close()
        outs.append((summary(results), sink.events, pipe.events))
    assert outs[0][0] == outs[1][0]
    assert outs[0][1] == outs[1][1] == outs[0][2] == outs[1][2]
    assert len(outs[0][0]) == len(clip)


def test_a_frozen_picture_needs_no_region_search_and_a_changed_one_does(clip):
    # The same frame over and over: after the first detections, still viewers are found without a detector run.
    frozen = [Frame(k, k / 25.0, clip[40].image) for k in range(40)]
    moving = [Frame(k, k / 25.0, np.roll(clip[40].image, (k % 7) * 3, axis=1)) for k in range(40)]
    regions = {}
    for name, frames in (("frozen", frozen), ("moving", moving)):
        pipe = ReactionPipeline(profile_config("balanced", still_threshold=0.3, full_scan_every=100))
        calls = [0]
        real = pipe.detector.detect

        def detect(image, regions=None, **kw):
            calls[0] += regions is not None
            return real(image, regions=regions, **kw)

        pipe.detector.detect = detect
        results = list(pipe.run(frames))
        assert any(r.p_smile for r in results[5:])
        regions[name] = calls[0]
    assert regions["frozen"] <= 5  # the tentative frames before a viewer is confirmed
    assert regions["moving"] >= 20


def test_a_still_viewer_is_detected_again_after_max_age(clip):
    from reaction.detector import DetectorConfig, make_detector
    from reaction.types import Detection

    image = clip[40].image
    face = make_detector(DetectorConfig(kind="yunet")).detect(image)[0].box
    still = StillViewers(threshold=0.3, max_age_s=1.0)
    track = Track(1, face, TrackState.CONFIRMED, 5, detection=0)
    still.remember(image, [Detection(face)], [track], [1], t=0.0)
    assert still.box(image, track, 0.5) == face
    assert still.box(image, track, 1.5) is None  # too long since a real detection
    shift = int(face[2] / 4)
    assert still.box(np.roll(image, shift, axis=1), track, 0.5) is None  # the face there moved
    still.remember(image, [], [], [], t=0.6)  # the viewer is gone from the tracker
    assert still.box(image, track, 0.7) is None


def test_sinks_get_the_events_on_the_callers_thread(clip):
    # An IoT spool is an SQLite connection, which must stay on the thread that opened it.
    import threading

    class ThreadSink(ListSink):
        threads = set()

        def emit(self, event):
            self.threads.add(threading.current_thread())
            super().emit(event)

    sink = ThreadSink()
    pipe = ReactionPipeline(profile_config("balanced", smile_worker=True), sinks=[sink])
    list(pipe.run(clip))
    assert sink.events and sink.threads == {threading.current_thread()}
