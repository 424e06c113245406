"""Stream URLs (checks, masking) and a stream gap in the pipeline, on the real sample clip's frames."""
import pytest

from reaction import profile_config
from reaction.pipeline import ReactionPipeline
from reaction.sinks import ListSink
from reaction.sources import open_source
from reaction.streams import check_url, looks_like_url, mask_url
from reaction.types import Frame, ReactionError


@pytest.mark.parametrize(
    "text, shown",
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/stream1", "rtsp://admin:***@10.0.0.5:554/stream1"),
        ("http://u:p%40ss@cam/mjpg", "http://u:***@cam/mjpg"),
        ("rtsp://10.0.0.5/stream1", "rtsp://10.0.0.5/stream1"),
        ("rtsp://only-user@cam/s", "rtsp://only-user@cam/s"),
        ("cam1 rtsp://a:b@h/x and http://c:d@i/y", "cam1 rtsp://a:***@h/x and http://c:***@i/y"),
        ("rtsp://a:@h/x", "rtsp://a:***@h/x"),
    ],
)
def test_mask_url_hides_every_password(text, shown):
    assert mask_url(text) == shown


@pytest.mark.parametrize(
    "url, problem",
    [
        ("rtsp://a:secret@h:70000/x", "malformed URL"),
        ("rtsp://a:secret@h:port/x", "malformed URL"),
        ("rtsp:///x", "malformed URL"),
        ("rtmp://a:secret@h/x", "unsupported scheme"),
        ("file:///tmp/a.mp4", "unsupported scheme"),
    ],
)
def test_bad_urls_are_named_without_their_password(url, problem):
    with pytest.raises(ReactionError, match=problem) as e:
        check_url(url)
    assert "secret" not in str(e.value)
    with pytest.raises(ReactionError, match=problem):
        open_source(url)  # a URL is never taken for a file name


def test_what_counts_as_a_url():
    assert looks_like_url("RTSP://h/x") and looks_like_url("https://h/x")
    assert not looks_like_url("clip.mp4") and not looks_like_url("0") and not looks_like_url(0)
    assert check_url("rtsps://cam.local/live") == "rtsps://cam.local/live"


def run_with_gap(frames, cut_at, resume_at, gap_s):
    """Frames up to ``cut_at``, then from ``resume_at`` on, ``gap_s`` seconds later, as a stream after a drop."""
    sink = ListSink()
    pipeline = ReactionPipeline(profile_config("balanced"), sinks=[sink])
    stream = [Frame(f.index, f.time_s, f.image) for f in frames[:cut_at]]
    shift = frames[cut_at - 1].time_s + gap_s - frames[resume_at].time_s
    stream += [
        Frame(f.index, f.time_s + shift, f.image, gap_s if f.index == resume_at else 0.0) for f in frames[resume_at:]
    ]
    ids = {}
    for result in pipeline.run(stream):
        ids[result.index] = {tr.viewer_id for tr in result.tracks if tr.confirmed}
    pipeline.close()
    before = set().union(*(ids[i] for i in range(cut_at - 15, cut_at)))
    after = set().union(*(ids[i] for i in range(resume_at, resume_at + 15)))
    gap_from = frames[cut_at - 1].time_s
    return before, after, sink.events, gap_from, gap_from + gap_s


def test_a_short_stream_gap_keeps_the_viewers_even_one_who_moves(sample_frames):
    # Frames 100-150: one viewer walking, whom the tracker would forget as a passer-by if the
    # gap were time in which it had not been seen (it got a new id before the bridge).
    before, after, events, gap_from, gap_to = run_with_gap(sample_frames[:200], 151, 151, 2.0)
    assert before and after == before
    # Laughs end where the stream went: none spans the gap.
    assert not [e for e in events if e.start_s <= gap_from and e.end_s >= gap_to]


def test_a_stream_gap_longer_than_max_lost_starts_afresh(sample_frames):
    before, after, _, _, _ = run_with_gap(sample_frames[:200], 151, 151, 20.0)  # max_lost_s is 15
    assert before and after and min(after) > max(before)
