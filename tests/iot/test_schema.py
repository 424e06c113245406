"""The laugh-event message schema and AWS IoT topic rules."""
import datetime
import json
import os
import shutil
import subprocess
import sys

import jsonschema
import pytest
from helpers import ROOT

from reaction.iot.schema import (EVENT_SCHEMA, MESSAGE_SCHEMA, batch_payload, deeplens_topic, encode_event,
                             event_id, event_message, event_topic, format_wall_time, parse_wall_time,
                             validate_topic)
from reaction.types import LaughEvent, ReactionError

EV = LaughEvent(viewer_id=3, start_s=12.48, end_s=14.02, peak=0.97, mean=0.81, n_frames=38)


def test_event_id_is_stable_and_distinguishes_laughs():
    a = event_message(EV, "dev-1", "scr-1", wall_time=0)
    b = event_message(EV, "dev-1", "scr-1", wall_time=1e9)  # re-published later
    assert a["event_id"] == b["event_id"] == event_id("dev-1", "scr-1", 3, 12.48)
    assert event_id("dev-1", "scr-1", 3, 12.4800000001) == a["event_id"]  # float noise
    others = {event_id("dev-2", "scr-1", 3, 12.48), event_id("dev-1", "scr-2", 3, 12.48),
              event_id("dev-1", "scr-1", 4, 12.48), event_id("dev-1", "scr-1", 3, 12.481)}
    assert a["event_id"] not in others and len(others) == 4


def test_message_fields_and_schema():
    m = event_message(EV, "dev-1", "scr-1", wall_time=datetime.datetime(2026, 11, 23, 19, 30, 0, 123456))
    jsonschema.validate(m, EVENT_SCHEMA)
    assert m["wall_time"] == "2026-11-23T19:30:00.123Z"
    assert (m["viewer_id"], m["media_start_s"], m["media_end_s"], m["n_frames"]) == (3, 12.48, 14.02, 38)
    assert (m["peak"], m["mean"], m["schema_version"]) == (0.97, 0.81, 1)
    payload = json.loads(batch_payload([encode_event(m), encode_event(m)]))
    jsonschema.validate(payload, MESSAGE_SCHEMA)
    assert payload["events"] == [m, m]


@pytest.mark.parametrize("breakage", [
    lambda m: m.pop("event_id"),
    lambda m: m.update(peak=1.5),
    lambda m: m.update(wall_time="2026-11-23 19:30:00"),
    lambda m: m.update(viewer_id="3"),
    lambda m: m.update(extra=1),
    lambda m: m.update(schema_version=2),
])
def test_schema_rejects_broken_events(breakage):
    m = event_message(EV, "dev-1", "scr-1")
    breakage(m)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(m, EVENT_SCHEMA)


def test_wall_time_formats():
    assert format_wall_time(0) == "1970-01-01T00:00:00.000Z"
    tz = datetime.timezone(datetime.timedelta(hours=2))
    assert format_wall_time(datetime.datetime(2026, 1, 1, 2, 0, tzinfo=tz)) == "2026-01-01T00:00:00.000Z"
    assert parse_wall_time("2026-11-23T19:30:00Z").timestamp() == parse_wall_time("2026-11-23T20:30:00+01:00").timestamp()
    with pytest.raises(ReactionError, match="--screening-start"):
        parse_wall_time("yesterday", "--screening-start")


def test_topics_within_aws_iot_limits():
    assert event_topic("dev-1", "scr-1") == "reaction/dev-1/scr-1/laughs"
    assert event_topic("dev-1", "scr-1", "studio/room-2/") == "studio/room-2/dev-1/scr-1/laughs"
    assert deeplens_topic("my_thing") == "$aws/things/my_thing/infer"
    assert validate_topic("a/b/c/d/e/f/g/h") == "a/b/c/d/e/f/g/h"  # 7 slashes
    bad = ["a/b/c/d/e/f/g/h/i", "x" * 257, "$aws/things/t/shadow/update", "$SYS/x", "a/+/b", "a/#", "", "a//b"]
    for topic in bad:
        with pytest.raises(ReactionError, match="topic"):
            validate_topic(topic)
    with pytest.raises(ReactionError, match="topic_prefix"):
        event_topic("dev-1", "scr-1", "a/b/c/d/e/f")  # 8 slashes in all
    with pytest.raises(ReactionError, match="screening_id"):
        event_topic("dev-1", "a/b")
    with pytest.raises(ReactionError, match="device_id"):
        event_message(EV, "dev+1", "scr-1")


@pytest.mark.skipif(shutil.which("vermin", path=os.path.dirname(sys.executable)) is None, reason="vermin not installed")
def test_schema_module_runs_on_python_37():
    vermin = shutil.which("vermin", path=os.path.dirname(sys.executable))
    schema = os.path.join(ROOT, "reaction", "iot", "schema.py")
    out = subprocess.run([vermin, "--target=3.7-", "--no-tips", "--violations", schema], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
