"""Scoring a run against synthetic-audience ground truth. Pure functions.

Conventions, shared with :mod:`benchmarks.synth_audience`:

* frames are 1-based (MOTChallenge); a frame's media time is ``(frame-1)/fps``;
* GT rows with ``conf == 0`` are "don't care" boxes (face mostly hidden or cut
  by the frame edge): a prediction on one is neither a hit nor a false
  positive, and its absence is not a miss (the MOT17 rule);
* boxes are ``(x, y, w, h)``; a prediction matches a GT box at IoU >= 0.5;
* laughs are ``(viewer_id, start_s, end_s)`` with ``end_s`` exclusive.
"""
import csv
import json
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from reaction.boxes import iou_matrix
from reaction.training.evaluate import roc_auc
from reaction.types import Box, ReactionError

GtFrame = List[Tuple[int, Box, int]]  # (viewer id, box, conf)
PredFrame = List[Tuple[int, Box]]  # (track id, box)
Interval = Tuple[int, float, float]  # (viewer id, start_s, end_s)


def read_gt_tracks(path: str) -> Dict[int, GtFrame]:
    """``{frame: [(id, box, conf)]}`` from a MOTChallenge CSV."""
    out = {}  # type: Dict[int, GtFrame]
    try:
        with open(path, newline="") as f:
            for n, row in enumerate(csv.reader(f), 1):
                if not row:
                    continue
                try:
                    frame, vid = int(row[0]), int(row[1])
                    box = tuple(float(v) for v in row[2:6])
                    conf = int(float(row[6]))
                except (ValueError, IndexError):
                    raise ReactionError("{}:{}: not a MOTChallenge row: {}".format(path, n, ",".join(row)))
                out.setdefault(frame, []).append((vid, box, conf))
    except OSError as e:
        raise ReactionError("{}: {}".format(path, e.strerror))
    return out


def read_gt_smiles(path: str) -> Dict[Tuple[int, int], int]:
    """``{(frame, viewer_id): label}``."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            try:
                return {(int(r["frame"]), int(r["viewer_id"])): int(r["label"]) for r in reader}
            except (KeyError, ValueError, TypeError):
                raise ReactionError("{}: needs integer columns frame,viewer_id,label".format(path))
    except OSError as e:
        raise ReactionError("{}: {}".format(path, e.strerror))


def read_laughs(path: str) -> List[Interval]:
    """Laugh intervals from JSON lines with ``viewer_id, start_s, end_s``."""
    out = []
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    out.append((int(d["viewer_id"]), float(d["start_s"]), float(d["end_s"])))
                except (ValueError, KeyError, TypeError):
                    raise ReactionError("{}:{}: needs viewer_id, start_s, end_s".format(path, n))
    except OSError as e:
        raise ReactionError("{}: {}".format(path, e.strerror))
    return out


@dataclass
class TrackingScore:
    """CLEAR-MOT and identity metrics from ``motmetrics``.

    ``matches[frame]`` maps predicted track id to the GT viewer id it was
    matched with on that frame (hits only, don't-care boxes excluded).
    """

    mota: float
    idf1: float
    id_switches: int
    fragmentations: int
    precision: float
    recall: float
    false_positives: int
    misses: int
    gt_boxes: int
    matches: Dict[int, Dict[int, int]] = field(default_factory=dict, repr=False)


def score_tracking(gt: Mapping[int, GtFrame], pred: Mapping[int, PredFrame],
                   iou_threshold: float = 0.5) -> TrackingScore:
    """MOTA, IDF1, ID switches and fragmentations, with don't-care boxes removed."""
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=False)
    last = max(list(gt) + list(pred) + [0])
    for frame in range(1, last + 1):
        g = gt.get(frame, [])
        p = list(pred.get(frame, []))
        ignore = [b for _, b, c in g if not c]
        care = [(i, b) for i, b, c in g if c]
        if ignore and p:
            # Drop predictions that sit on a don't-care box, after a joint
            # assignment so a prediction that fits a real box stays.
            allb = np.array([b for _, b in care] + ignore, dtype=np.float64)
            iou = iou_matrix(allb, np.array([b for _, b in p], dtype=np.float64))
            rows, cols = linear_sum_assignment(-iou)
            drop = {c for r, c in zip(rows, cols) if r >= len(care) and iou[r, c] >= iou_threshold}
            p = [x for k, x in enumerate(p) if k not in drop]
        gb = np.array([b for _, b in care], dtype=np.float64).reshape(-1, 4)
        pb = np.array([b for _, b in p], dtype=np.float64).reshape(-1, 4)
        dist = mm.distances.iou_matrix(gb, pb, max_iou=1.0 - iou_threshold)
        acc.update([i for i, _ in care], [i for i, _ in p], dist, frameid=frame)
    mh = mm.metrics.create()
    names = ["mota", "idf1", "num_switches", "num_fragmentations", "precision", "recall",
             "num_false_positives", "num_misses", "num_objects"]
    s = mh.compute(acc, metrics=names, name="run").iloc[0]
    matches = {}  # type: Dict[int, Dict[int, int]]
    ev = acc.mot_events
    hit = ev[ev["Type"].isin(["MATCH", "SWITCH"])]
    for (frame, _), oid, hid in zip(hit.index, hit["OId"], hit["HId"]):
        matches.setdefault(int(frame), {})[int(hid)] = int(oid)

    def num(x: float) -> float:
        return float(x) if np.isfinite(x) else 0.0

    return TrackingScore(
        mota=num(s["mota"]), idf1=num(s["idf1"]), id_switches=int(s["num_switches"]),
        fragmentations=int(s["num_fragmentations"]), precision=num(s["precision"]),
        recall=num(s["recall"]), false_positives=int(s["num_false_positives"]),
        misses=int(s["num_misses"]), gt_boxes=int(s["num_objects"]), matches=matches,
    )


def smile_accuracy(matches: Mapping[int, Mapping[int, int]], gt_smiles: Mapping[Tuple[int, int], int],
                   predicted: Mapping[Tuple[int, int], bool]) -> Tuple[float, int]:
    """Share of matched (frame, track) pairs whose smile call equals the GT label.

    ``predicted[(frame, track_id)]`` is the run's call, or its P(smile) (a
    smile at >= 0.5); a matched pair the run made no call for counts as wrong.
    Returns (accuracy, pairs scored).
    """
    pairs = smile_pairs(matches, gt_smiles, predicted)
    right = sum(int(p is not None and (float(p) >= 0.5) == bool(label)) for label, p in pairs)
    return (right / len(pairs) if pairs else 0.0), len(pairs)


def smile_pairs(matches: Mapping[int, Mapping[int, int]], gt_smiles: Mapping[Tuple[int, int], int],
                predicted: Mapping[Tuple[int, int], float]) -> List[Tuple[int, Optional[float]]]:
    """``(label, call or None)`` for every matched (frame, track) pair with a GT label."""
    out = []
    for frame, pairs in matches.items():
        for tid, vid in pairs.items():
            label = gt_smiles.get((frame, vid))
            if label is not None:
                out.append((int(label), predicted.get((frame, tid))))
    return out


def smile_ranking(pairs: Sequence[Tuple[int, Optional[float]]]) -> dict:
    """How well P(smile) orders the labelled pairs, whatever the threshold.

    ``auc``: ROC AUC over the pairs that were scored; ``best_accuracy``: the
    accuracy at the threshold best for these very pairs (unscored pairs count
    as wrong), which no run-time threshold can beat: the bound a threshold
    choice leaves to the model itself.
    """
    scored = [(lab, float(p)) for lab, p in pairs if p is not None]
    if not pairs or not scored:
        return dict(auc=None, best_accuracy=None, best_threshold=None, pairs=len(pairs))
    y = np.array([lab for lab, _ in scored])
    p = np.array([v for _, v in scored])
    n_neg = int(len(y) - y.sum())
    auc = roc_auc(y, p)
    auc = None if np.isnan(auc) else auc
    # Calling smile at P >= c for each candidate c (and never): right = smiles above + neutrals below.
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    above_smiles = np.concatenate([[0], np.cumsum(ys)])
    above_neutral = np.concatenate([[0], np.cumsum(1 - ys)])
    right = above_smiles + (n_neg - above_neutral)
    # Only cut between distinct values.
    valid = np.concatenate([[True], np.append(ps[1:] != ps[:-1], True)])
    k = int(np.argmax(np.where(valid, right, -1)))
    threshold = float(ps[k - 1]) if k > 0 else None
    return dict(auc=auc, best_accuracy=float(right[k]) / len(pairs), best_threshold=threshold, pairs=len(pairs))


def map_events(events: Iterable[Interval], matches: Mapping[int, Mapping[int, int]],
               fps: float) -> List[Interval]:
    """Give predicted laughs (by track id) the GT viewer id their track was matched to.

    The viewer is the majority match over the event's own frames, falling
    back to the track's majority over the whole run; an event whose track
    never matched anyone gets viewer id -1 (it can only be a false positive).
    """
    overall = {}  # type: Dict[int, Dict[int, int]]
    for pairs in matches.values():
        for tid, vid in pairs.items():
            overall.setdefault(tid, {}).setdefault(vid, 0)
            overall[tid][vid] += 1
    out = []
    for tid, start, end in events:
        f0, f1 = int(round(start * fps)) + 1, max(int(round(end * fps)), int(round(start * fps)) + 1)
        votes = {}  # type: Dict[int, int]
        for frame in range(f0, f1 + 1):
            vid = matches.get(frame, {}).get(tid)
            if vid is not None:
                votes[vid] = votes.get(vid, 0) + 1
        votes = votes or overall.get(tid, {})
        vid = max(sorted(votes), key=lambda v: votes[v]) if votes else -1
        out.append((vid, start, end))
    return out


def temporal_iou(a: Tuple[float, float], b: Tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


@dataclass
class LaughScore:
    precision: float
    recall: float
    f1: float
    onset_delay_s: Optional[float]  # mean predicted start minus GT start, over matches
    matched: int
    predicted: int
    truth: int
    found: List[bool] = field(default_factory=list, repr=False)  # per truth event: matched?


def score_laughs(truth: Sequence[Interval], predicted: Sequence[Interval],
                 min_tiou: float = 0.3) -> LaughScore:
    """One-to-one matching per viewer, maximising the number of matches at temporal IoU >= ``min_tiou``."""
    delays = []
    found = [False] * len(truth)
    for vid in sorted({v for v, _, _ in truth}):
        g_idx = [i for i, (v, _, _) in enumerate(truth) if v == vid]
        g = [truth[i][1:] for i in g_idx]
        p = [(s, e) for v, s, e in predicted if v == vid]
        if not p:
            continue
        iou = np.array([[temporal_iou(a, b) for b in p] for a in g])
        ok = iou >= min_tiou
        # Maximise the match count first, then total IoU.
        rows, cols = linear_sum_assignment(-(ok * (1.0 + iou)))
        for r, c in zip(rows, cols):
            if ok[r, c]:
                delays.append(p[c][0] - g[r][0])
                found[g_idx[r]] = True
    m = len(delays)
    precision = m / len(predicted) if predicted else 0.0
    recall = m / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return LaughScore(precision, recall, f1, float(np.mean(delays)) if delays else None,
                      m, len(predicted), len(truth), found)


def ignored_predictions(gt: Mapping[int, GtFrame], pred: Mapping[int, PredFrame],
                        iou_threshold: float = 0.5) -> Dict[int, List[int]]:
    """``{frame: [track ids]}`` of the predictions :func:`score_tracking` drops
    because they sit on a don't-care box (same joint assignment)."""
    out = {}  # type: Dict[int, List[int]]
    for frame, p in pred.items():
        g = gt.get(frame, [])
        ignore = [b for _, b, c in g if not c]
        if not ignore or not p:
            continue
        care = [b for _, b, c in g if c]
        allb = np.array(care + ignore, dtype=np.float64)
        iou = iou_matrix(allb, np.array([b for _, b in p], dtype=np.float64))
        rows, cols = linear_sum_assignment(-iou)
        drop = [p[c][0] for r, c in zip(rows, cols) if r >= len(care) and iou[r, c] >= iou_threshold]
        if drop:
            out[frame] = drop
    return out


@dataclass
class TrackFate:
    """What one predicted track spent its frames on."""

    track_id: int
    frames: int
    matched: int  # frames matched to a GT identity
    on_ignore: int  # frames dropped on a don't-care box
    gt_id: Optional[int]  # the GT identity it matched most, if any
    first_frame: int
    last_frame: int
    mean_box: Box

    @property
    def unmatched(self) -> int:
        return self.frames - self.matched - self.on_ignore

    @property
    def kind(self) -> str:
        """``person`` (matched a GT identity on most frames), ``ignored`` (on
        don't-care boxes most) or ``phantom`` (on nobody most)."""
        best = max((self.matched, 0), (self.on_ignore, 1), (self.unmatched, 2))
        return ("person", "ignored", "phantom")[best[1]]


def track_fates(pred: Mapping[int, PredFrame], matches: Mapping[int, Mapping[int, int]],
                ignored: Mapping[int, Sequence[int]]) -> Dict[int, TrackFate]:
    """Per predicted track: frames matched, on don't-care boxes and on nobody
    (``matches`` from :class:`TrackingScore`, ``ignored`` from :func:`ignored_predictions`)."""
    frames = {}  # type: Dict[int, List[int]]
    boxes = {}  # type: Dict[int, List[Box]]
    for frame, p in pred.items():
        for tid, box in p:
            frames.setdefault(tid, []).append(frame)
            boxes.setdefault(tid, []).append(box)
    out = {}
    for tid, fs in frames.items():
        votes = {}  # type: Dict[int, int]
        for f in fs:
            vid = matches.get(f, {}).get(tid)
            if vid is not None:
                votes[vid] = votes.get(vid, 0) + 1
        on_ignore = sum(1 for f in fs if tid in ignored.get(f, ()))
        gt_id = max(sorted(votes), key=lambda v: votes[v]) if votes else None
        mean = tuple(float(v) for v in np.mean(np.array(boxes[tid], dtype=np.float64), axis=0))
        out[tid] = TrackFate(tid, len(fs), sum(votes.values()), on_ignore, gt_id, min(fs), max(fs), mean)
    return out
