"""Laugh smoother: unit tests and Hypothesis properties."""
import pytest
from hypothesis import given, settings, strategies as st

from reaction.laughs import LaughSmoother, SmootherConfig
from reaction.types import ReactionError


def run(series, config=SmootherConfig(), fps=25.0):
    """``series``: per viewer, a list of (frame, p) observations."""
    smoother = LaughSmoother(config)
    # Every frame of the stream is processed, as in the pipeline, seen or not.
    frames = range(max(f for obs in series.values() for f, _ in obs) + 2)
    events = []
    last_frame = {}
    by_frame = {v: dict(obs) for v, obs in series.items()}
    for f in frames:
        now = {v: by_frame[v][f] for v in series if f in by_frame[v]}
        events += smoother.update(f / fps, now)
        for v in list(last_frame):
            if v not in now:
                ev = smoother.close_viewer(v)
                events += [ev] if ev else []
                del last_frame[v]
        last_frame.update({v: f for v in now})
    events += smoother.finish()
    return events


def test_a_clear_laugh_is_one_event_with_its_figures():
    series = {7: [(i, 0.9 if 50 <= i < 100 else 0.05) for i in range(200)]}
    (ev,) = run(series)
    assert ev.viewer_id == 7
    assert 2.0 < ev.start_s <= 2.4 and 4.0 <= ev.end_s <= 4.4  # EMA lag, tau 0.3 s
    assert ev.peak == pytest.approx(0.9)
    assert 0.7 < ev.mean <= 0.9
    assert ev.n_frames == round((ev.end_s - ev.start_s) * 25) + 1


def test_hysteresis_keeps_a_wobbly_laugh_as_one_event():
    wobble = [0.9, 0.9, 0.9, 0.45, 0.5, 0.9, 0.9]  # dips above the off threshold
    series = {1: [(i, 0.05) for i in range(20)] + [(20 + i, wobble[i % 7]) for i in range(70)]
              + [(90 + i, 0.0) for i in range(30)]}
    assert len(run(series)) == 1


def test_smoothing_is_frame_rate_independent():
    def laugh(fps):
        n = int(10 * fps)
        return run({1: [(i, 0.95 if 3 * fps <= i < 6 * fps else 0.02) for i in range(n)]},
                   fps=fps)
    (a,), (b,) = laugh(10.0), laugh(30.0)
    # Equal up to one frame of the coarser clock (0.1 s); a per-frame EMA would differ by ~0.6 s.
    assert abs(a.start_s - b.start_s) < 0.15 and abs(a.end_s - b.end_s) < 0.15


def test_short_blips_are_not_laughs():
    series = {1: [(i, 0.99 if i in (10, 11) else 0.0) for i in range(50)]}
    assert run(series) == []


def test_lost_viewer_closes_open_laugh_at_last_frame():
    series = {3: [(i, 0.95) for i in range(40)], 4: [(i, 0.0) for i in range(80)]}
    (ev,) = run(series)
    assert ev.viewer_id == 3 and ev.end_s == pytest.approx(39 / 25.0)


def test_bad_thresholds_name_the_fields():
    with pytest.raises(ReactionError, match="SmootherConfig: off_threshold must be <= on_threshold"):
        LaughSmoother(SmootherConfig(on_threshold=0.3, off_threshold=0.5))


# A viewer's presence: a few visible spans; P(smile) per frame inside them.
spans = st.lists(st.tuples(st.integers(0, 200), st.integers(1, 100)), min_size=1, max_size=3)
viewer_series = st.tuples(spans, st.lists(st.floats(0, 1), min_size=300, max_size=300))


def build(viewers):
    series = {}
    for vid, (sp, ps) in enumerate(viewers, start=1):
        frames = sorted({f for start, length in sp for f in range(start, start + length)})
        series[vid] = [(f, ps[f]) for f in frames]
    return series


@settings(max_examples=60, deadline=None)
@given(st.lists(viewer_series, min_size=1, max_size=4), st.floats(0.0, 1.0))
def test_events_never_overlap_start_before_end_and_inside_presence(viewers, tau):
    series = build(viewers)
    events = run(series, SmootherConfig(tau_s=tau))
    for ev in events:
        assert ev.start_s < ev.end_s
        present = {f / 25.0 for f, _ in series[ev.viewer_id]}
        assert ev.start_s in present and ev.end_s in present
        # Inside one continuous presence span: every frame between start and end was observed.
        frames = {f for f, _ in series[ev.viewer_id]}
        assert all(f in frames for f in range(round(ev.start_s * 25), round(ev.end_s * 25) + 1))
    by_viewer = {}
    for ev in events:
        by_viewer.setdefault(ev.viewer_id, []).append(ev)
    for evs in by_viewer.values():
        evs.sort(key=lambda e: e.start_s)
        for a, b in zip(evs, evs[1:]):
            assert a.end_s < b.start_s


@settings(max_examples=60, deadline=None)
@given(st.lists(viewer_series, min_size=1, max_size=3), st.floats(0.4, 0.9), st.floats(0.0, 0.1))
def test_raising_the_threshold_never_adds_events(viewers, on, raise_by):
    series = build(viewers)
    low = run(series, SmootherConfig(on_threshold=on, off_threshold=0.4))
    high = run(series, SmootherConfig(on_threshold=min(1.0, on + raise_by), off_threshold=0.4))
    assert len(high) <= len(low)
    for vid in series:
        assert len([e for e in high if e.viewer_id == vid]) <= len([e for e in low if e.viewer_id == vid])


def laugh_with_a_dip(dip_frames):
    """A 2 s laugh, a drop to neutral for ``dip_frames`` frames at 25 fps, then 2 s more."""
    on = list(range(50, 100)) + list(range(100 + dip_frames, 150 + dip_frames))
    return {3: [(i, 0.95 if i in on else 0.02) for i in range(250)]}


def test_a_laugh_that_catches_its_breath_is_one_event():
    series = laugh_with_a_dip(8)  # 0.32 s
    assert len(run(series)) == 2  # without gap_s: two laughs
    (ev,) = run(series, SmootherConfig(gap_s=0.5))
    assert 2.0 < ev.start_s < 2.4 and 6.0 < ev.end_s < 6.6
    # The dip's frames belong to the laugh: every frame from start to end is counted once.
    assert ev.n_frames == round((ev.end_s - ev.start_s) * 25) + 1


def test_a_longer_pause_is_two_laughs_and_each_ends_where_it_was_last_above_off():
    first, second = run(laugh_with_a_dip(40), SmootherConfig(gap_s=0.5))  # 1.6 s apart
    assert first.end_s < 4.4 < second.start_s
    alone, = run({3: [(i, 0.95 if 50 <= i < 100 else 0.02) for i in range(120)]}, SmootherConfig(gap_s=0.5))
    assert alone.end_s == pytest.approx(first.end_s)


def test_a_laugh_open_in_a_dip_at_the_end_closes_where_it_was_last_above():
    series = {3: [(i, 0.95 if 50 <= i < 100 else 0.02) for i in range(105)]}
    (ev,) = run(series, SmootherConfig(gap_s=2.0))
    (plain,) = run(series)
    assert ev.end_s == plain.end_s and ev.n_frames == plain.n_frames
