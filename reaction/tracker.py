"""Viewer tracking: one Kalman filter per face, Hungarian assignment on IoU.

The shape follows SORT, with three changes an audience needs:

* time is in seconds, so the filter and the lifecycle do not depend on the
  frame rate or on frames skipped by the detection schedule;
* a lost viewer is remembered, frozen in place, for ``max_lost_s`` seconds, so
  that someone who ducks behind a passer-by or leaves their seat briefly comes
  back with the same id;
* ids come from a counter owned by the tracker instance, never a class global.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
from filterpy.common import Q_discrete_white_noise
from filterpy.kalman import KalmanFilter
from scipy.optimize import linear_sum_assignment

from .boxes import iou_matrix
from .types import Box, ConfigError, Detection, ReactionError, Track, TrackState

TENTATIVE, CONFIRMED, LOST = TrackState.TENTATIVE, TrackState.CONFIRMED, TrackState.LOST


@dataclass(frozen=True)
class TrackerConfig:
    """Lifecycle and matching parameters.

    Attributes:
        min_hits: matched detections before a tentative track is confirmed.
        min_iou: gate; a detection and a track with lower IoU never match.
        coast_s: a confirmed track keeps reporting its predicted box for this
            long without a detection (a missed detection is not an exit).
        max_lost_s: after ``coast_s`` the track is lost (not reported) but can
            still be re-matched; after this long it is deleted.
        position_noise: measurement std as a fraction of the box width.
        accel_noise: process noise, box widths per second squared.
    """

    min_hits: int = 3
    min_iou: float = 0.2
    coast_s: float = 0.5
    max_lost_s: float = 15.0
    position_noise: float = 0.05
    accel_noise: float = 2.0

    def validate(self) -> None:
        if self.min_hits < 1:
            raise ConfigError("TrackerConfig", "min_hits must be >= 1, got {}".format(self.min_hits))
        if not 0.0 < self.min_iou < 1.0:
            raise ConfigError("TrackerConfig", "min_iou must be in (0, 1), got {}".format(self.min_iou))
        if self.coast_s < 0 or self.max_lost_s < self.coast_s:
            raise ConfigError(
                "TrackerConfig",
                "max_lost_s must be >= coast_s, both >= 0; got {} and {}".format(self.max_lost_s, self.coast_s),
            )


def _new_filter(box: Box, config: TrackerConfig) -> KalmanFilter:
    """A constant-velocity filter for one face.

    State ``x`` (8x1): ``[cx, cy, w, h, vcx, vcy, vw, vh]``, centre and size in
    pixels, velocities in pixels per second.

    ``F`` (8x8): identity with ``dt`` on the position-velocity blocks, set per
    step because frames are not evenly spaced once detection is scheduled.
    ``H`` (4x8): picks ``[cx, cy, w, h]``; Haar gives exactly those.
    ``R`` (4x4): diagonal, ``(position_noise * w)^2``: Haar jitter grows with
    face size, so noise is relative, which keeps small faces at the back of
    the room from being over-smoothed.
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
    """Mutable per-track bookkeeping behind the public, frozen :class:`Track`."""

    __slots__ = ("viewer_id", "kf", "hits", "last_seen_s", "state", "detection")

    def __init__(self, viewer_id: int, kf: KalmanFilter, time_s: float) -> None:
        self.viewer_id = viewer_id
        self.kf = kf
        self.hits = 1
        self.last_seen_s = time_s
        self.state = TENTATIVE
        self.detection: Optional[int] = None

    def box(self) -> Box:
        cx, cy, w, h = self.kf.x[:4, 0]
        w, h = max(w, 1.0), max(h, 1.0)
        return (float(cx - w / 2.0), float(cy - h / 2.0), float(w), float(h))


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
        internally for re-identification but not reported.
        """
        cfg = self.config
        self._advance(time_s)

        boxes = np.array([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
        matched_tracks, matched_dets = self._associate(boxes)

        self.assignment = {}
        for v in self._viewers:
            v.detection = None
        for ti, di in zip(matched_tracks, matched_dets):
            v = self._viewers[ti]
            x, y, w, h = boxes[di]
            if v.state is LOST:
                v.kf.x[4:] = 0.0  # old velocity is meaningless after a long gap
            s = cfg.position_noise * w
            v.kf.update(np.array([[x + w / 2.0], [y + h / 2.0], [w], [h]]), R=np.eye(4) * (s * s))
            v.hits += 1
            v.last_seen_s = time_s
            v.detection = int(di)
            if v.state is LOST or (v.state is TENTATIVE and v.hits >= cfg.min_hits):
                v.state = CONFIRMED
            self.assignment[int(di)] = v.viewer_id

        unmatched = set(range(len(boxes))) - {int(d) for d in matched_dets}
        for di in sorted(unmatched):
            v = _Viewer(self._next_id, _new_filter(tuple(boxes[di]), cfg), time_s)
            self._next_id += 1
            v.detection = di
            if cfg.min_hits <= 1:
                v.state = CONFIRMED
            self._viewers.append(v)
            self.assignment[di] = v.viewer_id
        return self._age(time_s, detection_pass=True)

    def _age(self, time_s: float, detection_pass: bool) -> List[Track]:
        cfg = self.config
        kept = []
        for v in self._viewers:
            gap = time_s - v.last_seen_s
            if v.state is TENTATIVE and gap > 0 and (detection_pass or gap > cfg.coast_s):
                continue  # a tentative track that misses a detection pass was noise
            if v.state is CONFIRMED and gap > cfg.coast_s:
                v.state = LOST
                v.kf.x[4:] = 0.0
            if v.state is LOST and gap > cfg.max_lost_s:
                continue
            kept.append(v)
        self._viewers = kept
        return [Track(v.viewer_id, v.box(), v.state, v.hits, v.detection) for v in self._viewers if v.state is not LOST]

    def _associate(self, boxes: np.ndarray):
        if not self._viewers or not len(boxes):
            return [], []
        predicted = np.array([v.box() for v in self._viewers])
        iou = iou_matrix(predicted, boxes)
        # Lost viewers pay a small penalty so a live track wins a tie.
        penalty = np.array([0.05 if v.state is LOST else 0.0 for v in self._viewers])
        cost = 1.0 - iou + penalty[:, None]
        rows, cols = linear_sum_assignment(cost)
        keep = iou[rows, cols] >= self.config.min_iou
        return rows[keep].tolist(), cols[keep].tolist()

    @property
    def tracks(self) -> List[Track]:
        """Every live track, lost ones included."""
        return [Track(v.viewer_id, v.box(), v.state, v.hits, v.detection) for v in self._viewers]

    def reset(self) -> None:
        """Forget every viewer, as after a cut to another view; new viewers get new ids."""
        self._viewers = []
        self.assignment = {}
