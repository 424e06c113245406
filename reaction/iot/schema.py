"""The laugh-event message that leaves the room, and the MQTT topic it goes to.

This module runs on Python 3.7 too: the DeepLens Lambda imports it to build
the same messages as the IoT sink. Keep it free of 3.8+ syntax and APIs and of
third-party imports (``make vermin`` checks it with the other modules the Lambda imports).

One event (``EVENT_SCHEMA``)::

    {"schema_version": 1,
     "event_id": "7b0c...-uuid5",     # same inputs -> same id; de-duplicate on it
     "device_id": "deeplens-7", "screening_id": "2026-11-23-matinee",
     "viewer_id": 3,
     "media_start_s": 12.48, "media_end_s": 14.02,   # seconds into the media
     "wall_time": "2026-11-23T19:15:58.123Z",        # UTC, ISO-8601
     "peak": 0.97, "mean": 0.81, "n_frames": 38}

One MQTT message (``MESSAGE_SCHEMA``) carries one or more events, oldest
first: ``{"schema_version": 1, "events": [event, ...]}``.
"""

import datetime
import json
import re
import uuid
from typing import Any, Dict, List, Optional, Union

from ..types import LaughEvent, ReactionError

SCHEMA_VERSION = 1

#: AWS IoT Core limits for one PUBLISH.
MAX_PAYLOAD_BYTES = 128 * 1024
MAX_TOPIC_BYTES = 256
MAX_TOPIC_SLASHES = 7

# Fixed namespace so that every device computes the same id for the same laugh.
_EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:reaction:laugh-event:v1")

# Thing names in AWS IoT use this alphabet; dots and @ are harmless in topics.
_ID_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
_DEEPLENS_RE = re.compile(r"^\$aws/things/[A-Za-z0-9_:-]{1,128}/infer$")
_WALL_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$"
_UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

EVENT_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "urn:reaction:laugh-event:v1",
    "title": "Laugh event",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema_version",
        "event_id",
        "device_id",
        "screening_id",
        "viewer_id",
        "media_start_s",
        "media_end_s",
        "wall_time",
        "peak",
        "mean",
        "n_frames",
    ],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "event_id": {"type": "string", "pattern": _UUID_RE},
        "device_id": {"type": "string", "pattern": _ID_RE.pattern},
        "screening_id": {"type": "string", "pattern": _ID_RE.pattern},
        "viewer_id": {"type": "integer", "minimum": 0},
        "media_start_s": {"type": "number", "minimum": 0},
        "media_end_s": {"type": "number", "minimum": 0},
        "wall_time": {"type": "string", "pattern": _WALL_RE},
        "peak": {"type": "number", "minimum": 0, "maximum": 1},
        "mean": {"type": "number", "minimum": 0, "maximum": 1},
        "n_frames": {"type": "integer", "minimum": 1},
    },
}

MESSAGE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "urn:reaction:laugh-message:v1",
    "title": "Laugh events message",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "events"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "events": {"type": "array", "minItems": 1, "items": EVENT_SCHEMA},
    },
}


def check_id(value: object, name: str) -> str:
    """Return ``value`` if it is usable as a device or screening id in a topic."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ReactionError(
            "{}: {!r} is not a valid id (1-128 characters of A-Z a-z 0-9 _ . : @ -)".format(name, value)
        )
    return value


def event_id(device_id: str, screening_id: str, viewer_id: int, start_s: float) -> str:
    """Deterministic id of one laugh: the same laugh re-published keeps its id.

    The start time is taken to the millisecond so that float noise in a
    re-analysis (12.4800000001 vs 12.48) does not change the id.
    """
    key = "{}|{}|{}|{}".format(device_id, screening_id, int(viewer_id), int(round(float(start_s) * 1000)))
    return str(uuid.uuid5(_EVENT_NAMESPACE, key))


def format_wall_time(wall_time: Optional[Union[float, datetime.datetime]] = None) -> str:
    """UTC ISO-8601 with milliseconds and ``Z``.

    ``wall_time`` is ``None`` (now), seconds since the epoch, an aware
    datetime, or a naive datetime taken to be UTC.
    """
    if wall_time is None:
        dt = datetime.datetime.now(datetime.timezone.utc)
    elif isinstance(wall_time, datetime.datetime):
        dt = wall_time if wall_time.tzinfo else wall_time.replace(tzinfo=datetime.timezone.utc)
    elif isinstance(wall_time, (int, float)):
        dt = datetime.datetime.fromtimestamp(float(wall_time), datetime.timezone.utc)
    else:
        raise ReactionError("wall_time: expected seconds or a datetime, got {!r}".format(wall_time))
    dt = dt.astimezone(datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "{:03d}Z".format(dt.microsecond // 1000)


def parse_wall_time(text: str, name: str = "wall_time") -> datetime.datetime:
    """Parse an ISO-8601 time (``Z`` or offset; naive means UTC) to aware UTC."""
    s = text.strip()
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.datetime.fromisoformat(s)
    except ValueError:
        raise ReactionError("{}: {!r} is not an ISO-8601 time like 2026-11-23T19:30:00Z".format(name, text)) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.astimezone(datetime.timezone.utc)


def event_message(
    event: LaughEvent,
    device_id: str,
    screening_id: str,
    wall_time: Optional[Union[float, datetime.datetime]] = None,
) -> Dict[str, Any]:
    """The JSON-able dict for one laugh event (see ``EVENT_SCHEMA``).

    ``event`` is a ``LaughEvent`` or anything with the same attributes.
    """
    check_id(device_id, "device_id")
    check_id(screening_id, "screening_id")
    start = float(event.start_s)
    return {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id(device_id, screening_id, event.viewer_id, start),
        "device_id": device_id,
        "screening_id": screening_id,
        "viewer_id": int(event.viewer_id),
        "media_start_s": round(start, 3),
        "media_end_s": round(float(event.end_s), 3),
        "wall_time": format_wall_time(wall_time),
        "peak": round(float(event.peak), 4),
        "mean": round(float(event.mean), 4),
        "n_frames": int(event.n_frames),
    }


def encode_event(message: Dict[str, Any]) -> str:
    """Compact JSON text of one event message."""
    return json.dumps(message, separators=(",", ":"), sort_keys=True)


def batch_payload(encoded_events: List[str]) -> str:
    """One MQTT payload from already-encoded event texts, oldest first."""
    return '{"events":[' + ",".join(encoded_events) + '],"schema_version":' + str(SCHEMA_VERSION) + "}"


#: Bytes of ``batch_payload`` around the events: the envelope plus nothing.
BATCH_OVERHEAD = len(batch_payload([]))


def event_topic(device_id: str, screening_id: str, prefix: str = "reaction") -> str:
    """``<prefix>/<device>/<screening>/laughs``, checked against AWS IoT limits."""
    check_id(device_id, "device_id")
    check_id(screening_id, "screening_id")
    prefix = prefix.strip("/")
    if not prefix:
        raise ReactionError("topic_prefix: must not be empty")
    return validate_topic("{}/{}/{}/laughs".format(prefix, device_id, screening_id), "topic_prefix")


def deeplens_topic(thing_name: str) -> str:
    """The DeepLens inference route ``$aws/things/<thing>/infer``."""
    return validate_topic("$aws/things/{}/infer".format(thing_name), "thing_name")


def validate_topic(topic: str, name: str = "topic") -> str:
    """Return ``topic`` if AWS IoT Core accepts it for PUBLISH, else raise."""
    if not isinstance(topic, str) or not topic:
        raise ReactionError("{}: topic must be a non-empty string".format(name))
    size = len(topic.encode("utf-8"))
    if size > MAX_TOPIC_BYTES:
        raise ReactionError("{}: topic {!r} is {} bytes, AWS IoT allows {}".format(name, topic, size, MAX_TOPIC_BYTES))
    if topic.count("/") > MAX_TOPIC_SLASHES:
        raise ReactionError(
            "{}: topic {!r} has {} slashes, AWS IoT allows {}".format(name, topic, topic.count("/"), MAX_TOPIC_SLASHES)
        )
    if "+" in topic or "#" in topic or "\x00" in topic:
        raise ReactionError("{}: topic {!r} must not contain '+', '#' or NUL".format(name, topic))
    if topic.startswith("$") and not _DEEPLENS_RE.match(topic):
        raise ReactionError(
            "{}: topic {!r} starts with '$', reserved by AWS IoT "
            "(only the DeepLens route $aws/things/<thing>/infer is allowed)".format(name, topic)
        )
    if "//" in topic or topic.startswith("/") or topic.endswith("/"):
        raise ReactionError("{}: topic {!r} has an empty level".format(name, topic))
    return topic
