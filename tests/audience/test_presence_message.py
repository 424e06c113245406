"""The presence message: valid, on its own topic, and its pieces join into the on-screen intervals."""
import jsonschema
import pytest

from reaction.audience.store import presence_intervals
from reaction.iot.presence import PRESENCE_SCHEMA, PresenceTracker, presence_topic
from reaction.iot.schema import MESSAGE_SCHEMA, event_topic


def test_messages_cut_every_period_join_into_the_intervals():
    tracker = PresenceTracker("dev", "scr", film_id="film", period_s=2.0)
    period = 0.1
    messages = []
    for i in range(100):  # 10 s; viewer b leaves between 3.0 and 4.0
        t = i * period
        seen = ["a"] + (["b"] if not 3.0 <= t < 4.0 else [])
        msg = tracker.observe(t, seen)
        if msg:
            messages.append(msg)
    messages.append(tracker.flush())
    assert len(messages) >= 4
    for m in messages:
        jsonschema.validate(m, PRESENCE_SCHEMA)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(m, MESSAGE_SCHEMA)  # a version 1 laugh reader would refuse it: its own topic
    assert [m["from_s"] for m in messages[1:]] == [m["to_s"] for m in messages[:-1]]  # contiguous
    spans = {}
    for m in messages:
        for v in m["viewers"]:
            spans.setdefault(v["viewer_id"], []).extend(tuple(x) for x in v["intervals"])
    a = presence_intervals(spans["a"])
    b = presence_intervals(spans["b"])
    assert a == [(0.0, pytest.approx(10.0))]
    assert b == [(0.0, pytest.approx(3.0)), (pytest.approx(4.0), pytest.approx(10.0))]
    assert len({m["presence_id"] for m in messages}) == len(messages)


def test_presence_goes_next_to_the_laughs_topic():
    assert presence_topic("dev", "scr") == "reaction/dev/scr/presence"
    assert event_topic("dev", "scr") == "reaction/dev/scr/laughs"
