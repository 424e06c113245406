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
from typing import Deque, Dict, Generator, Iterable, List, NamedTuple, Optional, Sequence, Set, Tuple

import numpy as np

from .align import ViewerLandmarks
from .boxes import iou_matrix, merge_boxes
from .detector import make_detector
from .facecheck import FaceCheck, FaceGate
from .laughs import LaughSmoother
from .preprocess import as_bgr
from .profiles import PROFILES, PipelineConfig, profile_config
from .sinks import Sink
from .smile import SmileNet, SmileRate
from .stillness import STILL, StillViewers
from .tracker import ViewerTracker
from .types import Box, Detection, Frame, FrameResult, LaughEvent, ReactionError, Track, TrackState

log = logging.getLogger(__name__)

# The configs live in reaction.profiles; they are named here too, where callers have always found them.
__all__ = ["PROFILES", "STAGES", "PipelineConfig", "ReactionPipeline", "profile_config"]

STAGES = ("detect", "track", "faces", "smile", "smooth", "sinks")
SCHEDULE = object()  # process(): let the detection schedule decide


class _Scan(NamedTuple):
    """A full-frame scan done ahead on the worker thread, and why it ran."""

    found: List[Detection]
    reason: str


class _Followed(NamedTuple):
    """One frame after detection and tracking, ready for the smile stage."""

    frame_index: int
    time_s: float
    image: np.ndarray
    tracks: List[Track]
    visible: List[Track]
    gap_s: float = 0.0  # a live stream's gap before this frame
    landmarks: Optional[Dict[int, np.ndarray]] = None  # viewer_id -> (5, 2), to align smile crops


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
        self.detector = make_detector(config.detector)
        self.tracker = ViewerTracker(config.tracker)
        self.smile_net = smile_net if smile_net is not None else SmileNet.load(config.model_dir)
        self.smoother = LaughSmoother(config.smoother)
        # YuNet's own detections need no second opinion from YuNet: a track only lives on them.
        gated = config.face_check and config.detector.kind != "yunet"
        self.faces = FaceGate(FaceCheck(), config.face_check_every_s, config.face_check_misses) if gated else None
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
        self.smile_rate = SmileRate(self.smile_net, config.smile_hz)
        self.marks = ViewerLandmarks()
        self.still = StillViewers(config.still_threshold, config.still_max_s) if config.still_threshold > 0 else None

    def _plan_scan(self, image: np.ndarray) -> Optional[str]:
        """Why this frame gets a full-frame scan, or ``None``.

        ``"first"``, ``"cut"`` (a shot change) or ``"periodic"`` (every k-th frame).
        """
        since = self._since_scan
        periodic = since is not None and since + 1 >= self.config.full_scan_every
        reason: Optional[str] = "first" if since is None else "periodic" if periodic else None
        if self.config.cut_threshold and self._is_cut(image) and reason != "first":
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
        # Contrast-normalised, so that the room getting brighter or darker with the film is no cut.
        small = (small - small.mean()) / max(float(small.std()), 1.0)
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

    def _timed_scan(self, image: np.ndarray, reason: str) -> "_Scan":
        start = time.perf_counter()
        found = self._scan(image, reason)
        self.timings["detect"] += time.perf_counter() - start
        return _Scan(found, reason)

    def _redetect(self, image: np.ndarray, now: float) -> Optional[List[Detection]]:
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
        still: List[Box] = []
        if self.still is not None:
            # A seated viewer whose face has not changed since it was last
            # detected is still there: its last box stands in for a detection,
            # and the region search is spent on the viewers who moved.
            moved = []
            for t in confirmed:
                box = self.still.box(image, t, now)
                if box is None:
                    moved.append(t)
                else:
                    still.append(box)
            confirmed = moved
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
            return [Detection(box=b, score=STILL) for b in still] if still else None
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
        real = merge_boxes(found)
        if still and real:
            # A face found for real beats a still box on it: with both, one face would feed two viewers.
            overlap = iou_matrix(np.asarray(still, dtype=float), np.asarray(real, dtype=float)).max(axis=1)
            still = [b for b, o in zip(still, overlap) if o < 0.3]
        return [Detection(box=b) for b in real] + [Detection(box=b, score=STILL) for b in still]

    def process(self, frame: Frame, scan=SCHEDULE) -> FrameResult:
        """Run every stage on one frame.

        ``scan`` is for :meth:`run`, which scans ahead on a worker thread: the
        full-frame scan of this frame, or ``None`` when it is not a scan frame.
        By default the schedule is consulted here.
        """
        return self._deliver(self._score_frame(self._follow(frame, scan)))

    def _deliver(self, result: FrameResult) -> FrameResult:
        """The frame's events to the sinks, always on the caller's thread (an IoT spool is SQLite)."""
        start = time.perf_counter()
        self._emit(result.events)
        self.timings["sinks"] += time.perf_counter() - start
        return result

    def _follow(self, frame: Frame, scan=SCHEDULE) -> "_Followed":
        """The first half of a frame: detection, tracking and the face check."""
        image = as_bgr(frame.image)
        t = frame.time_s
        if frame.gap_s > 0:
            self._bridge(frame.gap_s)
        clock = time.perf_counter
        t0 = clock()
        cut = False
        if scan is SCHEDULE:
            reason = self._plan_scan(image)
            cut = reason == "cut"
            scan = self._scan(image, reason) if reason else None
        elif isinstance(scan, _Scan):
            scan, cut = scan.found, scan.reason == "cut"
        if cut:
            # Another view: the people on screen before are not the ones here. Their tracks would
            # otherwise coast over the new faces and take them over (seen on the sample clip).
            self.tracker.reset()
            if self.still is not None:
                self.still.reset()
            self.marks.reset()
        detections: Optional[List[Detection]] = scan if scan is not None else self._redetect(image, t)
        t1 = clock()
        if detections is not None:
            tracks = self.tracker.update(detections, t)
            if self.still is not None:
                self.still.remember(image, detections, tracks, (tr.viewer_id for tr in self.tracker.tracks), t)
        else:
            tracks = self.tracker.predict(t)
        visible = [tr for tr in tracks if tr.confirmed]
        t2 = clock()
        if self.faces is not None:
            faces = self.faces.update(image, visible, t)
            self.faces.forget({tr.viewer_id for tr in self.tracker.tracks})
            # A confirmed track that is not a face is no viewer: not reported, never scored.
            tracks = [tr for tr in tracks if not tr.confirmed or tr.viewer_id in faces]
            visible = [tr for tr in visible if tr.viewer_id in faces]
        t3 = clock()
        for name, dt in (("detect", t1 - t0), ("track", t2 - t1), ("faces", t3 - t2)):
            self.timings[name] += dt
        marks = self.marks.follow(tracks, detections, visible) if self.smile_net.spec.template is not None else None
        # Counted on this side, where frames arrive in order, whichever thread scores them.
        self.frames += 1
        return _Followed(frame.index, t, image, tracks, visible, frame.gap_s, marks)

    def _score_frame(self, followed: "_Followed") -> FrameResult:
        """The second half: smile scores and laughs. Touches nothing the first half does."""
        image, t, visible = followed.image, followed.time_s, followed.visible
        clock = time.perf_counter
        t3 = clock()
        p_smile = self.smile_rate.scores(image, visible, t, followed.landmarks)
        t4 = clock()
        events: List[LaughEvent] = []
        if followed.gap_s > 0:
            # A live stream was away: the open laughs end where it went.
            events = self.smoother.finish()
            self._visible = set()
        events += self.smoother.update(t, p_smile)
        now_visible = set(p_smile)
        for gone in sorted(self._visible - now_visible):
            ev = self.smoother.close_viewer(gone)
            if ev is not None:
                events.append(ev)
        self._visible = now_visible
        smiling = {vid: self.smoother.laughing(vid) for vid in now_visible}
        t5 = clock()
        for name, dt in (("smile", t4 - t3), ("smooth", t5 - t4)):
            self.timings[name] += dt
        return FrameResult(
            index=followed.frame_index,
            time_s=t,
            tracks=followed.tracks,
            p_smile=p_smile,
            smiling=smiling,
            events=events,
            shape=(image.shape[0], image.shape[1]),
            image=image,
        )

    def _bridge(self, gap_s: float) -> None:
        # A live stream was away for gap_s. Within max_lost_s the viewers keep their
        # ids; past it the tracker would have forgotten them. (Laughs end in _score_frame.)
        if gap_s > self.config.tracker.max_lost_s:
            self.tracker.reset()
        else:
            self.tracker.bridge(gap_s)

    def _emit(self, events: List[LaughEvent]) -> None:
        for ev in events:
            self.events.append(ev)
            for sink in self.sinks:
                sink.emit(ev)

    def run(self, frames: Iterable[Frame]) -> Generator[FrameResult, None, None]:
        """Process a stream. A bad frame is logged, counted and skipped.

        With ``smile_worker``, a frame's smile scores and laughs run on a
        second thread while this one detects and tracks the next frame (the
        sinks get the events on this thread, frame by frame); with
        ``threaded``, full-frame scans run ahead on a worker thread. Frames
        still pass every stage strictly in order, so the results are identical
        to calling :meth:`process` per frame, whatever the timing.
        """
        smile_pool = ThreadPoolExecutor(1, thread_name_prefix="reaction-smile") if self.config.smile_worker else None
        scoring: "Optional[Future[FrameResult]]" = None  # frame n, scored while frame n + 1 is followed
        try:
            for followed in self._follow_all(frames):
                if smile_pool is None:
                    yield self._deliver(self._score_frame(followed))
                    continue
                if scoring is not None:
                    result = scoring.result()
                    scoring = None
                    # Nothing in flight while the caller holds a result: stopped here, nothing scored is lost.
                    yield self._deliver(result)
                scoring = smile_pool.submit(self._score_frame, followed)
            if scoring is not None:
                result, scoring = scoring.result(), None
                yield self._deliver(result)
        except BaseException as stop:
            # Ctrl-C, SIGTERM or an error while the source or the detector ran: the
            # frame being scored is finished and handed over before the stop goes on.
            if scoring is not None and not isinstance(stop, GeneratorExit):
                result, scoring = scoring.result(), None
                yield self._deliver(result)
            raise
        finally:
            if smile_pool is not None:
                smile_pool.shutdown(wait=True)
            self.finish()

    def _follow_all(self, frames: Iterable[Frame]) -> Generator["_Followed", None, None]:
        """Frames through detection and tracking, bad frames skipped, scans ahead when ``threaded``."""
        pool = ThreadPoolExecutor(1, thread_name_prefix="reaction-detect") if self.config.threaded else None
        # (frame, future of the full scan or None)
        held: "Deque[Tuple[Frame, Optional[Future[_Scan]]]]" = collections.deque()
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
                    frame = Frame(frame.index, frame.time_s, image, frame.gap_s)
                if pool is None:
                    yield self._follow(frame)
                    continue
                reason = self._plan_scan(image)
                future = pool.submit(self._timed_scan, image, reason) if reason else None
                held.append((frame, future))
                while held and (held[0][1] is None or held[0][1].done() or len(held) > max_held):
                    yield self._follow_held(held.popleft())
            while held:
                yield self._follow_held(held.popleft())
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

    def _follow_held(self, item: "Tuple[Frame, Optional[Future[_Scan]]]") -> "_Followed":
        return self._follow(item[0], scan=None if item[1] is None else item[1].result())

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
