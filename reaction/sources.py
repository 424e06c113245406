"""Frame sources: a video file, a camera, or a folder of images.

Every source yields :class:`Frame` values with the media timestamp taken from
the container (``CAP_PROP_POS_MSEC``), not computed from a nominal frame
rate, so variable-frame-rate files and dropped frames keep true time.
"""

import logging
import os
import queue
import threading
import time
from typing import Any, Iterable, Iterator, Optional, Union

import cv2
import numpy as np

from .preprocess import as_bgr
from .streams import StreamSource, check_url, looks_like_url
from .types import Frame, ReactionError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# How many consecutive undecodable frames we step over before calling it the end.
MAX_CONSECUTIVE_BAD = 25


class VideoSource:
    """Frames of a video file (any container OpenCV's FFmpeg reads).

    Attributes after iteration: ``skipped`` counts undecodable frames that
    were stepped over, ``frames`` counts frames yielded.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        if not os.path.exists(path):
            raise ReactionError("{}: no such file".format(path))
        if os.path.isdir(path):
            raise ReactionError("{}: is a folder, not a video (use a folder source)".format(path))
        if not os.access(path, os.R_OK):
            raise ReactionError("{}: not readable".format(path))
        self._cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            raise ReactionError("{}: not a video OpenCV can decode".format(path))
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.skipped = 0
        self.frames = 0
        # Decode the first frame now, so an empty or undecodable file fails
        # before any model is loaded or output written.
        ok, image = self._cap.read()
        if not ok or image is None:
            self._cap.release()
            raise ReactionError("{}: contains no decodable frames".format(path))
        self._first: Optional[np.ndarray] = image

    def __iter__(self) -> Iterator[Frame]:
        if self._first is None:
            raise ReactionError("{}: a video source can be read once".format(self.path))
        cap, index, bad_run, last_t = self._cap, 0, 0, -1.0
        try:
            while True:
                if self._first is not None:
                    ok, image, self._first = True, self._first, None
                else:
                    ok = cap.grab()
                    if ok:
                        ok, image = cap.retrieve()
                if not ok or image is None:
                    # A failed read before the container's frame count is a
                    # damaged frame, not the end: step over it and count it.
                    if self.frame_count and index + bad_run + 1 < self.frame_count and bad_run < MAX_CONSECUTIVE_BAD:
                        bad_run += 1
                        self.skipped += 1
                        log.warning("%s: frame %d undecodable, skipped", self.path, index + bad_run)
                        continue
                    break
                bad_run = 0
                t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if t <= last_t and self.fps > 0:
                    # Some containers report no timestamp for a frame; step by one period.
                    t = last_t + 1.0 / self.fps
                last_t = t
                self.frames += 1
                yield Frame(index, t, image)
                index += 1
        finally:
            cap.release()


class CameraSource:
    """Frames from a camera index; timestamps from the driver, else a monotonic clock."""

    def __init__(self, index: int) -> None:
        self._cap = cv2.VideoCapture(index)
        if not self._cap.isOpened():
            raise ReactionError("camera {}: cannot be opened".format(index))
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.frame_count = 0
        self.skipped = 0
        self.frames = 0
        self.path = "camera {}".format(index)

    def __iter__(self) -> Iterator[Frame]:
        start, index, last_t = time.monotonic(), 0, -1.0
        try:
            while True:
                ok, image = self._cap.read()
                if not ok:
                    break
                t = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if t <= last_t:  # V4L2 often reports 0: fall back to our own clock
                    t = time.monotonic() - start
                last_t = t
                self.frames += 1
                yield Frame(index, t, as_bgr(image))
                index += 1
        finally:
            self._cap.release()


class ImageFolderSource:
    """Images of a folder in name order. Time is ``index / fps``: a folder has
    no container clock, so the rate is the caller's statement (``--fps``)."""

    def __init__(self, path: str, fps: float = 25.0) -> None:
        if fps <= 0:
            raise ReactionError("fps must be > 0, got {}".format(fps))
        self.path = path
        self.fps = fps
        self.files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not self.files:
            raise ReactionError("{}: folder has no images".format(path))
        self.frame_count = len(self.files)
        self.skipped = 0
        self.frames = 0

    def __iter__(self) -> Iterator[Frame]:
        for index, name in enumerate(self.files):
            image = cv2.imread(name, cv2.IMREAD_UNCHANGED)
            if image is None or image.dtype != np.uint8:
                self.skipped += 1
                log.warning("%s: unreadable image, skipped", name)
                continue
            self.frames += 1
            yield Frame(index, index / self.fps, as_bgr(image))


Source = Union[VideoSource, CameraSource, ImageFolderSource, StreamSource]

_END = object()


def prefetch(frames: Iterable[Frame], depth: int = 8) -> Iterator[Frame]:
    """``frames``, decoded up to ``depth`` ahead on a worker thread.

    FFmpeg decode releases the GIL, so it overlaps with the pipeline's
    single-threaded work (tracking, region re-detection, the smile net):
    on 1080p this is most of the decode time (benchmarks/results/throughput.md).
    An error in the source is raised here, in order, after the frames before it.
    """
    if depth < 1:
        raise ReactionError("prefetch depth must be >= 1, got {}".format(depth))
    ahead: "queue.Queue[Any]" = queue.Queue(maxsize=depth)  # frames, then _END or an exception
    stop = threading.Event()

    def decode() -> None:
        it = iter(frames)
        try:
            for frame in it:
                while not stop.is_set():
                    try:
                        ahead.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put(_END)
        except BaseException as e:  # handed to the consumer, raised there
            ahead.put(e)
        finally:
            # Run the source's own cleanup (releasing the capture) now, on
            # this thread, rather than whenever the iterator is collected.
            close = getattr(it, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=decode, name="reaction-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = ahead.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        # The consumer may stop early: let the worker go, then wait for it so
        # that the source's own cleanup (releasing the capture) has run.
        stop.set()
        while worker.is_alive():
            try:
                ahead.get_nowait()
            except queue.Empty:
                worker.join(0.05)


def open_source(spec: Union[str, int], fps: Optional[float] = None, **stream: Any) -> Source:
    """A source from a path, a folder, a camera index (``0`` or ``"0"``) or a stream URL.

    ``stream`` goes to :class:`~reaction.streams.StreamSource` for an
    ``rtsp://``, ``http://`` (...) URL: timeouts, ``give_up_after_s``.
    """
    if looks_like_url(spec):
        return StreamSource(check_url(str(spec)), **stream)
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit() and not os.path.exists(spec)):
        return CameraSource(int(spec))
    if os.path.isdir(spec):
        return ImageFolderSource(spec, fps or 25.0)
    return VideoSource(spec)
