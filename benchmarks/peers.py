"""Our tracker and two peers (norfair, motpy) on the same recorded detections.

Each tracker sees the identical list of Haar boxes per frame. Only the
tracker's own update call (and, for motpy, the ``active_tracks`` query that
produces its output) is timed; converting our boxes into each library's
detection type happens before the clock starts.

Recommended settings, from each project's own examples:

* norfair: the bounding-box setting of its YOLO demos, ``distance_function=
  "iou"``, ``distance_threshold=0.7``, library defaults otherwise
  (``hit_counter_max=15``, initialization delay ``hit_counter_max // 2``);
* motpy: its ``webcam_face_tracking`` example, a constant-velocity position
  and constant size model with ``q_var_pos=5000, r_var_pos=0.1``,
  ``dt = 1/fps``, reporting ``active_tracks(min_steps_alive=3)``.
"""
import itertools
import math
import time
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

import numpy as np

from reaction.tracker import TrackerConfig, ViewerTracker
from reaction.types import Detection

from .scoring import PredFrame

Run = Tuple[Dict[int, PredFrame], List[float]]  # {frame (1-based): [(id, box)]}, seconds per update


def run_ours(detections: Sequence[List[Detection]], times: Sequence[float],
             config: TrackerConfig = TrackerConfig()) -> Run:
    """Our :class:`ViewerTracker`; confirmed tracks (coasting ones included) are reported."""
    tracker = ViewerTracker(config)
    out, cost = {}, []
    clock = time.perf_counter
    for f, (dets, t) in enumerate(zip(detections, times), 1):
        t0 = clock()
        tracks = tracker.update(dets, t)
        cost.append(clock() - t0)
        out[f] = [(tr.viewer_id, tr.box) for tr in tracks if tr.confirmed]
    return out, cost


def run_norfair(detections: Sequence[List[Detection]], times: Sequence[float],
                distance_threshold: float = 0.7, hit_counter_max: int = 15,
                initialization_delay: int = None) -> Run:
    """norfair with two-point (corner) box detections and IoU distance."""
    from norfair import Detection as NDetection
    from norfair import Tracker

    tracker = Tracker(distance_function="iou", distance_threshold=distance_threshold,
                      hit_counter_max=hit_counter_max, initialization_delay=initialization_delay)
    out, cost = {}, []
    clock = time.perf_counter
    for f, dets in enumerate(detections, 1):
        batch = [NDetection(np.array([[x, y], [x + w, y + h]], dtype=np.float64)) for x, y, w, h in
                 (d.box for d in dets)]
        t0 = clock()
        objects = tracker.update(detections=batch)
        cost.append(clock() - t0)
        rows = []
        for o in objects:
            (x0, y0), (x1, y1) = o.estimate
            rows.append((int(o.id), (float(x0), float(y0), float(x1 - x0), float(y1 - y0))))
        out[f] = rows
    return out, cost


def run_motpy(detections: Sequence[List[Detection]], times: Sequence[float], fps: float = 25.0,
              q_var_pos: float = 5000.0, r_var_pos: float = 0.1, min_steps_alive: int = 3,
              max_staleness: float = 12.0, min_iou: float = None) -> Run:
    """motpy's Kalman multi-object tracker; track UUIDs are renumbered 1, 2, ...

    ``min_iou`` is the association gate of motpy's IoU matching function
    (``None``: motpy's own default, 0.1).
    """
    from motpy import Detection as MDetection
    from motpy import MultiObjectTracker

    spec = {"order_pos": 1, "dim_pos": 2, "order_size": 0, "dim_size": 2,
            "q_var_pos": q_var_pos, "r_var_pos": r_var_pos}
    tracker = MultiObjectTracker(dt=1.0 / fps, model_spec=spec,
                                 tracker_kwargs={"max_staleness": max_staleness},
                                 matching_fn_kwargs=None if min_iou is None else {"min_iou": min_iou})
    ids = {}  # type: Dict[str, int]
    out, cost = {}, []
    clock = time.perf_counter
    for f, dets in enumerate(detections, 1):
        batch = [MDetection(box=np.array([x, y, x + w, y + h], dtype=np.float64)) for x, y, w, h in
                 (d.box for d in dets)]
        t0 = clock()
        tracker.step(detections=batch)
        tracks = tracker.active_tracks(min_steps_alive=min_steps_alive)
        cost.append(clock() - t0)
        rows = []
        for tr in tracks:
            x0, y0, x1, y1 = (float(v) for v in tr.box)
            rows.append((ids.setdefault(tr.id, len(ids) + 1), (x0, y0, x1 - x0, y1 - y0)))
        out[f] = rows
    return out, cost


RECOMMENDED = {
    "reaction": (run_ours, {}),
    "norfair": (run_norfair, dict(distance_threshold=0.7, hit_counter_max=15)),
    "motpy": (run_motpy, dict(q_var_pos=5000.0, r_var_pos=0.1, min_steps_alive=3, max_staleness=12.0)),
}

# Small grids around the recommended points: gate, memory and start-up delay.
GRIDS = {
    "norfair": dict(distance_threshold=[0.5, 0.7, 0.9], hit_counter_max=[15, 50, 150],
                    initialization_delay=[None, 2]),
    "motpy": dict(q_var_pos=[5000.0, 100.0], min_steps_alive=[1, 3], max_staleness=[12.0, 50.0, 150.0]),
}


# Real face tracks (benchmarks.tracking_ltft): the settings the LTFT issue names
# as recommended, and a small grid around each (gate x memory, in frames).
LTFT_RECOMMENDED = {
    "norfair": dict(distance_threshold=0.8, hit_counter_max=15),
    "motpy": dict(q_var_pos=5000.0, r_var_pos=0.1, min_steps_alive=3, max_staleness=15.0, min_iou=0.25),
}
LTFT_GRIDS = {
    "norfair": dict(distance_threshold=[0.6, 0.7, 0.8, 0.9], hit_counter_max=[10, 15, 30]),
    "motpy": dict(min_iou=[0.1, 0.25, 0.4], max_staleness=[8.0, 15.0, 30.0]),
}


def ltft_grid(name: str) -> Iterator[dict]:
    """Every setting of the peer's LTFT grid, over its LTFT recommended keyword arguments."""
    keys = sorted(LTFT_GRIDS[name])
    for values in itertools.product(*(LTFT_GRIDS[name][k] for k in keys)):
        yield dict(LTFT_RECOMMENDED[name], **dict(zip(keys, values)))


def grid(name: str) -> Iterator[dict]:
    """Every setting of the peer's grid, as keyword arguments."""
    keys = sorted(GRIDS[name])
    for values in itertools.product(*(GRIDS[name][k] for k in keys)):
        yield dict(zip(keys, values))


def runner(name: str) -> Callable[..., Run]:
    return RECOMMENDED[name][0]


def crowd(n_faces: int = 30, frames: int = 500, fps: float = 25.0,
          seed: int = 0) -> Tuple[List[List[Detection]], List[float]]:
    """``n_faces`` seated faces swaying in a 1280x720 frame, with Haar-like jitter.

    Used only to time tracker updates at a fixed, known load.
    """
    rng = np.random.default_rng(seed)
    cols = int(math.ceil(math.sqrt(n_faces * 16 / 9.0)))
    base = [((i % cols + 0.5) * 1280.0 / cols, (i // cols + 0.5) * 720.0 / math.ceil(n_faces / cols))
            for i in range(n_faces)]
    size = rng.uniform(50, 90, n_faces)
    phase = rng.uniform(0, 2 * math.pi, n_faces)
    dets, times = [], []
    for f in range(frames):
        t = f / fps
        row = []
        for (cx, cy), s, p in zip(base, size, phase):
            jx, jy, js = rng.normal(0, 0.03 * s, 3)
            w = s + js
            x = cx + 0.06 * s * math.sin(2 * math.pi * 0.2 * t + p) + jx
            row.append(Detection(box=(x - w / 2, cy + jy - w / 2, w, w)))
        dets.append(row)
        times.append(t)
    return dets, times


def crowd_timing(n_faces: int = 30, frames: int = 500, warmup: int = 25) -> Dict[str, float]:
    """Mean milliseconds per update for each tracker (recommended settings) on :func:`crowd`."""
    dets, times = crowd(n_faces, frames)
    out = {}
    for name, (fn, kwargs) in RECOMMENDED.items():
        _, cost = fn(dets, times, **kwargs)
        out[name] = 1000.0 * float(np.mean(cost[warmup:]))
    return out
