"""Network camera streams (RTSP, HTTP): read live, reconnect when they drop.

A camera reboots or the network blips: the run must go on. The source
reconnects with capped exponential backoff and keeps media time monotonic
across the gap, so that the tracker sees how long the viewers were out of
sight: a gap shorter than the tracker's ``max_lost_s`` keeps their ids, a
longer one starts a new *segment* (the tracker has forgotten them by then).

Media time is the stream's own timestamps where it has them (MPEG-TS, RTP),
else the wall clock since the start (MJPEG over HTTP carries none); which one
is stated as ``clock``.
"""

import logging
import re
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

import cv2
import numpy as np

from .preprocess import as_bgr
from .types import Frame, ReactionError

log = logging.getLogger(__name__)

SCHEMES = ("rtsp", "rtsps", "http", "https")
OPEN_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 5.0
#: First wait before reconnecting, doubled per failed attempt up to the cap.
BACKOFF_S = (0.25, 4.0)

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<secret>[^@/\s]*)@")


def mask_url(text: str) -> str:
    """``text`` with every ``scheme://user:password@`` written ``scheme://user:***@``.

    Used wherever a source name is logged, raised or stored.
    """
    return _USERINFO.sub(lambda m: "{}{}:***@".format(m.group("scheme"), m.group("user")), str(text))


def looks_like_url(spec: Any) -> bool:
    """A ``scheme://...`` string (supported or not: the caller checks which)."""
    return isinstance(spec, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", spec) is not None


def check_url(url: str) -> str:
    """``url`` if it names a stream we can read, else a :class:`ReactionError` (password masked)."""
    shown = mask_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is no number
    except ValueError as e:
        raise ReactionError("{}: malformed URL ({})".format(shown, mask_url(str(e)))) from None
    if parts.scheme.lower() not in SCHEMES:
        raise ReactionError("{}: unsupported scheme {!r} (streams: {})".format(shown, parts.scheme, ", ".join(SCHEMES)))
    if not parts.hostname or (port is not None and not 0 < port < 65536):
        raise ReactionError("{}: malformed URL (no host)".format(shown))
    if re.search(r"\s", url):
        raise ReactionError("{}: malformed URL (contains spaces)".format(shown))
    return url


class _Latest:
    """The newest frame of one connection, read on a thread.

    A pipeline slower than the camera then skips frames (counted in
    ``missed``) instead of falling behind it; a queue would only add latency.
    The capture is released by the thread when the connection ends.
    """

    def __init__(self, cap: Any, read: Callable[[Any], Tuple[Optional[np.ndarray], float]]) -> None:
        self._cond = threading.Condition()
        self._item: Optional[Tuple[np.ndarray, float, float]] = None
        self._ended = False
        self._closing = False
        self.missed = 0
        self._thread = threading.Thread(target=self._run, args=(cap, read), name="reaction-stream", daemon=True)
        self._thread.start()

    def _run(self, cap: Any, read: Callable[[Any], Tuple[Optional[np.ndarray], float]]) -> None:
        try:
            while not self._closing:
                image, ts = read(cap)
                now = time.monotonic()
                with self._cond:
                    if image is None:
                        break
                    if self._item is not None:
                        self.missed += 1
                    self._item = (image, ts, now)
                    self._cond.notify()
        finally:
            cap.release()
            with self._cond:
                self._ended = True
                self._cond.notify()

    def get(self, stop: threading.Event) -> Optional[Tuple[np.ndarray, float, float]]:
        """(image, stream timestamp, arrival time), or None once the connection has ended or ``stop`` is set."""
        with self._cond:
            while self._item is None and not self._ended and not stop.is_set():
                self._cond.wait(0.1)  # short, so that a signal is handled promptly
            item, self._item = self._item, None
            return item

    def close(self, wait_s: float) -> None:
        self._closing = True
        self._thread.join(wait_s)


class StreamSource:
    """Frames of a network stream, read as they arrive (no backlog).

    Args:
        url: ``rtsp://``, ``rtsps://``, ``http://`` or ``https://``.
        open_timeout_s: how long to keep trying to open the stream at the
            start, and per attempt when reconnecting.
        read_timeout_s: a read that waits this long is a drop.
        give_up_after_s: end after this long without frames (None: never;
            stop the run with Ctrl-C or SIGTERM).
        new_segment_after_s: a gap longer than this starts a new segment
            (``analyze`` passes the tracker's ``max_lost_s``).
        stop: set from another thread to end the stream.

    After iteration: ``frames``, ``skipped`` and :meth:`stats` (frames missed
    because the pipeline was busy, drops, seconds lost, segments, clock).
    """

    live = True  # read as it comes: a prefetch queue would only add latency
    frame_count = 0

    def __init__(
        self,
        url: str,
        open_timeout_s: float = OPEN_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        give_up_after_s: Optional[float] = None,
        new_segment_after_s: float = 15.0,
        stop: Optional[threading.Event] = None,
    ) -> None:
        self._url = check_url(url)
        self.path = mask_url(url)
        self.open_timeout_s = float(open_timeout_s)
        self.read_timeout_s = float(read_timeout_s)
        self.give_up_after_s = give_up_after_s
        self.new_segment_after_s = float(new_segment_after_s)
        self._stop = stop or threading.Event()
        self.frames = 0
        self.skipped = 0
        self.missed = 0
        self.drops = 0
        self.lost_s = 0.0
        self.gaps: List[Dict[str, float]] = []
        self.gave_up = False
        self.segments: List[Dict[str, Any]] = []
        started = time.monotonic()
        cap = None
        while cap is None:
            cap = self._open()
            # A camera that is still booting refuses at first: keep trying until the timeout.
            if cap is None and (time.monotonic() - started >= self.open_timeout_s or self._stop.wait(BACKOFF_S[0])):
                raise ReactionError("{}: stream did not open within {:g} s".format(self.path, self.open_timeout_s))
        self._cap = cap
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.clock = "stream"  # until the first frames say otherwise

    def _open(self) -> Optional[Any]:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.read_timeout_s * 1000),
        ]
        cap = cv2.VideoCapture(self._url, cv2.CAP_FFMPEG, params)
        if cap.isOpened():
            return cap
        cap.release()
        return None

    def _read(self, cap: Any) -> Tuple[Optional[np.ndarray], float]:
        """One frame and the stream's timestamp in seconds (NaN where it has none)."""
        if not cap.grab():
            return None, float("nan")
        ok, image = cap.retrieve()
        if not ok or image is None:
            return None, float("nan")
        ts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        # MJPEG over HTTP has no timestamps: OpenCV then reports a huge negative number.
        return image, ts if ts >= 0.0 else float("nan")

    def _reconnect(self, lost_at: float) -> Optional[Any]:
        """A capture open again, or None when stopped or given up."""
        wait, attempt = BACKOFF_S[0], 0
        while not self._stop.is_set():
            attempt += 1
            cap = self._open()
            if cap is not None:
                log.warning("%s: stream back after %.1f s (attempt %d)", self.path, time.monotonic() - lost_at, attempt)
                return cap
            waited = time.monotonic() - lost_at
            if self.give_up_after_s is not None and waited + wait > self.give_up_after_s:
                # Sleep no longer than the limit; one last try at it.
                if self._stop.wait(max(0.0, self.give_up_after_s - waited)):
                    return None
                cap = self._open()
                if cap is not None:
                    return cap
                log.warning("%s: no frames for %.1f s, giving up", self.path, time.monotonic() - lost_at)
                self.gave_up = True
                return None
            if self._stop.wait(wait):
                return None
            wait = min(wait * 2.0, BACKOFF_S[1])
        return None

    def __iter__(self) -> Iterator[Frame]:
        cap = self._cap
        if cap is None:
            raise ReactionError("{}: a stream source can be read once".format(self.path))
        self._cap = None
        start = time.monotonic()
        index, last_t, last_wall = 0, -1.0, start
        # Media time of this connection's first frame, and that frame's stream timestamp.
        base: Optional[float] = 0.0
        ts0: Optional[float] = None
        dropped, gap_s = False, 0.0
        segment = self._new_segment()
        latest: Optional[_Latest] = _Latest(cap, self._read)
        try:
            while latest is not None and not self._stop.is_set():
                item = latest.get(self._stop)
                if item is None:
                    latest.close(self.read_timeout_s + 1.0)
                    self.missed += latest.missed
                    latest = None
                    if self._stop.is_set():
                        break
                    log.warning("%s: stream dropped after %.3f s of media; reconnecting", self.path, max(last_t, 0.0))
                    cap = self._reconnect(time.monotonic())
                    if cap is None:
                        break
                    latest = _Latest(cap, self._read)
                    base, ts0, dropped = None, None, True
                    continue
                image, ts, now = item
                if index == 0 and ts != ts:
                    self.clock = "wall"
                if self.clock == "wall":
                    t = now - start
                else:
                    if base is None:
                        # Time went on while the camera was away: the first frame back says so.
                        base = max(last_t, 0.0) + (now - last_wall)
                    if ts != ts:
                        ts = ts0 if ts0 is not None else 0.0
                    if ts0 is None:
                        ts0 = ts
                    t = base + ts - ts0
                if last_t >= 0.0 and t <= last_t:
                    t = last_t + 1e-3  # a stream that restarts its clock must not send time backwards
                if dropped:
                    dropped = False
                    gap_s = t - last_t if last_t >= 0.0 else 0.0
                    self.drops += 1
                    self.lost_s += now - last_wall
                    self.gaps.append({"after_s": round(last_t, 3), "lost_s": round(now - last_wall, 3)})
                    if t - last_t > self.new_segment_after_s:
                        segment = self._new_segment()
                if segment["start_s"] is None:
                    segment["start_s"] = round(t, 3)
                segment["end_s"] = round(t, 3)
                segment["frames"] += 1
                last_t, last_wall = t, now
                try:
                    image = as_bgr(image)
                except ReactionError as e:
                    self.skipped += 1
                    log.warning("%s: frame %d skipped: %s", self.path, index, e)
                    continue
                self.frames += 1
                yield Frame(index, t, image, gap_s)
                index, gap_s = index + 1, 0.0
        finally:
            if latest is not None:
                latest.close(self.read_timeout_s + 1.0)
                self.missed += latest.missed

    def _new_segment(self) -> Dict[str, Any]:
        segment: Dict[str, Any] = {"start_s": None, "end_s": None, "frames": 0}
        self.segments.append(segment)
        return segment

    def stats(self) -> Dict[str, Any]:
        """For ``summary.json``: what the stream did."""
        return {
            "clock": self.clock,
            "missed_frames": self.missed,
            "drops": self.drops,
            "lost_s": round(self.lost_s, 3),
            "gaps": list(self.gaps),
            "segments": self.segments,
            "gave_up": self.gave_up,
        }
