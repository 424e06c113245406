"""The presence message: which viewers were on screen, and when, since the last one.

Laugh events alone give no denominator; a report needs to know who could have
laughed. Every ``period_s`` of media time the IoT sink (and the DeepLens
Lambda) sends one presence message per screening to
``<prefix>/<device>/<screening>/presence``, next to the ``.../laughs`` topic,
so that version 1 readers of laugh messages never see one. One message::

    {"schema_version": 1, "type": "presence",
     "presence_id": "uuid5",            # same device, screening, from_s -> same id
     "device_id": "deeplens-7", "screening_id": "2026-11-23-matinee", "film_id": "comedy-cut-b",
     "from_s": 60.0, "to_s": 120.0,     # media seconds this message covers
     "wall_time": "2026-11-23T19:15:58.123Z",
     "viewers": [{"viewer_id": "3", "intervals": [[60.0, 75.2], [80.1, 120.0]]}, ...]}

Runs on Python 3.7 (the Lambda imports it) with the standard library only.
"""

import uuid
from typing import Any, Dict, Iterable, List, Optional

from ..onscreen import OnScreen
from ..types import ReactionError
from .schema import SCHEMA_VERSION, check_id, format_wall_time, validate_topic

_PRESENCE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:reaction:presence:v1")
PERIOD_S = 30.0

PRESENCE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "urn:reaction:presence:v1",
    "title": "Presence message",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "type", "presence_id", "device_id", "screening_id", "from_s", "to_s", "viewers"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "type": {"const": "presence"},
        "presence_id": {"type": "string"},
        "device_id": {"type": "string"},
        "screening_id": {"type": "string"},
        "film_id": {"type": "string"},
        "from_s": {"type": "number", "minimum": 0},
        "to_s": {"type": "number", "minimum": 0},
        "wall_time": {"type": "string"},
        "viewers": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["viewer_id", "intervals"],
                "properties": {
                    "viewer_id": {"type": ["string", "integer"]},
                    "intervals": {
                        "type": "array",
                        "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}},
                    },
                },
            },
        },
    },
}


def presence_topic(device_id: str, screening_id: str, prefix: str = "reaction") -> str:
    check_id(device_id, "device_id")
    check_id(screening_id, "screening_id")
    return validate_topic("{}/{}/{}/presence".format(prefix.strip("/"), device_id, screening_id), "topic_prefix")


def presence_id(device_id: str, screening_id: str, from_s: float) -> str:
    key = "{}|{}|{}".format(device_id, screening_id, int(round(float(from_s) * 1000)))
    return str(uuid.uuid5(_PRESENCE_NAMESPACE, key))


class PresenceTracker:
    """On-screen intervals per viewer, cut into one message per ``period_s`` of media time."""

    def __init__(
        self, device_id: str, screening_id: str, film_id: Optional[str] = None, period_s: float = PERIOD_S
    ) -> None:
        self.device_id = check_id(device_id, "device_id")
        self.screening_id = check_id(screening_id, "screening_id")
        self.film_id = film_id
        self.period_s = period_s
        self._onscreen: OnScreen[str] = OnScreen()  # the same intervals as presence.csv
        self._from: Optional[float] = None
        self._last: Optional[float] = None
        self._frame = 0.0

    def observe(self, time_s: float, viewers: Iterable[Any]) -> Optional[Dict[str, Any]]:
        """One frame's visible viewers; returns a message when a period is complete."""
        if self._last is not None and time_s > self._last and not self._frame:
            self._frame = time_s - self._last
        if self._from is None:
            self._from = time_s
        frame = self._frame or 0.04
        for vid in viewers:
            self._onscreen.see(str(vid), time_s, frame)
        self._last = time_s
        if time_s - self._from >= self.period_s:
            return self.flush()
        return None

    def flush(self, wall_time=None) -> Optional[Dict[str, Any]]:
        """The message for everything since the last one (None if nothing was observed)."""
        if self._from is None or self._last is None:
            return None
        frame = self._frame or 0.04
        to_s = self._last + frame
        spans: Dict[str, List[List[float]]] = {}
        for key, start, end in self._onscreen.closed:
            spans.setdefault(key, []).append([start, end])
        for key, span in self._onscreen.open.items():
            # Open intervals are cut at the message's end and go on in the next one.
            if self._onscreen.still_open(key, self._last, frame):
                spans.setdefault(key, []).append([span[0], min(span[1] + frame, to_s)])
                span[0] = to_s
            else:
                spans.setdefault(key, []).append([span[0], span[1] + frame])
        self._onscreen.open = {k: s for k, s in self._onscreen.open.items() if s[0] == to_s}
        self._onscreen.closed = []
        msg = {
            "schema_version": SCHEMA_VERSION,
            "type": "presence",
            "presence_id": presence_id(self.device_id, self.screening_id, self._from),
            "device_id": self.device_id,
            "screening_id": self.screening_id,
            "from_s": round(self._from, 3),
            "to_s": round(to_s, 3),
            "wall_time": format_wall_time(wall_time),
            "viewers": [
                {"viewer_id": k, "intervals": [[round(a, 3), round(b, 3)] for a, b in v if b > a]}
                for k, v in sorted(spans.items())
            ],
        }
        if self.film_id:
            msg["film_id"] = self.film_id
        self._from = to_s
        return msg


def check_presence(msg: Any) -> Dict[str, Any]:
    """``msg`` if it is a presence message this version reads, else a ReactionError."""
    if not isinstance(msg, dict) or msg.get("type") != "presence":
        raise ReactionError("not a presence message")
    for key in ("presence_id", "device_id", "screening_id", "from_s", "to_s", "viewers"):
        if key not in msg:
            raise ReactionError("presence message without {}".format(key))
    for v in msg["viewers"]:
        for a, b in v["intervals"]:
            float(a), float(b)
    return msg
