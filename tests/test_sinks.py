"""Sinks: every event, in order, and closed however a ``with`` block ends."""
import json

import pytest

from reaction import JsonlSink, LaughEvent, ListSink, ReactionPipeline, profile_config

EVENT = LaughEvent(viewer_id=2, start_s=2.4024024024024024, end_s=4.237570904237571, peak=0.9892, mean=0.6817,
                   n_frames=56)


def test_jsonl_sink_writes_each_event_at_once_with_times_to_the_millisecond(tmp_path):
    path = tmp_path / "events.jsonl"
    with JsonlSink(str(path)) as sink:
        sink.emit(EVENT)
        assert json.loads(path.read_text()) == {"viewer_id": 2, "start_s": 2.402, "end_s": 4.238, "peak": 0.9892,
                                                 "mean": 0.6817, "n_frames": 56}  # flushed before close
    assert sink.count == 1 and sink._f is None


def test_a_with_block_closes_the_sink_when_it_raises(tmp_path):
    with pytest.raises(RuntimeError), JsonlSink(str(tmp_path / "events.jsonl")) as sink:
        raise RuntimeError("stop")
    assert sink._f is None


class Counting:
    """Not a subclass of anything: a sink is any object with emit and close."""

    def __init__(self):
        self.seen, self.closed = [], False

    def emit(self, event):
        self.seen.append(event)

    def close(self):
        self.closed = True


def test_any_object_with_emit_and_close_is_a_sink(sample_frames):
    counting, kept = Counting(), ListSink()
    pipeline = ReactionPipeline(profile_config("balanced"), sinks=[counting, kept])
    for _ in pipeline.run(sample_frames):
        pass
    pipeline.close()
    assert counting.closed and counting.seen == kept.events and kept.events
