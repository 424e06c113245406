"""ReactionPipeline: frames in, per-frame results and laugh events out.

The pipeline owns one instance of each stage and passes plain data between
them: detections to the tracker, boxes to the smile net, probabilities to the
smoother, events to the sinks. It also decides *when* the expensive full-frame
detection runs (see :class:`PipelineConfig`); between full scans, faces are
re-found only in small regions around the tracks.
"""
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np

from .detector import DetectorConfig, FaceDetector
from .laughs import LaughSmoother, SmootherConfig
from .preprocess import as_bgr
from .sinks import Sink
from .smile import SmileNet
from .tracker import TrackerConfig, ViewerTracker
from .types import Box, Frame, FrameResult, LaughEvent, ReactionError

log = logging.getLogger(__name__)

STAGES = ("detect", "track", "smile", "smooth", "sinks")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that shapes a run.

    ``full_scan_every``: run the cascade over the whole frame every k-th
    frame (1 = every frame). On the frames in between, when
    ``region_redetect`` is on, the cascade runs only in boxes around the known
    viewers, ``region_scale`` times their size, with a face-size band derived
    from those viewers.
    """

    detector: DetectorConfig = DetectorConfig()
    tracker: TrackerConfig = TrackerConfig()
    smoother: SmootherConfig = SmootherConfig()
    model_dir: Optional[str] = None
    full_scan_every: int = 1
    region_redetect: bool = True
    region_scale: float = 2.0

    def validate(self) -> None:
        if self.full_scan_every < 1:
            raise ReactionError("--full-scan-every must be >= 1, got {}".format(self.full_scan_every))
        if self.region_scale < 1.0:
            raise ReactionError("region_scale must be >= 1, got {}".format(self.region_scale))
        self.detector.validate()
        self.tracker.validate()
        self.smoother.validate()


# Named speed/accuracy settings; figures behind them are in benchmarks/results/throughput.md.
PROFILES = {
    "accurate": dict(full_scan_every=1, detect_width=None),
    "balanced": dict(full_scan_every=5, detect_width=640),
    "fast": dict(full_scan_every=10, detect_width=480),
}


def profile_config(name: str, **overrides) -> PipelineConfig:
    """A :class:`PipelineConfig` for a named profile; detector fields may be overridden."""
    if name not in PROFILES:
        raise ReactionError("--profile must be one of {}, got {!r}".format(", ".join(PROFILES), name))
    p = PROFILES[name]
    det = {k: v for k, v in overrides.items() if k in DetectorConfig.__dataclass_fields__}
    rest = {k: v for k, v in overrides.items() if k not in det}
    detector = replace(DetectorConfig(detect_width=p["detect_width"]), **det)
    return replace(PipelineConfig(full_scan_every=p["full_scan_every"], detector=detector), **rest)


class ReactionPipeline:
    """Composes detector, tracker, smile net and smoother; hands events to sinks.

    ``run(frames)`` yields a :class:`FrameResult` per frame and closes every
    open laugh when the frames end. ``events`` holds every event emitted.
    """

    def __init__(
        self,
        config: PipelineConfig = PipelineConfig(),
        sinks: Sequence[Sink] = (),
        smile_net: Optional[SmileNet] = None,
    ) -> None:
        config.validate()
        self.config = config
        self.detector = FaceDetector(config.detector)
        self.tracker = ViewerTracker(config.tracker)
        self.smile_net = smile_net if smile_net is not None else SmileNet.load(config.model_dir)
        self.smoother = LaughSmoother(config.smoother)
        self.sinks = list(sinks)
        self.events = []  # type: List[LaughEvent]
        self.timings = {s: 0.0 for s in STAGES}  # type: Dict[str, float]
        self.frames = 0
        self.bad_frames = 0
        self._visible = set()  # type: set
        self._since_scan = None  # type: Optional[int]

    def _detect(self, image: np.ndarray, time_s: float):
        cfg = self.config
        due = self._since_scan is None or self._since_scan + 1 >= cfg.full_scan_every
        live = [t for t in self.tracker.tracks if t.state != "lost"]
        if due:
            self._since_scan = 0
            return self.detector.detect(image), True
        self._since_scan += 1
        if not cfg.region_redetect or not live:
            return None, False
        regions, sizes = [], []
        for t in live:
            x, y, w, h = t.box
            side = max(w, h)
            grow = side * (cfg.region_scale - 1.0) / 2.0
            regions.append((x - grow, y - grow, side + 2 * grow, side + 2 * grow))
            sizes.append(side)
        band = (max(self.config.detector.min_size, 0.6 * min(sizes)), 1.6 * max(sizes))
        return self.detector.detect(image, regions=regions, size_band=band), True

    def process(self, frame: Frame) -> FrameResult:
        """Run every stage on one frame."""
        image = as_bgr(frame.image)
        t = frame.time_s
        clock = time.perf_counter
        t0 = clock()
        detections, looked = self._detect(image, t)
        t1 = clock()
        if looked:
            tracks = self.tracker.update(detections, t)
        else:
            tracks = self.tracker.predict(t)
        visible = [tr for tr in tracks if tr.confirmed]
        t2 = clock()
        p = self.smile_net.predict(image, [tr.box for tr in visible])
        p_smile = {tr.viewer_id: float(pi) for tr, pi in zip(visible, p)}
        t3 = clock()
        events = self.smoother.update(t, p_smile)
        now_visible = set(p_smile)
        for gone in sorted(self._visible - now_visible):
            ev = self.smoother.close_viewer(gone)
            if ev is not None:
                events.append(ev)
        self._visible = now_visible
        smiling = {vid: self.smoother.laughing(vid) for vid in now_visible}
        t4 = clock()
        self._emit(events)
        t5 = clock()
        for name, dt in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            self.timings[name] += dt
        self.frames += 1
        return FrameResult(
            index=frame.index, time_s=t, tracks=tracks, p_smile=p_smile, smiling=smiling,
            events=events, shape=(image.shape[0], image.shape[1]),
        )

    def _emit(self, events: List[LaughEvent]) -> None:
        for ev in events:
            self.events.append(ev)
            for sink in self.sinks:
                sink.emit(ev)

    def run(self, frames: Iterable[Frame]) -> Iterator[FrameResult]:
        """Process a stream. A bad frame is logged, counted and skipped."""
        try:
            for frame in frames:
                try:
                    result = self.process(frame)
                except ReactionError as e:
                    self.bad_frames += 1
                    log.warning("frame %d skipped: %s", frame.index, e)
                    continue
                yield result
        finally:
            self.finish()

    def finish(self) -> List[LaughEvent]:
        """Close open laughs and flush them to the sinks (idempotent)."""
        events = self.smoother.finish()
        self._visible = set()
        self._emit(events)
        return events

    def close(self) -> None:
        """Close every sink."""
        for sink in self.sinks:
            sink.close()

    def stage_ms(self) -> Dict[str, float]:
        """Mean milliseconds per frame for each stage so far."""
        n = max(self.frames, 1)
        return {k: v * 1000.0 / n for k, v in self.timings.items()}
