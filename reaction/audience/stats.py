"""Screenings pooled in film time: the laugh curve, its bootstrap band, top moments, scenes, comparison.

Film second ``s`` is ``[s, s + 1)`` of film time, film time being recording
time minus the screening's offset. A viewer is *present* in a second when one
of their on-screen intervals overlaps it, and *laughing* when present and one
of their laughs overlaps it (``start < s + 1 and end >= s``, as in
summary.json). The share is laughing / present over every screening.

The 95% band is a Poisson bootstrap over viewers: each replicate weighs every
viewer by an independent Poisson(1) count, which is the multinomial bootstrap
in the limit of many viewers and lets the screenings stream through one at a
time (memory holds replicates x seconds, not viewers x seconds). The band is
the 2.5-97.5 percentile of the replicate shares, smoothed as the curve is.
tests/audience/test_stats.py checks its coverage on simulated audiences.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .inputs import Scene, Screening

N_BOOT = 200
SMOOTH_S = 5  # centred window of the plotted curve, seconds


def _flat(spans: Dict[str, List[Tuple[float, float]]], viewers: List[str]) -> Tuple[np.ndarray, np.ndarray]:
    """(row of each span, spans as an n x 2 array) for the viewers in order."""
    rows: List[int] = []
    flat: List[Tuple[float, float]] = []
    for row, vid in enumerate(viewers):
        mine = spans.get(vid, ())
        rows.extend([row] * len(mine))
        flat.extend(mine)
    return np.asarray(rows, dtype=np.int64), np.asarray(flat, dtype=np.float64).reshape(-1, 2)


def seconds_matrix(
    spans: Dict[str, List[Tuple[float, float]]], viewers: List[str], offset: float, n: int, closed_end: bool = False
) -> np.ndarray:
    """viewers x seconds booleans: does one of the viewer's spans (recording time) touch each film second?"""
    rows, flat = _flat(spans, viewers)
    diff = np.zeros((len(viewers), n + 1), dtype=np.int32)
    if len(rows):
        a, b = flat[:, 0] - offset, flat[:, 1] - offset
        first = np.floor(a).astype(np.int64)
        # a presence interval [a, b) reaches second ceil(b) - 1; a laugh reaches floor(b) (end >= s)
        last = (np.floor(b) if closed_end else np.ceil(b) - 1).astype(np.int64)
        first, last = np.maximum(first, 0), np.minimum(last, n - 1)
        keep = last >= first
        np.add.at(diff, (rows[keep], first[keep]), 1)
        np.add.at(diff, (rows[keep], last[keep] + 1), -1)
    return np.cumsum(diff, axis=1)[:, :n] > 0


def smooth(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving sum along the last axis (edges use what is there)."""
    if window <= 1:
        return x.astype(np.float64)
    c = np.cumsum(np.pad(x.astype(np.float64), [(0, 0)] * (x.ndim - 1) + [(1, 0)]), axis=-1)
    n = x.shape[-1]
    half = window // 2
    hi = np.minimum(np.arange(n) + window - half, n)
    lo = np.maximum(np.arange(n) - half, 0)
    return c[..., hi] - c[..., lo]


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


class CurveAccumulator:
    """Sums of present and laughing viewers per film second, point estimate and bootstrap replicates."""

    def __init__(self, n_seconds: int, n_boot: int = N_BOOT, seed: int = 0) -> None:
        self.n = n_seconds
        self.rng = np.random.default_rng(seed)
        self.present = np.zeros(n_seconds, dtype=np.int64)
        self.laughing = np.zeros(n_seconds, dtype=np.int64)
        self.screenings = np.zeros(n_seconds, dtype=np.int64)  # screenings with a viewer present
        self.screenings_laughing = np.zeros(n_seconds, dtype=np.int64)
        self.boot_present = np.zeros((n_boot, n_seconds), dtype=np.float64)
        self.boot_laughing = np.zeros((n_boot, n_seconds), dtype=np.float64)
        self.viewers = 0

    def add(self, present: np.ndarray, laughing: np.ndarray) -> None:
        """One screening's viewers x seconds matrices (laughing already within present)."""
        if present.shape[0] == 0:
            return
        self.viewers += present.shape[0]
        self.present += present.sum(axis=0)
        self.laughing += laughing.sum(axis=0)
        self.screenings += present.any(axis=0)
        self.screenings_laughing += laughing.any(axis=0)
        w = self.rng.poisson(1.0, size=(self.boot_present.shape[0], present.shape[0])).astype(np.float32)
        self.boot_present += w @ present.astype(np.float32)
        self.boot_laughing += w @ laughing.astype(np.float32)

    def curve(self, window: int = SMOOTH_S) -> Dict[str, np.ndarray]:
        boot = ratio(smooth(self.boot_laughing, window), smooth(self.boot_present, window))
        with np.errstate(invalid="ignore"), _no_nan_warnings():
            low = np.nanpercentile(boot, 2.5, axis=0)
            high = np.nanpercentile(boot, 97.5, axis=0)
        return {
            "share": ratio(self.laughing, self.present),
            "smoothed": ratio(smooth(self.laughing, window), smooth(self.present, window)),
            "low": low,
            "high": high,
        }


class _no_nan_warnings:
    """All-NaN seconds (nobody present) are expected: their band is NaN, said once in the CSV as empty."""

    def __enter__(self) -> None:
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc) -> None:
        self._w.__exit__(*exc)


def screening_matrices(s: Screening, n: int) -> Tuple[List[str], np.ndarray, np.ndarray]:
    viewers = sorted(set(s.presence) | set(s.laughs))
    present = seconds_matrix(s.presence, viewers, s.offset_s, n)
    laughing = seconds_matrix(s.laughs, viewers, s.offset_s, n, closed_end=True) & present
    return viewers, present, laughing


def top_moments(
    curve: Dict[str, np.ndarray], acc: CurveAccumulator, n: int = 10, gap_s: int = 15, min_present: int = 1
) -> List[Dict]:
    """The ``n`` highest peaks of the smoothed curve, at least ``gap_s`` apart."""
    share = np.nan_to_num(curve["smoothed"], nan=0.0)
    share = np.where(acc.present >= min_present, share, 0.0)
    order = np.argsort(-share, kind="stable")
    taken: List[int] = []
    for sec in order:
        if share[sec] <= 0 or len(taken) == n:
            break
        if all(abs(int(sec) - t) >= gap_s for t in taken):
            taken.append(int(sec))
    return [
        {
            "rank": i + 1,
            "second": sec,
            "peak_share": float(share[sec]),
            "low": float(curve["low"][sec]),
            "high": float(curve["high"][sec]),
            "viewers_laughing": int(acc.laughing[sec]),
            "viewers_present": int(acc.present[sec]),
            "screenings_laughing": int(acc.screenings_laughing[sec]),
        }
        for i, sec in enumerate(taken)
    ]


#: Columns of a viewer's per-scene row.
MINUTES, LAUGHS, LAUGH_S = 0, 1, 2


def scene_rows(s: Screening, scenes: Sequence[Scene]) -> np.ndarray:
    """viewers x scenes x (present minutes, laughs starting in the scene, their seconds)."""
    viewers = sorted(set(s.presence) | set(s.laughs))
    out = np.zeros((len(viewers), len(scenes), 3))
    starts = np.array([sc.start_s for sc in scenes])
    ends = np.array([sc.end_s for sc in scenes])
    rows, spans = _flat(s.presence, viewers)
    if len(rows):
        a, b = spans[:, :1] - s.offset_s, spans[:, 1:] - s.offset_s
        overlap = np.clip(np.minimum(b, ends) - np.maximum(a, starts), 0.0, None) / 60.0
        np.add.at(out[:, :, MINUTES], rows, overlap)
    rows, laughs = _flat(s.laughs, viewers)
    if len(rows):
        a, b = laughs[:, 0] - s.offset_s, laughs[:, 1] - s.offset_s
        k = np.searchsorted(starts, a, side="right") - 1
        inside = (k >= 0) & (a < ends[np.maximum(k, 0)])
        np.add.at(out[:, :, LAUGHS], (rows[inside], k[inside]), 1.0)
        np.add.at(out[:, :, LAUGH_S], (rows[inside], k[inside]), (b - a)[inside])
    return out


def _scene_measures(rows: np.ndarray, weights: Optional[np.ndarray] = None) -> np.ndarray:
    """(replicates or 1) x scenes x (laughs per viewer-minute, share who laughed, mean laugh s)."""
    w = np.ones((1, rows.shape[0])) if weights is None else weights
    there = (rows[:, :, MINUTES] > 0).astype(np.float64)
    laughed = ((rows[:, :, LAUGHS] > 0) & (there > 0)).astype(np.float64)
    minutes = w @ rows[:, :, MINUTES]
    laughs = w @ rows[:, :, LAUGHS]
    return np.stack(
        [ratio(laughs, minutes), ratio(w @ laughed, w @ there), ratio(w @ rows[:, :, LAUGH_S], laughs)], axis=-1
    )


SCENE_MEASURES = ("laughs_per_viewer_minute", "share_laughed", "mean_laugh_s")


def scene_table(rows: np.ndarray, scenes: Sequence[Scene], n_boot: int = N_BOOT, seed: int = 0) -> List[Dict]:
    """Per scene: the three measures, each with its bootstrap 95% interval, ranked by laugh rate."""
    point = _scene_measures(rows)[0]
    w = np.random.default_rng(seed).poisson(1.0, size=(n_boot, rows.shape[0])).astype(np.float64)
    with _no_nan_warnings():
        boot = _scene_measures(rows, w)
        low, high = np.nanpercentile(boot, 2.5, axis=0), np.nanpercentile(boot, 97.5, axis=0)
    rate = np.nan_to_num(point[:, 0], nan=-1.0)
    rank = np.empty(len(scenes), dtype=int)
    rank[np.argsort(-rate, kind="stable")] = np.arange(1, len(scenes) + 1)
    table = []
    for k, sc in enumerate(scenes):
        row: Dict = {
            "rank": int(rank[k]),
            "title": sc.title,
            "start_s": sc.start_s,
            "end_s": sc.end_s,
            "viewer_minutes": float(rows[:, k, MINUTES].sum()),
        }
        for m, name in enumerate(SCENE_MEASURES):
            row[name] = _num(point[k, m])
            row[name + "_low"], row[name + "_high"] = _num(low[k, m]), _num(high[k, m])
        table.append(row)
    return table


def _num(x: float) -> Optional[float]:
    return None if not np.isfinite(x) else float(x)


def permutation_p(a: np.ndarray, b: np.ndarray, n_perm: int = 2000, seed: int = 0) -> np.ndarray:
    """Per scene, two-sided p of the laugh-rate difference, viewers' group labels shuffled.

    ``a`` and ``b`` are viewer rows (see :func:`scene_rows`). Viewers are the
    exchangeable units, as in the bootstrap; p = (1 + #|d*| >= |d|) / (1 + n_perm).
    """
    rows = np.concatenate([a, b])
    na = a.shape[0]

    def diff(mask_a: np.ndarray) -> np.ndarray:
        wa = mask_a.astype(np.float64)
        wb = 1.0 - wa
        ra = ratio(wa @ rows[:, :, LAUGHS], wa @ rows[:, :, MINUTES])
        rb = ratio(wb @ rows[:, :, LAUGHS], wb @ rows[:, :, MINUTES])
        return ra - rb

    observed = diff(np.arange(rows.shape[0]) < na)
    rng = np.random.default_rng(seed)
    extreme = np.zeros(observed.shape, dtype=np.int64)
    # In chunks, so that memory does not grow with permutations x viewers.
    for first in range(0, n_perm, 100):
        masks = np.zeros((min(100, n_perm - first), rows.shape[0]), dtype=bool)
        for i in range(masks.shape[0]):
            masks[i, rng.permutation(rows.shape[0])[:na]] = True
        perm = diff(masks)
        with np.errstate(invalid="ignore"):
            extreme += (np.abs(np.nan_to_num(perm, nan=0.0)) >= np.abs(observed) - 1e-12).sum(axis=0)
    return np.where(np.isfinite(observed), (1 + extreme) / (1 + n_perm), np.nan)


@dataclass
class Quality:
    """Data quality of one screening."""

    screening: str
    viewers: int
    mean_on_screen_s: float
    face_share: float
    skipped_frames: int
    warnings: List[str]


MIN_VIEWERS = 5
SHORT_TRACK_S = 2.0


def quality(s: Screening, present: np.ndarray, film_s: float) -> Quality:
    on = [sum(b - a for a, b in spans) for spans in s.presence.values()]
    span = max(0.0, min(film_s, s.media_s - s.offset_s))
    seconds = int(np.ceil(span))
    face = float(present[:, :seconds].any(axis=0).mean()) if seconds and present.shape[0] else 0.0
    warnings = []
    if len(on) < MIN_VIEWERS:
        warnings.append("only {} viewers (fewer than {})".format(len(on), MIN_VIEWERS))
    short = sum(1 for t in on if t < SHORT_TRACK_S)
    if on and short / len(on) > 0.5:
        warnings.append(
            "{} of {} viewers on screen under {:g} s: many very short tracks".format(short, len(on), SHORT_TRACK_S)
        )
    if s.offset_s >= s.media_s:
        warnings.append("offset {:.3f} s is beyond the recording ({:.3f} s)".format(s.offset_s, s.media_s))
    return Quality(s.id, len(on), float(np.mean(on)) if on else 0.0, face, s.skipped_frames, warnings)
