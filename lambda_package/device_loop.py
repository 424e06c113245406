"""The DeepLens inference loop, free of device imports so that it can be tested.

:class:`DeviceLoop` reads a frame, runs it through the library's
:class:`reaction.ReactionPipeline`, shows it on the live view and publishes
laugh events, heartbeats and status messages. Every device call it needs is
handed in: ``read_frame`` (``awscam.getLastFrame``), ``publish`` (the
Greengrass client), ``sleep`` and ``clock``.

Messages on ``$aws/things/<thing>/infer``:

* laugh events: ``reaction.iot.schema.MESSAGE_SCHEMA``, one event per message,
  byte for byte what the IoT sink sends;
* heartbeats and status lines: :data:`STATUS_SCHEMA` below.
"""
import collections
import json
import logging
import time
from typing import Callable, Optional

import numpy as np

from reaction.annotate import draw_viewers
from reaction.iot.presence import PresenceTracker
from reaction.iot.schema import EVENT_SCHEMA, SCHEMA_VERSION, batch_payload, encode_event, event_message, format_wall_time
from reaction.types import Frame, LaughEvent, ReactionError

log = logging.getLogger(__name__)

_EVENT_PROPS = EVENT_SCHEMA["properties"]
_LOG_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

#: Heartbeats (``kind: heartbeat``) and status lines (``kind: status``).
STATUS_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "urn:reaction:deeplens-status:v1",
    "title": "DeepLens heartbeat or status message",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "kind", "device_id", "screening_id", "wall_time"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "kind": {"enum": ["heartbeat", "status"]},
        "device_id": _EVENT_PROPS["device_id"],
        "screening_id": _EVENT_PROPS["screening_id"],
        "wall_time": _EVENT_PROPS["wall_time"],
        "level": {"enum": ["info", "warning", "error"]},
        "message": {"type": "string", "minLength": 1, "maxLength": 1000},
        "backend": {"enum": ["gpu", "mxnet-cpu", "none"]},  # none: smile-net cannot run here
        "frames": {"type": "integer", "minimum": 0},
        "viewers": {"type": "integer", "minimum": 0},
        "fps": {"type": "number", "minimum": 0},
        "errors": {"type": "integer", "minimum": 0},
        "uptime_s": {"type": "number", "minimum": 0},
        "retry_in_s": {"type": "number", "minimum": 0},
    },
    "allOf": [
        {"if": {"properties": {"kind": {"const": "heartbeat"}}},
         "then": {"required": ["frames", "viewers", "fps", "errors", "uptime_s"]}},
        {"if": {"properties": {"kind": {"const": "status"}}},
         "then": {"required": ["level", "message"]}},
    ],
}


class AwscamBackend:
    """A :class:`reaction.smile.SmileNet` backend on the DeepLens GPU.

    ``model`` is an ``awscam.Model`` loaded from the ``mo.optimize`` output.
    The optimised network takes one image per call (batch 1 at the size given
    to the optimiser) in the camera frame's HxWxC layout, so each crop goes
    through on its own, transposed from the library's CHW. The crops arrive
    already normalised by the library (mean/scale from ``smile-net.json``),
    and the optimiser was given no mean/scale of its own, so the GPU sees
    exactly the values MXNet sees on the CPU.
    """

    def __init__(self, model, n_classes: int) -> None:
        self.model = model
        self.n_classes = n_classes

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = np.empty((len(batch), self.n_classes), np.float32)
        for i, crop in enumerate(batch):
            raw = self.model.doInference(np.ascontiguousarray(crop.transpose(1, 2, 0)))
            if not isinstance(raw, dict) or len(raw) != 1:
                raise ReactionError(
                    "optimised smile-net must have one output layer, got {}".format(
                        sorted(raw) if isinstance(raw, dict) else type(raw).__name__
                    )
                )
            probs = np.asarray(next(iter(raw.values())), dtype=np.float32).reshape(-1)
            if probs.size != self.n_classes:
                raise ReactionError(
                    "optimised smile-net output has {} values, smile-net.json lists {} classes".format(
                        probs.size, self.n_classes
                    )
                )
            out[i] = probs
        return out


class Messenger:
    """Builds and publishes every message of one device and screening.

    ``publish(topic, payload)`` is the Greengrass client's publish. A publish
    that raises (the local Greengrass queue is full or restarting) keeps the
    laugh event in a bounded backlog that is retried before the next message,
    so a brief outage loses no event.
    """

    def __init__(self, publish: Callable[[str, str], None], topic: str, device_id: str, screening_id: str,
                 backlog: int = 1000) -> None:
        self._publish = publish
        self.topic = topic
        self.device_id = device_id
        self.screening_id = screening_id
        self.backlog = collections.deque(maxlen=backlog)  # type: collections.deque
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        # Who is on screen, sent as presence messages (the report's denominators) through the same backlog.
        self.presence = PresenceTracker(device_id, screening_id)

    def _send(self, payload: str) -> bool:
        try:
            self._publish(self.topic, payload)
        except Exception as e:  # the SDK raises its own error types
            self.failed += 1
            log.warning("publish to %s failed: %s", self.topic, e)
            return False
        self.sent += 1
        return True

    def _drain(self) -> bool:
        while self.backlog:
            if not self._send(self.backlog[0]):
                return False
            self.backlog.popleft()
        return True

    def event(self, event: LaughEvent) -> None:
        message = event_message(event, self.device_id, self.screening_id)
        if len(self.backlog) == self.backlog.maxlen:
            self.dropped += 1  # the oldest unsent event makes room
        self.backlog.append(batch_payload([encode_event(message)]))
        self._drain()

    def observe(self, time_s: float, viewers, final: bool = False) -> None:
        message = self.presence.flush() if final else self.presence.observe(time_s, viewers)
        if message is not None:
            self.backlog.append(encode_event(message))
            self._drain()

    def status(self, level: str, message: str, **fields) -> None:
        log.log(_LOG_LEVELS.get(level, logging.INFO), "%s", message)
        self._drain()
        self._send(self._json(kind="status", level=level, message=message[:1000], **fields))

    def heartbeat(self, **fields) -> None:
        self._drain()
        self._send(self._json(kind="heartbeat", **fields))

    def _json(self, **fields) -> str:
        body = {
            "schema_version": SCHEMA_VERSION,
            "device_id": self.device_id,
            "screening_id": self.screening_id,
            "wall_time": format_wall_time(),
        }
        body.update(fields)
        return json.dumps(body, separators=(",", ":"), sort_keys=True)


class EventSink:
    """The pipeline's sink: each laugh event the pipeline closes is published."""

    def __init__(self, messenger: Messenger) -> None:
        self.messenger = messenger

    def emit(self, event: LaughEvent) -> None:
        self.messenger.event(event)

    def close(self) -> None:
        pass


class DeviceLoop:
    """Frames from the camera through the pipeline, one :meth:`step` at a time.

    Failures never end the loop: a failed frame read or an exception from one
    frame publishes an error status and sleeps ``backoff_s * 2**(n-1)`` for
    the n-th failure in a row, capped at ``max_backoff_s``; the first good
    frame resets it.
    """

    def __init__(self, read_frame: Callable[[], tuple], pipeline, messenger: Messenger, backend: str,
                 live_view=None, heartbeat_s: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 frame_time: Optional[Callable[[], float]] = None,
                 backoff_s: float = 0.1, max_backoff_s: float = 5.0) -> None:
        self.read_frame = read_frame
        self.pipeline = pipeline
        self.messenger = messenger
        self.backend = backend
        self.live_view = live_view
        self.heartbeat_s = heartbeat_s
        self.clock = clock
        self.sleep = sleep
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.started = clock()
        self.frame_time = frame_time or (lambda: self.clock() - self.started)
        self.index = 0
        self.frames = 0
        self.errors = 0
        self.failures_in_row = 0
        self.viewers = 0
        self._beat_at = self.started
        self._beat_frames = 0

    def step(self) -> bool:
        """Process one frame; ``False`` when it failed (and the backoff was slept)."""
        try:
            ok, image = self.read_frame()
        except Exception as e:
            return self._failed("frame read raised {}: {}".format(type(e).__name__, e))
        if not ok or image is None:
            return self._failed("frame read failed (getLastFrame returned no frame)")
        index = self.index
        self.index += 1
        try:
            result = self.pipeline.process(Frame(index, self.frame_time(), image))
        except Exception as e:
            return self._failed("frame {} failed: {}: {}".format(index, type(e).__name__, e))
        self.frames += 1
        self.failures_in_row = 0
        self.viewers = sum(1 for t in result.tracks if t.confirmed)
        self.messenger.observe(result.time_s, result.p_smile.keys())
        if self.live_view is not None:
            try:
                self.live_view.set_frame(draw_viewers(image, result))
            except Exception as e:  # drawing is cosmetic: report it, keep the events flowing
                self.errors += 1
                self.messenger.status("warning", "live view: {}: {}".format(type(e).__name__, e))
        self._maybe_heartbeat()
        return True

    def _failed(self, message: str) -> bool:
        self.errors += 1
        self.failures_in_row += 1
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** (self.failures_in_row - 1))
        self.messenger.status("error", message, retry_in_s=round(delay, 3), errors=self.errors)
        self.sleep(delay)
        self._maybe_heartbeat()
        return False

    def _maybe_heartbeat(self) -> None:
        now = self.clock()
        elapsed = now - self._beat_at
        if elapsed < self.heartbeat_s:
            return
        fps = (self.frames - self._beat_frames) / elapsed if elapsed > 0 else 0.0
        self.messenger.heartbeat(
            frames=self.frames, viewers=self.viewers, fps=round(fps, 2), errors=self.errors,
            backend=self.backend, uptime_s=round(now - self.started, 3),
        )
        self._beat_at = now
        self._beat_frames = self.frames

    def finish(self) -> None:
        """Close every open laugh (publishing it) and stop the live view."""
        try:
            self.pipeline.finish()
            self.messenger.observe(0.0, (), final=True)
        finally:
            if self.live_view is not None:
                self.live_view.stop()
