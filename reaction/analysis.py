"""One recording, analysed into an output folder: what ``reaction analyze`` runs.

The folder gets ``events.jsonl``, ``tracks.csv``, ``smiles.csv``,
``summary.json`` and, if asked, the annotated video. A run stopped by Ctrl-C
or SIGTERM keeps what it measured: the open laughs are closed, the files
flushed, and the summary says ``"interrupted": true`` with the last media time.
"""

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

import numpy as np

from .annotate import AnnotatedVideo
from .pipeline import PipelineConfig, ReactionPipeline, profile_config
from .report import ScreeningReport
from .sinks import JsonlSink, Sink
from .smile import SmileNet
from .sources import CameraSource, Source, open_source, prefetch
from .streams import StreamSource, looks_like_url, mask_url


class Stopped(BaseException):
    """SIGTERM, raised in the main thread so that the run unwinds as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@dataclass
class Analysis:
    """What :func:`analyze` measured."""

    summary: Dict[str, Any]
    pipeline: ReactionPipeline
    #: The signal that stopped the run early (``signal.SIGINT`` for Ctrl-C), or None.
    stopped_by: Optional[int] = None


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Stopped` while the block runs (signals reach only the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise Stopped(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """A second Ctrl-C or SIGTERM waits while the outputs of an interrupted run are written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _warm_up(pipeline: ReactionPipeline) -> None:
    """Run detector and smile net once on a blank frame: their first call is slow, and on a live
    stream the frames that arrive meanwhile are skipped (the first shot of the sample clip was)."""
    blank = np.zeros((360, 640, 3), np.uint8)
    pipeline.detector.detect(blank)
    pipeline.smile_net.predict(blank, [(0.0, 0.0, 64.0, 64.0)])


def analyze(
    video: Union[str, int, Source],
    out_dir: str,
    config: Optional[PipelineConfig] = None,
    annotate: Optional[str] = None,
    sinks: Optional[List[Sink]] = None,
    fps: Optional[float] = None,
    on_frame: Optional[Callable[[int, Optional[int]], None]] = None,
    extra: Optional[Dict[str, Any]] = None,
    stream: Optional[Dict[str, Any]] = None,
    smile_net: Optional[SmileNet] = None,
) -> Analysis:
    """Run the pipeline over ``video`` and write its outputs to ``out_dir``.

    Args:
        video: a file, a folder of images, a camera index, a stream URL, or an open source.
        config: pipeline settings (default: the balanced profile).
        annotate: also write the video with the viewers drawn, to this path.
        sinks: more sinks for the laugh events (``events.jsonl`` is always written).
        fps: frame rate of a folder of images.
        on_frame: called after each frame with (frames done, frames in the source or None).
        extra: more fields for ``summary.json``.
        stream: for a stream URL, options of :class:`~reaction.streams.StreamSource` (timeouts, give-up).
        smile_net: an already loaded smile-net (a batch worker loads it once for all its videos).
    """
    live = isinstance(video, str) and looks_like_url(video)
    opened = video if not isinstance(video, (str, int)) else None if live else open_source(video, fps=fps)
    pipeline = ReactionPipeline(
        config or profile_config("balanced"),
        sinks=[JsonlSink(os.path.join(out_dir, "events.jsonl"))] + list(sinks or []),
        smile_net=smile_net,
    )
    # A stream opens once the model is loaded: what a camera sent before is the past, not the screening.
    # A gap the tracker bridges keeps the viewers; a longer one is a new segment.
    source = opened
    if source is None:
        _warm_up(pipeline)
        source = open_source(str(video), new_segment_after_s=pipeline.config.tracker.max_lost_s, **(stream or {}))
    report = ScreeningReport(out_dir)
    observers = [s for s in sinks or [] if hasattr(s, "observe")]
    writer: Optional[AnnotatedVideo] = None
    total = getattr(source, "frame_count", 0) or None
    last_media_s: Optional[float] = None
    stopped_by: Optional[int] = None
    started = time.perf_counter()
    # A file is decoded ahead on a thread; a camera is read as it comes,
    # because a queue of stale frames would only add latency.
    frames = source if isinstance(source, (CameraSource, StreamSource)) else prefetch(source)
    results = pipeline.run(frames)
    try:
        with _sigterm_raises():
            try:
                for result in results:
                    if annotate:
                        if writer is None:
                            h, w = result.shape
                            writer = AnnotatedVideo(annotate, getattr(source, "fps", 25.0), (w, h))
                        assert result.image is not None  # ReactionPipeline.process always sets it
                        writer.write(result.image, result)
                    report.add(result)
                    for observer in observers:  # sinks that also report who is on screen (IoT presence)
                        observer.observe(result.time_s, result.p_smile.keys())
                    last_media_s = result.time_s
                    if on_frame is not None:
                        on_frame(pipeline.frames, total)
            except KeyboardInterrupt:
                stopped_by = signal.SIGINT
            except Stopped as e:
                stopped_by = e.signum
        with _signals_held():
            # Closing the generators runs their cleanup now: the decoder
            # thread stops and the open laughs are closed into the sinks.
            results.close()
            close = getattr(frames, "close", None)
            if close is not None:
                close()
    finally:
        with _signals_held():
            if writer is not None:
                writer.close()
            pipeline.close()
    elapsed = time.perf_counter() - started
    fields: Dict[str, Any] = {
        "video": str(video) if isinstance(video, (str, int)) else str(getattr(source, "path", source)),
        "profile": None,
        "frames": pipeline.frames,
        "skipped_frames": getattr(source, "skipped", 0) + pipeline.bad_frames,
        "fps": round(pipeline.frames / elapsed, 2) if elapsed > 0 else None,
    }
    fields.update(extra or {})
    fields["video"] = mask_url(fields["video"])
    if isinstance(source, StreamSource):
        fields["stream"] = source.stats()
    if stopped_by is not None:
        fields["interrupted"] = True
        fields["last_media_s"] = None if last_media_s is None else round(last_media_s, 3)
    with _signals_held():
        summary = report.close(pipeline.events, fields)
    return Analysis(summary, pipeline, stopped_by)


def exit_status(signum: int) -> int:
    """The shell's status for a process ended by ``signum``: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + int(signum)
