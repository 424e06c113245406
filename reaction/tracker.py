"""Viewer tracking: one Kalman filter per face, Hungarian assignment in two stages.

The shape follows SORT (``update``: predict, associate, update, create,
prune), with changes an audience and real face tracks need:

* time is in seconds, so the filter and the lifecycle do not depend on the
  frame rate or on frames skipped by the detection schedule;
* a lost viewer is remembered, frozen in place, for ``max_lost_s`` seconds, so
  that someone who ducks behind a passer-by or turns away comes back with the
  same id; a face that was moving fast when it was lost (a passer-by) is
  forgotten, as it will not reappear at that spot;
* a second, looser association stage (centre distance relative to face size,
  as in ByteTrack / OC-SORT recovery) gives a detection that missed every IoU
  gate to a coasting or lost track nearby before a new id is made;
* a coasting box is reported only while it stays near its last detection;
* ids come from a counter owned by the tracker instance, never a class global.

The defaults were measured with ``python -m benchmarks.tracking_ltft`` (real
face tracks) and ``python -m benchmarks.accuracy`` (a seated audience).
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from filterpy.common import Q_discrete_white_noise
from filterpy.kalman import KalmanFilter
from scipy.optimize import linear_sum_assignment

from .boxes import iou_matrix
from .types import Box, ConfigError, Detection, ReactionError, Track, TrackState

TENTATIVE, CONFIRMED, LOST = TrackState.TENTATIVE, TrackState.CONFIRMED, TrackState.LOST
_FORBIDDEN = 1e6  # assignment cost of a pair outside the gate
_LOST_PENALTY = 0.05  # so a live track wins a tie with a lost one


@dataclass(frozen=True)
class TrackerConfig:
    """Lifecycle and matching parameters.

    Attributes:
        min_hits: matched detections before a tentative track is confirmed.
        min_iou: stage-1 gate; a detection and a track with lower IoU do not
            match by overlap.
        recover_dist: stage-2 gate: a coasting or lost track may take a
            detection left over by stage 1 whose centre is within this many
            face sizes (``sqrt(w * h)``, mean of the two) of its box's centre.
        recover_size: stage-2 gate on the ratio of the two face sizes.
        coast_s: a confirmed track keeps its state this long without a
            detection (a missed detection is not an exit).
        coast_shift: a coasting box is reported while its centre is within
            this many face widths of the last detection.
        max_lost_s: after ``coast_s`` the track is lost (not reported) but can
            still be re-matched; after this long it is deleted.
        forget_speed: a track moving faster than this (face widths per second)
            when it would be lost is deleted instead.
        position_noise: measurement std as a fraction of the box width.
        accel_noise: process noise, box widths per second squared.
    """

    min_hits: int = 3
    min_iou: float = 0.2
    recover_dist: float = 1.4
    recover_size: float = 1.5
    coast_s: float = 0.5
    coast_shift: float = 0.25
    max_lost_s: float = 15.0
    forget_speed: float = 3.0
    position_noise: float = 0.05
    accel_noise: float = 8.0

    def validate(self) -> None:
        def bad(problem: str) -> ConfigError:
            return ConfigError("TrackerConfig", problem)

        if self.min_hits < 1:
            raise bad("min_hits must be >= 1, got {}".format(self.min_hits))
        if not 0.0 < self.min_iou < 1.0:
            raise bad("min_iou must be in (0, 1), got {}".format(self.min_iou))
        if self.recover_dist < 0 or self.recover_size < 1.0:
            raise bad(
                "recover_dist must be >= 0 and recover_size >= 1, got {} and {}".format(
                    self.recover_dist, self.recover_size
                )
            )
        if self.coast_s < 0 or self.max_lost_s < self.coast_s:
            raise bad("max_lost_s must be >= coast_s, both >= 0; got {} and {}".format(self.max_lost_s, self.coast_s))
        if self.coast_shift < 0 or self.forget_speed <= 0:
            raise bad(
                "coast_shift must be >= 0 and forget_speed > 0, got {} and {}".format(
                    self.coast_shift, self.forget_speed
                )
            )


def _new_filter(box: Box, config: TrackerConfig) -> KalmanFilter:
    """A constant-velocity filter for one face.

    State ``x`` (8x1): ``[cx, cy, w, h, vcx, vcy, vw, vh]``, centre and size in
    pixels, velocities in pixels per second.

    ``F`` (8x8): identity with ``dt`` on the position-velocity blocks, set per
    step because frames are not evenly spaced once detection is scheduled.
    ``H`` (4x8): picks ``[cx, cy, w, h]``; a detector gives exactly those.
    ``R`` (4x4): diagonal, ``(position_noise * w)^2``: detector jitter grows
    with face size, so noise is relative, which keeps small faces at the back
    of the room from being over-smoothed.
    ``Q`` (8x8): discrete white-noise acceleration per coordinate, scaled by
    ``w^2`` for the same reason; set in :meth:`ViewerTracker._predict`.
    ``P`` (8x8): position std of one measurement, velocities unknown (large).
    """
    x, y, w, h = box
    kf = KalmanFilter(dim_x=8, dim_z=4)
    kf.x = np.array([[x + w / 2.0], [y + h / 2.0], [w], [h], [0.0], [0.0], [0.0], [0.0]])
    kf.H = np.eye(4, 8)
    s = config.position_noise * w
    kf.R = np.eye(4) * s * s
    kf.P = np.diag([s * s] * 4 + [(2.0 * w) ** 2] * 4)
    return kf


class _Viewer:
    """Mutable per-track bookkeeping behind the public, frozen :class:`Track`.

    ``anchor`` (3,): ``[cx, cy, w]`` of the filter just after the last matched
    detection, for :attr:`TrackerConfig.coast_shift`. ``misses``: detection
    passes in a row without a match.
    """

    __slots__ = ("viewer_id", "kf", "hits", "misses", "last_seen_s", "state", "detection", "anchor")

    def __init__(self, viewer_id: int, kf: KalmanFilter, time_s: float) -> None:
        self.viewer_id = viewer_id
        self.kf = kf
        self.hits = 1
        self.misses = 0
        self.last_seen_s = time_s
        self.state = TENTATIVE
        self.detection: Optional[int] = None
        self.anchor = kf.x[:3, 0].copy()

    def box(self) -> Box:
        cx, cy, w, h = self.kf.x[:4, 0]
        w, h = max(w, 1.0), max(h, 1.0)
        return (float(cx - w / 2.0), float(cy - h / 2.0), float(w), float(h))

    def speed(self) -> float:
        """Centre speed in face widths per second."""
        return float(np.hypot(self.kf.x[4, 0], self.kf.x[5, 0])) / max(float(self.kf.x[2, 0]), 1.0)

    def shift(self) -> float:
        """How far the box has been extrapolated from the last detection, in face widths."""
        return float(np.hypot(*(self.kf.x[:2, 0] - self.anchor[:2]))) / max(float(self.anchor[2]), 1.0)


class ViewerTracker:
    """Gives each face a persistent viewer id. One call: ``tracker.update(...)``.

    After each update, :attr:`assignment` maps detection index to viewer id.
    """

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        config.validate()
        self.config = config
        self._next_id = 1
        self._viewers: List[_Viewer] = []
        self._last_time: Optional[float] = None
        self._q_cache: Dict[float, np.ndarray] = {}
        self.assignment: Dict[int, int] = {}

    def _unit_q(self, dt: float) -> np.ndarray:
        key = round(dt, 4)
        q = self._q_cache.get(key)
        if q is None:
            q = Q_discrete_white_noise(dim=2, dt=key, var=self.config.accel_noise**2, block_size=4, order_by_dim=False)
            if len(self._q_cache) > 64:  # irregular clocks: keep the cache bounded
                self._q_cache.clear()
            self._q_cache[key] = q
        return q

    def _predict(self, dt: float) -> None:
        if dt <= 0:
            return
        F = np.eye(8)
        F[0, 4] = F[1, 5] = F[2, 6] = F[3, 7] = dt
        q = self._unit_q(dt)
        for v in self._viewers:
            if v.state is LOST:
                continue  # frozen: a seated viewer comes back where they left
            if v.misses:
                # Box sizes jitter by several per cent a frame, so their rate is
                # mostly noise: extrapolated, it shrinks or swells a coasting box
                # out of every gate. The centre keeps its velocity.
                v.kf.x[6:] = 0.0
            w = max(float(v.kf.x[2, 0]), 1.0)
            v.kf.predict(F=F, Q=q * (w * w))

    def _advance(self, time_s: float) -> None:
        dt = 0.0 if self._last_time is None else time_s - self._last_time
        if dt < 0:
            raise ReactionError("frame time went backwards: {} after {}".format(time_s, self._last_time))
        self._last_time = time_s
        self._predict(dt)

    def predict(self, time_s: float) -> List[Track]:
        """Advance to ``time_s`` on a frame where detection did not run.

        Boxes move by the filter alone; a track is not penalised for a
        detection that nobody looked for.
        """
        self._advance(time_s)
        self.assignment = {}
        for v in self._viewers:
            v.detection = None
        return self._age(time_s, detection_pass=False)

    def update(self, detections: Sequence[Detection], time_s: float) -> List[Track]:
        """Advance to ``time_s`` and fold in this frame's detections.

        Returns the tentative and confirmed tracks; lost ones are kept
        internally for re-identification but not reported, nor are coasting
        boxes that have drifted more than ``coast_shift`` from their last
        detection.
        """
        cfg = self.config
        self._advance(time_s)  # predict

        boxes = np.array([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
        pairs = self._associate(boxes)

        self.assignment = {}
        for v in self._viewers:
            v.detection = None
            v.misses += 1
        for ti, di in pairs:
            v = self._viewers[ti]
            x, y, w, h = boxes[di]
            if v.state is LOST:
                v.kf.x[4:] = 0.0  # old velocity is meaningless after a long gap
            s = cfg.position_noise * w
            v.kf.update(np.array([[x + w / 2.0], [y + h / 2.0], [w], [h]]), R=np.eye(4) * (s * s))
            v.hits += 1
            v.misses = 0
            v.last_seen_s = time_s
            v.detection = di
            v.anchor = v.kf.x[:3, 0].copy()
            if v.state is LOST or (v.state is TENTATIVE and v.hits >= cfg.min_hits):
                v.state = CONFIRMED
            self.assignment[di] = v.viewer_id

        matched = {di for _, di in pairs}
        for di in range(len(boxes)):
            if di in matched:
                continue
            v = _Viewer(self._next_id, _new_filter(tuple(boxes[di]), cfg), time_s)
            self._next_id += 1
            v.detection = di
            if cfg.min_hits <= 1:
                v.state = CONFIRMED
            self._viewers.append(v)
            self.assignment[di] = v.viewer_id
        return self._age(time_s, detection_pass=True)  # prune

    def _age(self, time_s: float, detection_pass: bool) -> List[Track]:
        cfg = self.config
        kept = []
        for v in self._viewers:
            gap = time_s - v.last_seen_s
            if v.state is TENTATIVE and gap > 0 and (detection_pass or gap > cfg.coast_s):
                continue  # a tentative track that misses a detection pass was noise
            if v.state is CONFIRMED and gap > cfg.coast_s:
                if v.speed() > cfg.forget_speed:
                    continue  # a passer-by: frozen here, it would only steal the next face to pass
                v.state = LOST
                v.kf.x[4:] = 0.0
            if v.state is LOST and gap > cfg.max_lost_s:
                continue
            kept.append(v)
        self._viewers = kept
        return [
            Track(v.viewer_id, v.box(), v.state, v.hits, v.detection)
            for v in self._viewers
            if v.state is TENTATIVE
            or (v.state is CONFIRMED and (v.detection is not None or v.shift() <= cfg.coast_shift))
        ]

    def _associate(self, boxes: np.ndarray) -> List[Tuple[int, int]]:
        """``(track index, detection index)`` pairs, each index at most once.

        Stage 1, on IoU, in two rounds (DeepSORT's matching cascade): tracks
        matched on the last detection pass pick first, then the coasting and
        lost ones, so a coasting box drifting over a live viewer never takes
        that viewer's face. Stage 2 offers what is left to the confirmed and
        lost tracks left over, on centre distance: a coasting box a little off
        (a walker turning, a face that grew while hidden) no longer overlaps
        its face, but is still nearer to it than any other track.
        """
        cfg = self.config
        if not self._viewers or not len(boxes):
            return []
        predicted = np.array([v.box() for v in self._viewers])  # (N, 4) xywh
        penalty = np.array([_LOST_PENALTY if v.state is LOST else 0.0 for v in self._viewers])  # (N,)

        iou = iou_matrix(predicted, boxes)  # (N, M)
        by_overlap = np.where(iou >= cfg.min_iou, 1.0 - iou + penalty[:, None], _FORBIDDEN)  # (N, M)
        size_t = np.sqrt(predicted[:, 2] * predicted[:, 3])  # (N,)
        size_d = np.sqrt(boxes[:, 2] * boxes[:, 3])  # (M,)
        centre_t = predicted[:, :2] + predicted[:, 2:] / 2.0  # (N, 2)
        centre_d = boxes[:, :2] + boxes[:, 2:] / 2.0  # (M, 2)
        dist = np.linalg.norm(centre_t[:, None, :] - centre_d[None, :, :], axis=2)  # (N, M) pixels
        dist /= (size_t[:, None] + size_d[None, :]) / 2.0  # (N, M) face sizes
        ratio = np.maximum(size_t[:, None] / size_d[None, :], size_d[None, :] / size_t[:, None])  # (N, M)
        near = (dist <= cfg.recover_dist) & (ratio <= cfg.recover_size)
        by_distance = np.where(near, dist + penalty[:, None], _FORBIDDEN)  # (N, M)

        pairs: List[Tuple[int, int]] = []
        seen = [i for i, v in enumerate(self._viewers) if not v.misses]
        unseen = [i for i, v in enumerate(self._viewers) if v.misses]
        recoverable = [i for i, v in enumerate(self._viewers) if v.state is not TENTATIVE]
        for cost, tracks in ((by_overlap, seen), (by_overlap, unseen), (by_distance, recoverable)):
            taken_t, taken_d = {t for t, _ in pairs}, {d for _, d in pairs}
            ts = [t for t in tracks if t not in taken_t]
            ds = [d for d in range(len(boxes)) if d not in taken_d]
            if not ts or not ds:
                continue
            sub = cost[np.ix_(ts, ds)]  # (T, D)
            rows, cols = linear_sum_assignment(sub)
            pairs += [(ts[r], ds[c]) for r, c in zip(rows, cols) if sub[r, c] < _FORBIDDEN]
        return pairs

    @property
    def tracks(self) -> List[Track]:
        """Every live track, lost ones included."""
        return [Track(v.viewer_id, v.box(), v.state, v.hits, v.detection) for v in self._viewers]

    def bridge(self, gap_s: float) -> None:
        """Carry every viewer over ``gap_s`` seconds in which no frames came (a camera stream drop).

        The camera was away, not the viewers: they must neither age towards
        deletion nor be forgotten as fast movers. The tracker's clock moves on
        as if the gap had not been.
        """
        for v in self._viewers:
            v.last_seen_s += gap_s
        if self._last_time is not None:
            self._last_time += gap_s

    def reset(self) -> None:
        """Forget every viewer, as after a cut to another view; new viewers get new ids."""
        self._viewers = []
        self.assignment = {}
