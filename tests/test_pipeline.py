"""ReactionPipeline on real frames of the sample clip, with the shipped smile-net."""
import numpy as np
import pytest

from helpers import SAMPLE_CLIP
from reaction import ListSink, ReactionPipeline, VideoSource, profile_config
from reaction.pipeline import PipelineConfig
from reaction.types import Frame, ReactionError, TrackState


@pytest.fixture(scope="module")
def clip():
    return list(VideoSource(SAMPLE_CLIP))


def run(frames, config, threaded):
    sink = ListSink()
    pipe = ReactionPipeline(PipelineConfig(**{**config.__dict__, "threaded": threaded}), sinks=[sink])
    results = list(pipe.run(frames))
    pipe.close()
    return pipe, results, sink


def summary(results):
    return [(r.index, [(t.viewer_id, t.box, t.state) for t in r.tracks], r.p_smile) for r in results]


@pytest.mark.parametrize("profile", ["balanced", "fast"])
def test_threaded_run_equals_frame_by_frame_processing(clip, profile):
    config = profile_config(profile)
    pipe_a, a, sink_a = run(clip[:120], config, threaded=True)
    pipe_b, b, sink_b = run(clip[:120], config, threaded=False)
    assert summary(a) == summary(b)
    assert sink_a.events == sink_b.events == pipe_a.events


def test_pipeline_tracks_viewers_and_scores_smiles(clip):
    pipe, results, sink = run(clip, profile_config("balanced"), threaded=True)
    assert [r.index for r in results] == list(range(275))
    viewers = {vid for r in results for vid in r.p_smile}
    assert 1 <= len(viewers) <= 12  # 0 to 3 faces per frame, a few scene cuts
    probs = np.array([p for r in results for p in r.p_smile.values()])
    assert probs.size > 150 and (probs >= 0).all() and (probs <= 1).all()
    assert probs.std() > 0.01  # the net responds to its input
    for r in results:
        ids = [t.viewer_id for t in r.tracks]
        assert len(ids) == len(set(ids))
    # Every event the sink got lies within its viewer's visible frames.
    seen = {}
    for r in results:
        for vid in r.p_smile:
            seen.setdefault(vid, []).append(r.time_s)
    for ev in sink.events:
        assert min(seen[ev.viewer_id]) <= ev.start_s < ev.end_s <= max(seen[ev.viewer_id])
    assert sum(pipe.timings.values()) > 0


def test_a_bad_frame_is_skipped_and_counted(clip):
    frames = clip[:30]
    frames = frames[:10] + [Frame(10, frames[10].time_s, np.zeros((5, 5, 2), np.uint8))] + frames[11:]
    pipe, results, _ = run(frames, profile_config("balanced"), threaded=True)
    assert pipe.bad_frames == 1
    assert [r.index for r in results] == [i for i in range(30) if i != 10]


def test_grey_and_bgra_frames_are_handled(clip):
    import cv2

    frames = [Frame(f.index, f.time_s, cv2.cvtColor(f.image, cv2.COLOR_BGR2GRAY if f.index % 2 else cv2.COLOR_BGR2BGRA))
              for f in clip[:20]]
    pipe, results, _ = run(frames, profile_config("balanced"), threaded=True)
    assert len(results) == 20 and pipe.bad_frames == 0


def test_scale_steps_apply_to_full_scans_and_regions_separately(clip, monkeypatch):
    for field in ("scan_scale_factor", "region_scale_factor"):
        with pytest.raises(ReactionError, match=field):
            PipelineConfig(**{field: 1.0}).validate()
    pipe = ReactionPipeline(profile_config("balanced", scan_scale_factor=1.25, region_scale_factor=1.15,
                                           full_scan_every=5, periodic_scan=None))
    steps = []
    real = pipe.detector.detect
    monkeypatch.setattr(pipe.detector, "detect",
                        lambda image, regions=None, size_band=None, scale_factor=None, min_neighbors=None:
                        steps.append((regions is None, scale_factor)) or real(image, regions, size_band, scale_factor))
    list(pipe.run(clip[:20]))
    assert (True, 1.25) in steps and (False, 1.15) in steps
    assert all(step == (1.25 if full else 1.15) for full, step in steps)


def scanned_frames(frames, **overrides):
    """(index, reason) of the frames that got a full-frame scan."""
    pipe = ReactionPipeline(profile_config("balanced", **overrides))
    scanned, real = [], pipe._scan
    pipe._scan = lambda image, reason: scanned.append((pipe.frames, reason)) or real(image, reason)
    list(pipe.run(frames))
    return scanned


def test_a_shot_change_gets_a_full_scan_at_once(clip):
    # The sample clip cuts from the stage to a close-up at frame 20, back at 82,
    # and to the audience at 211; nothing else in it moves that much at once.
    assert scanned_frames(clip, full_scan_every=1000) == [(0, "first"), (20, "cut"), (82, "cut"), (211, "cut")]
    assert [i for i, _ in scanned_frames(clip, full_scan_every=100)] == [0, 20, 82, 182, 211]
    assert scanned_frames(clip, full_scan_every=100, cut_threshold=0) == [
        (0, "first"), (100, "periodic"), (200, "periodic")]
    # A change of frame shape (a new source) counts as a cut too.
    cropped = [Frame(f.index, f.time_s, f.image[:200].copy()) for f in clip[5:10]]
    assert scanned_frames(clip[:5] + cropped, full_scan_every=1000) == [(0, "first"), (5, "cut")]
    with pytest.raises(ReactionError, match="cut_threshold"):
        PipelineConfig(cut_threshold=-1).validate()


def test_a_cut_forgets_the_viewers_before_it(clip):
    pipe = ReactionPipeline(profile_config("balanced"))
    ids = {r.index: {t.viewer_id for t in r.tracks if t.confirmed} for r in pipe.run(clip)}
    for start, cut, end in ((0, 20, 82), (20, 82, 211), (82, 211, 275)):
        before = set().union(*(ids[i] for i in range(start, cut)))
        after = set().union(*(ids[i] for i in range(cut, end)))
        assert after and not before & after, (cut, before, after)


def test_the_room_getting_darker_or_brighter_is_no_cut(clip):
    # The audience is lit by the film: its brightness and contrast follow the screen.
    shot = clip[83:200]
    dimmed = [f if f.index < 120 else Frame(f.index, f.time_s, (f.image * 0.5 + 20).astype(np.uint8)) for f in shot]
    assert scanned_frames(dimmed, full_scan_every=1000) == [(0, "first")]


def test_periodic_scans_use_their_own_step_and_neighbours(clip, monkeypatch):
    with pytest.raises(ReactionError, match="periodic_scan"):
        PipelineConfig(periodic_scan=(1.0, 2)).validate()
    pipe = ReactionPipeline(profile_config("balanced", full_scan_every=30, periodic_scan=(1.3, 1)))
    scans = []
    real = pipe.detector.detect

    def detect(image, regions=None, size_band=None, scale_factor=None, min_neighbors=None):
        if regions is None:
            scans.append((pipe.frames, scale_factor, min_neighbors))
        return real(image, regions, size_band, scale_factor, min_neighbors)

    monkeypatch.setattr(pipe.detector, "detect", detect)
    list(pipe.run(clip[:100]))
    # First frame and the cuts at 20 and 82 keep the detector's settings; the
    # every-30th scans, counted from the last scan, take the periodic ones.
    assert scans == [(0, None, None), (20, None, None), (50, 1.3, 1), (80, 1.3, 1), (82, None, None)]


def test_regions_look_for_faces_in_the_configured_band(clip, monkeypatch):
    with pytest.raises(ReactionError, match="region_band"):
        PipelineConfig(region_band=(1.3, 0.8)).validate()
    pipe = ReactionPipeline(profile_config("balanced", region_band=(0.6, 1.7)))
    ratios = []
    real = pipe.detector.detect

    def detect(image, regions=None, size_band=None, scale_factor=None, min_neighbors=None):
        if regions is not None:
            side = regions[0][2] / pipe.config.region_scale
            # The detector's own smallest face still applies to small viewers.
            lo = max(0.6, pipe.config.detector.min_size / side)
            ratios.append((round(size_band[0] / side / lo, 6), round(size_band[1] / side, 6)))
        return real(image, regions, size_band, scale_factor, min_neighbors)

    monkeypatch.setattr(pipe.detector, "detect", detect)
    list(pipe.run(clip[:40]))
    assert ratios and set(ratios) == {(1.0, 1.7)}


@pytest.mark.parametrize("every, share", [(1, 1.0), (2, 0.5), (3, 1 / 3)])
def test_each_viewer_is_re_detected_every_kth_frame(clip, monkeypatch, every, share):
    pipe = ReactionPipeline(profile_config("balanced", region_every=every, regions_per_frame=0, full_scan_every=25))
    calls = []
    real_detect, real_redetect = pipe.detector.detect, pipe._redetect

    def detect(image, regions=None, size_band=None, scale_factor=None, min_neighbors=None):
        calls.append(regions is not None)
        return real_detect(image, regions, size_band, scale_factor, min_neighbors)

    looked, owed = [0], [0]

    def redetect(image, now):
        live = [t for t in pipe.tracker.tracks if t.state is not TrackState.LOST]
        before = len(calls)
        out = real_redetect(image, now)
        looked[0] += len(calls) - before - sum(t.state is TrackState.TENTATIVE for t in live)
        owed[0] += sum(t.state is TrackState.CONFIRMED for t in live)
        return out

    monkeypatch.setattr(pipe.detector, "detect", detect)
    monkeypatch.setattr(pipe, "_redetect", redetect)
    list(pipe.run(clip[:100]))
    assert owed[0] > 50  # confirmed viewers were there to look at
    assert looked[0] / owed[0] == pytest.approx(share, abs=0.05)
