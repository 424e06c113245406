"""ReactionPipeline: frames in, per-frame results and laugh events out.

The pipeline owns one instance of each stage and passes plain data between
them: detections to the tracker, boxes to the smile net, probabilities to the
smoother, events to the sinks. It also decides *when* the expensive full-frame
detection runs (see :class:`PipelineConfig`); between full scans, faces are
re-found only in small regions around the tracks.
"""

import collections
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Deque, Dict, Generator, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np

from .boxes import merge_boxes
from .detector import DetectorConfig, FaceDetector
from .laughs import LaughSmoother, SmootherConfig
from .preprocess import as_bgr
from .sinks import Sink
from .smile import SmileNet
from .tracker import TrackerConfig, ViewerTracker
from .types import Box, ConfigError, Detection, Frame, FrameResult, LaughEvent, ReactionError, TrackState

log = logging.getLogger(__name__)

STAGES = ("detect", "track", "smile", "smooth", "sinks")
SCHEDULE = object()  # process(): let the detection schedule decide


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that shapes a run.

    ``full_scan_every``: run the cascade over the whole frame every k-th
    frame (1 = every frame). ``min_face_frac``: smallest face a full scan
    looks for, as a fraction of the frame height (the cascade's cost is
    mostly in its smallest scales; 0 keeps the detector's ``min_size``).

    On the frames in between, when ``region_redetect`` is on, the cascade
    runs only in boxes around the known viewers, ``region_scale`` times their
    size, for faces ``region_band`` (min, max) times their size; each
    confirmed viewer about every ``region_every`` frames, and at most
    ``regions_per_frame`` of them per frame, in turns (0: no cap).
    ``scan_scale_factor`` and ``region_scale_factor`` override the cascade's
    scale step for full scans and for regions (``None``: the detector's).

    ``periodic_scan``: ``(scale step, min neighbours)`` for the every-k-th
    frame scans, which only look for viewers the regions do not follow yet
    (``None``: as the other scans). The first frame's scan and shot-change
    scans, which find everyone from nothing, keep the detector's settings.

    ``cut_threshold``: a frame whose small grey thumbnail differs from the
    previous frame's by more than this mean absolute grey level is a shot
    change, and gets a full scan at once instead of waiting up to
    ``full_scan_every`` frames (0 turns this off).
    """

    detector: DetectorConfig = DetectorConfig()
    tracker: TrackerConfig = TrackerConfig()
    smoother: SmootherConfig = SmootherConfig()
    model_dir: Optional[str] = None
    full_scan_every: int = 1
    region_redetect: bool = True
    region_scale: float = 1.8
    # On the sample clip and the 1080p walkers clip, the band (0.8, 1.3)
    # tracked as many faces as (0.7, 1.45), at 17% less time per region.
    region_band: Tuple[float, float] = (0.8, 1.3)
    min_face_frac: float = 0.0
    scan_scale_factor: Optional[float] = None
    region_scale_factor: Optional[float] = None
    periodic_scan: Optional[Tuple[float, int]] = None
    regions_per_frame: int = 6
    region_every: int = 1
    # On the sample clip the three cuts differ by 27-30 grey levels; no other
    # frame there, in the 1080p walkers clip or in the synthetic audience
    # differs by more than 14.
    cut_threshold: float = 20.0
    # Full scans on a worker thread. Off by default: OpenCV already spreads
    # one cascade run over both cores here, and over three runs of the levers
    # benchmark the worker changed balanced by -14% to +4% at 1080p and +1% to
    # +10% on the sample clip: no clear gain (benchmarks/results/throughput.md).
    threaded: bool = False

    def validate(self) -> None:
        if self.full_scan_every < 1:
            raise ConfigError("PipelineConfig", "full_scan_every must be >= 1, got {}".format(self.full_scan_every))
        if self.region_every < 1:
            raise ConfigError("PipelineConfig", "region_every must be >= 1, got {}".format(self.region_every))
        if self.cut_threshold < 0:
            raise ConfigError("PipelineConfig", "cut_threshold must be >= 0, got {}".format(self.cut_threshold))
        if self.region_scale < 1.0:
            raise ConfigError("PipelineConfig", "region_scale must be >= 1, got {}".format(self.region_scale))
        if not 0.0 < self.region_band[0] < self.region_band[1]:
            raise ConfigError(
                "PipelineConfig", "region_band must be (min, max) with 0 < min < max, got {}".format(self.region_band)
            )
        if self.periodic_scan is not None and not (self.periodic_scan[0] > 1.0 and self.periodic_scan[1] >= 0):
            raise ConfigError(
                "PipelineConfig",
                "periodic_scan must be (scale step > 1, min neighbours >= 0), got {}".format(self.periodic_scan),
            )
        if not 0.0 <= self.min_face_frac < 1.0:
            raise ConfigError("PipelineConfig", "min_face_frac must be in [0, 1), got {}".format(self.min_face_frac))
        for name in ("scan_scale_factor", "region_scale_factor"):
            value = getattr(self, name)
            if value is not None and not value > 1.0:
                raise ConfigError("PipelineConfig", "{} must be > 1.0, got {}".format(name, value))
        self.detector.validate()
        self.tracker.validate()
        self.smoother.validate()


# Named speed/accuracy settings; the figures behind them are in
# benchmarks/results/throughput.md. Detector fields go to DetectorConfig, the
# rest to PipelineConfig. Periodic scans at step 1.2 with 2 neighbours take
# about 60% of the time of a first or cut scan (step 1.1, 5 neighbours), and
# kept every viewer on the three benchmark clips; with 3 neighbours the sample
# clip lost one of its four viewers.
PROFILES: Dict[str, Dict[str, Any]] = {
    "accurate": dict(full_scan_every=1, detect_width=None, min_face_frac=0.0, region_redetect=False),
    "balanced": dict(
        full_scan_every=50,
        detect_width=1280,
        min_face_frac=0.04,
        region_redetect=True,
        region_every=2,
        periodic_scan=(1.2, 2),
    ),
    "fast": dict(
        full_scan_every=100,
        detect_width=960,
        min_face_frac=0.04,
        region_redetect=True,
        region_every=3,
        regions_per_frame=4,
        periodic_scan=(1.2, 2),
    ),
}


def profile_config(name: str, **overrides) -> PipelineConfig:
    """A :class:`PipelineConfig` for a named profile, with fields overridden.

    Detector fields (``min_size``, ``detect_width``...) may be overridden
    directly, as may any :class:`PipelineConfig` field.
    """
    if name not in PROFILES:
        raise ConfigError("profile_config", "profile must be one of {}, got {!r}".format(", ".join(PROFILES), name))
    settings = dict(PROFILES[name], **overrides)
    det = {k: v for k, v in settings.items() if k in DetectorConfig.__dataclass_fields__}
    rest = {k: v for k, v in settings.items() if k not in det}
    return replace(PipelineConfig(detector=replace(DetectorConfig(), **det)), **rest)


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
        self.events: List[LaughEvent] = []
        self.timings: Dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self.frames = 0
        self.bad_frames = 0
        self._visible: Set[int] = set()
        self._since_scan: Optional[int] = None
        self._thumb: Optional[np.ndarray] = None
        self._region_turn = 0
        self._region_credit = 0.0

    def _plan_scan(self, image: np.ndarray) -> Optional[str]:
        """Why this frame gets a full-frame scan, or ``None``.

        ``"first"``, ``"cut"`` (a shot change) or ``"periodic"`` (every k-th frame).
        """
        since = self._since_scan
        reason: Optional[str]
        if since is None:
            reason = "first"
        elif since + 1 >= self.config.full_scan_every:
            reason = "periodic"
        else:
            reason = None
        cuts = self.config.cut_threshold and self.config.full_scan_every > 1
        if cuts and self._is_cut(image) and reason != "first":
            reason = "cut"
        self._since_scan = 0 if reason or since is None else since + 1
        return reason

    def _is_cut(self, image: np.ndarray) -> bool:
        # A strided ~64 px wide grey thumbnail: about 0.05 ms even at 1080p.
        step = max(1, image.shape[1] // 64)
        small = image[::step, ::step]
        if small.ndim == 3:
            small = small[:, :, :3].mean(axis=2)
        small = small.astype(np.float32)
        previous, self._thumb = self._thumb, small
        if previous is None or previous.shape != small.shape:
            return previous is not None
        return float(np.mean(np.abs(small - previous))) > self.config.cut_threshold

    def _scan(self, image: np.ndarray, reason: str) -> List[Detection]:
        """Full-frame detection with the profile's face-size floor."""
        cfg = self.config
        lo = max(cfg.detector.min_size, cfg.min_face_frac * image.shape[0])
        step, neighbours = cfg.scan_scale_factor, None
        if reason == "periodic" and cfg.periodic_scan is not None:
            step, neighbours = cfg.periodic_scan
        return self.detector.detect(
            image, size_band=(lo, cfg.detector.max_size), scale_factor=step, min_neighbors=neighbours
        )

    def _timed_scan(self, image: np.ndarray, reason: str) -> List[Detection]:
        start = time.perf_counter()
        found = self._scan(image, reason)
        self.timings["detect"] += time.perf_counter() - start
        return found

    def _redetect(self, image: np.ndarray) -> Optional[List[Detection]]:
        """Faces near the known viewers only, or ``None`` to coast on the filter.

        Each viewer gets a region ``region_scale`` times its box and a face-size
        band of ``region_band`` times its size: with 0.8 to 1.3, one region
        costs about 4 ms on the walkers clip's faces (0.7 to 1.45: 4.6 ms), and
        the band still follows someone leaning in or out.
        """
        cfg = self.config
        live = [t for t in self.tracker.tracks if t.state is not TrackState.LOST]
        if not cfg.region_redetect or not live:
            return None
        # Staggered: every tentative track (a missed pass deletes it), then the
        # confirmed ones in turns, each about every ``region_every`` frames and
        # at most ``regions_per_frame`` per frame; a confirmed viewer not looked
        # at on this frame just coasts on its filter. The fractional credit
        # makes one viewer alternate frames, and five take 2, 3, 2, 3...
        tentative = [t for t in live if t.state is TrackState.TENTATIVE]
        confirmed = [t for t in live if t.state is TrackState.CONFIRMED]
        self._region_credit += len(confirmed) / float(cfg.region_every)
        budget = int(self._region_credit)
        if cfg.regions_per_frame:
            budget = min(budget, cfg.regions_per_frame)
        budget = min(budget, len(confirmed))
        self._region_credit = min(self._region_credit - budget, 1.0)
        if budget < len(confirmed):
            start = self._region_turn % len(confirmed) if confirmed else 0
            confirmed = (confirmed[start:] + confirmed[:start])[:budget]
            self._region_turn += budget
        if not tentative and not confirmed:
            return None
        found: List[Box] = []
        for t in tentative + confirmed:
            x, y, w, h = t.box
            side = max(w, h)
            grow = side * (cfg.region_scale - 1.0) / 2.0
            region = (x - grow, y - grow, side + 2 * grow, side + 2 * grow)
            band = (max(cfg.detector.min_size, cfg.region_band[0] * side), cfg.region_band[1] * side)
            found.extend(
                d.box
                for d in self.detector.detect(
                    image, regions=[region], size_band=band, scale_factor=cfg.region_scale_factor
                )
            )
        return [Detection(box=b) for b in merge_boxes(found)]

    def process(self, frame: Frame, scan=SCHEDULE) -> FrameResult:
        """Run every stage on one frame.

        ``scan`` is for :meth:`run`, which scans ahead on a worker thread: the
        full-frame detections of this frame, or ``None`` when it is not a scan
        frame. By default the schedule is consulted here.
        """
        image = as_bgr(frame.image)
        t = frame.time_s
        clock = time.perf_counter
        t0 = clock()
        if scan is SCHEDULE:
            reason = self._plan_scan(image)
            scan = self._scan(image, reason) if reason else None
        detections: Optional[List[Detection]] = scan if scan is not None else self._redetect(image)
        t1 = clock()
        if detections is not None:
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
            index=frame.index,
            time_s=t,
            tracks=tracks,
            p_smile=p_smile,
            smiling=smiling,
            events=events,
            shape=(image.shape[0], image.shape[1]),
            image=image,
        )

    def _emit(self, events: List[LaughEvent]) -> None:
        for ev in events:
            self.events.append(ev)
            for sink in self.sinks:
                sink.emit(ev)

    def run(self, frames: Iterable[Frame]) -> Generator[FrameResult, None, None]:
        """Process a stream. A bad frame is logged, counted and skipped.

        Full-frame scans run on a worker thread (OpenCV releases the GIL)
        while this thread decodes the next frames and holds them, up to
        ``2 * full_scan_every`` frames; frames are still processed strictly in
        order, so results are identical to calling :meth:`process` per frame.
        """
        pool = ThreadPoolExecutor(1, thread_name_prefix="reaction-detect") if self.config.threaded else None
        # (frame, future of the full scan or None)
        held: "Deque[Tuple[Frame, Optional[Future[List[Detection]]]]]" = collections.deque()
        max_held = 2 * self.config.full_scan_every
        try:
            for frame in frames:
                try:
                    image = as_bgr(frame.image)
                except ReactionError as e:
                    self.bad_frames += 1
                    log.warning("frame %d skipped: %s", frame.index, e)
                    continue
                if image is not frame.image:
                    frame = Frame(frame.index, frame.time_s, image)
                if pool is None:
                    yield self.process(frame)
                    continue
                reason = self._plan_scan(image)
                future = pool.submit(self._timed_scan, image, reason) if reason else None
                held.append((frame, future))
                while held and (held[0][1] is None or held[0][1].done() or len(held) > max_held):
                    yield self._process_held(held.popleft())
            while held:
                yield self._process_held(held.popleft())
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
            self.finish()

    def _process_held(self, item: "Tuple[Frame, Optional[Future[List[Detection]]]]") -> FrameResult:
        frame, future = item
        return self.process(frame, scan=None if future is None else future.result())

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
