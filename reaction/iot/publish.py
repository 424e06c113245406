"""Send the laugh events of a finished analysis to AWS IoT (``reaction publish``).

Events go into the spool first, then out through the same :class:`IotSink` as
live publishing. With no events, :func:`publish` only drains what an earlier
(perhaps killed) run left in the spool.
"""

import datetime
import json
import math
import time
from dataclasses import dataclass
from typing import List, Optional

from ..types import LaughEvent, ReactionError
from .config import IotConfig

_NUMBER = (int, float)


def read_events(path: str) -> List[LaughEvent]:
    """Laugh events from a JSONL file, each line checked, errors as ``FILE:LINE: ...``."""
    events = []
    try:
        f = open(path)
    except OSError as e:
        raise ReactionError("{}: cannot read events ({})".format(path, e.strerror)) from e
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = "{}:{}".format(path, n)
            try:
                d = json.loads(line)
            except ValueError as e:
                raise ReactionError("{}: not JSON ({})".format(where, e)) from e
            if not isinstance(d, dict):
                raise ReactionError("{}: expected a JSON object".format(where))
            for key in ("viewer_id", "start_s", "end_s", "peak", "mean", "n_frames"):
                v = d.get(key)
                if not isinstance(v, _NUMBER) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                    raise ReactionError("{}: field {!r} must be a non-negative number, got {!r}".format(where, key, v))
            for key in ("viewer_id", "n_frames"):
                if float(d[key]) != int(d[key]):
                    raise ReactionError("{}: field {!r} must be an integer, got {!r}".format(where, key, d[key]))
            if d["peak"] > 1 or d["mean"] > 1:
                raise ReactionError("{}: peak and mean must be probabilities in 0..1".format(where))
            if d["end_s"] < d["start_s"] or d["n_frames"] < 1:
                raise ReactionError("{}: end_s before start_s or n_frames < 1".format(where))
            events.append(
                LaughEvent(
                    int(d["viewer_id"]),
                    float(d["start_s"]),
                    float(d["end_s"]),
                    float(d["peak"]),
                    float(d["mean"]),
                    int(d["n_frames"]),
                )
            )
    return events


@dataclass
class PublishResult:
    """What :func:`publish` delivered, and what it left in the spool."""

    acked: int
    messages: int
    replayed: int  # acknowledged events that an earlier run had left in the spool
    left: int  # still in the spool, sent by the next run
    refused: int  # not spooled because the spool was full
    topic: str
    error: Optional[str]  # why events are left in the spool, if known
    spool_error: Optional[str]  # why events were refused


def publish(
    events: List[LaughEvent], config: IotConfig, timeout_s: float, screening_start: Optional[datetime.datetime] = None
) -> PublishResult:
    """Spool ``events`` and publish everything in the spool, for at most ``timeout_s`` seconds.

    With ``screening_start``, an event's wall time is that start plus its media
    time; otherwise the time of publishing.
    """
    from .sink import IotSink
    from .spool import SpoolFull

    if timeout_s <= 0:
        raise ReactionError("timeout must be > 0 seconds, got {}".format(timeout_s))
    # The caller's events are durable where they came from, so a full spool can wait for room.
    config.spool_full_wait_s = timeout_s
    deadline = time.monotonic() + timeout_s
    sink = IotSink(config)
    refused, spool_error = 0, None
    try:
        for i in range(0, len(events), 1000):
            chunk = events[i : i + 1000]
            walls = [screening_start.timestamp() + e.start_s for e in chunk] if screening_start else None
            try:
                sink.emit_many(chunk, walls)
            except SpoolFull as e:
                refused, spool_error = len(events) - i, str(e)
                break
        sink.flush(max(0.0, deadline - time.monotonic()))
    finally:
        sink.close(timeout=0)
    error = sink.error if sink.left else None
    return PublishResult(sink.acked, sink.messages, sink.replayed, sink.left, refused, sink.topic, error, spool_error)
