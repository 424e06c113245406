"""The DeepLens project stream: annotated frames as MJPEG into a FIFO.

The device's video server (and ``mplayer ... /tmp/results.mjpeg``) reads
JPEG frames back to back from a named pipe. Opening a FIFO for writing blocks
until a reader attaches, and writing blocks while the reader is slow, so all
of it happens on a writer thread that only ever holds the *latest* frame:
inference hands a frame over with :meth:`LatestFrameFifo.set_frame`, which
takes a lock for one assignment and returns; frames the reader is too slow
for are dropped, never queued.
"""
import errno
import logging
import os
import stat
import threading

import cv2
import numpy as np

from reaction.types import ReactionError

log = logging.getLogger(__name__)

DEFAULT_FIFO = "/tmp/results.mjpeg"


class LatestFrameFifo:
    """Writes the most recent frame handed to it into a FIFO, as JPEG.

    Attributes (read them for monitoring): ``written`` frames that reached a
    reader, ``dropped`` frames replaced by a newer one before a reader took
    them, ``reader_attached`` whether a reader currently has the pipe open.
    """

    def __init__(self, path: str = DEFAULT_FIFO, height: int = 480, quality: int = 80,
                 retry_s: float = 0.5) -> None:
        if height < 16:
            raise ReactionError("live view height must be >= 16 pixels, got {}".format(height))
        self.path = path
        self.height = height
        self.quality = quality
        self.retry_s = retry_s
        self.written = 0
        self.dropped = 0
        self.reader_attached = False
        self._cond = threading.Condition()
        self._latest = None  # type: object
        self._stop = False
        self._thread = None  # type: object

    def start(self) -> "LatestFrameFifo":
        """Create the FIFO if needed and start the writer thread."""
        try:
            mode = os.stat(self.path).st_mode
        except FileNotFoundError:
            try:
                os.mkfifo(self.path)
            except OSError as e:
                raise ReactionError("{}: cannot create the live-view FIFO ({})".format(self.path, e.strerror))
        else:
            if not stat.S_ISFIFO(mode):
                raise ReactionError("{}: exists and is not a FIFO; remove it for the live view".format(self.path))
        self._thread = threading.Thread(target=self._run, name="mjpeg-fifo", daemon=True)
        self._thread.start()
        return self

    def set_frame(self, image: np.ndarray) -> None:
        """Hand over the newest annotated frame. Never blocks on the reader."""
        with self._cond:
            if self._latest is not None:
                self.dropped += 1
            self._latest = image
            self._cond.notify()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the writer thread (it may stay blocked in a write to a stalled reader)."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _take(self):
        with self._cond:
            while self._latest is None and not self._stop:
                self._cond.wait(self.retry_s)
            image, self._latest = self._latest, None
            return image

    def _open(self):
        try:
            # O_NONBLOCK: with no reader this fails at once (ENXIO) instead of
            # hanging the thread, so stop() and newer frames are still seen.
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO:
                log.warning("%s: cannot open live view (%s)", self.path, e.strerror)
            return None
        os.set_blocking(fd, True)
        return fd

    def _run(self) -> None:
        fd = None
        while not self._stop:
            if fd is None:
                fd = self._open()
                self.reader_attached = fd is not None
                if fd is None:
                    with self._cond:
                        self._cond.wait(self.retry_s)
                    continue
            image = self._take()
            if image is None:
                continue
            try:
                _write_all(fd, self.encode(image))
                self.written += 1
            except OSError as e:  # EPIPE: the reader went away; wait for the next one
                if e.errno != errno.EPIPE:
                    log.warning("%s: live view write failed (%s)", self.path, e.strerror)
                os.close(fd)
                fd = None
                self.reader_attached = False
        if fd is not None:
            os.close(fd)
        self.reader_attached = False

    def encode(self, image: np.ndarray) -> bytes:
        """The JPEG bytes of one frame, scaled to the stream height."""
        h, w = image.shape[:2]
        if h != self.height:
            width = max(1, int(round(w * self.height / float(h))))
            image = cv2.resize(image, (width, self.height), interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), self.quality])
        if not ok:
            raise OSError(errno.EINVAL, "JPEG encoding failed")
        return jpeg.tobytes()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
