"""Ground truth for the two shared real clips, and the scorer of the whole pipeline on them.

The scorer is checked on the ground truth itself (a perfect run) and on
synthetic perturbations of it whose cost is known in advance. Only the test
that opens the videos needs ``../shared``.
"""
import csv
import os

import pytest
from helpers import DATA, ROOT

from benchmarks import real_clips as rc
from benchmarks.ground_truth import make_draft

GT_DIR = os.path.join(ROOT, "benchmarks", "ground_truth")
SIZES = {"hamilton": (640, 360), "covent-garden": (1920, 1080)}


@pytest.fixture(scope="module", params=sorted(rc.CLIPS))
def clip(request):
    name = request.param
    gt, segments, shots = rc.load_gt(name, GT_DIR)
    return name, gt, segments, shots


def _perfect_run(gt, segments, fps):
    """Every GT box as a prediction (same ids), the smile segments as laughs, the labels as smile calls."""
    pred = {f: [(vid, box) for vid, box, _ in rows] for f, rows in gt.items()}
    events = rc.smile_intervals(segments, fps)
    p_smile = {k: bool(v) for k, v in rc.frame_labels(segments).items()}
    return pred, events, p_smile


def _care_boxes(gt) -> int:
    return sum(1 for rows in gt.values() for _, _, c in rows if c)


# -- the files ---------------------------------------------------------------

def test_ground_truth_parses_and_fits_each_clip(clip):
    name, gt, segments, shots = clip
    _, n_frames, _ = rc.CLIPS[name]
    width, height = SIZES[name]
    assert gt and min(gt) >= 1 and max(gt) <= n_frames
    spans = {}
    for frame, rows in gt.items():
        ids = [vid for vid, _, _ in rows]
        assert len(ids) == len(set(ids)), "frame {}: an id twice".format(frame)
        for vid, (x, y, w, h), _ in rows:
            # Faces cut by the frame edge keep their whole box, a little outside.
            assert -0.5 * w < x and x + w < width + 0.5 * w and -0.5 * h < y and y + h < height + 0.5 * h
            spans.setdefault(vid, []).append(frame)
    assert any(c == 0 for rows in gt.values() for _, _, c in rows), "no ignore boxes"
    # Shots tile the clip; no identity crosses a cut.
    assert shots[0][0] == 1 and shots[-1][1] == n_frames
    assert all(b + 1 == c for (_, b), (c, _) in zip(shots, shots[1:]))
    for vid, frames in spans.items():
        assert len({k for k, (a, b) in enumerate(shots) for f in frames if a <= f <= b}) == 1, vid
    # Every segment is on a known identity, inside its frames, and segments of one identity do not overlap.
    assert segments
    for vid, a, b, _ in segments:
        assert vid in spans and min(spans[vid]) <= a <= b <= max(spans[vid])
    for vid in {s[0] for s in segments}:
        mine = sorted((a, b) for v, a, b, _ in segments if v == vid)
        assert all(b1 < a2 for (_, b1), (a2, _) in zip(mine, mine[1:]))


def test_stored_tracks_are_the_draft_plus_the_corrections(clip):
    """``tracks.csv`` is reproducible from ``draft.csv`` and ``make_draft.CORRECTIONS`` alone."""
    name, gt, _, _ = clip
    _, n_frames, _ = rc.CLIPS[name]
    height = SIZES[name][1]
    draft = make_draft.read_draft(os.path.join(GT_DIR, name + ".draft.csv"))
    tracks, reasons, _ = make_draft.apply_corrections(draft, make_draft.CORRECTIONS[name], n_frames, height,
                                                      make_draft.smallest_face(height))
    rebuilt = {(f, vid): (tuple(round(v, 1) for v in b), int((f, vid) not in reasons))
               for vid, boxes in tracks.items() for f, b in boxes.items()}
    stored = {(f, vid): (tuple(round(v, 1) for v in b), c) for f, rows in gt.items() for vid, b, c in rows}
    assert rebuilt.keys() == stored.keys()
    for k, (box, conf) in stored.items():
        assert conf == rebuilt[k][1], k
        assert max(abs(p - q) for p, q in zip(box, rebuilt[k][0])) <= 0.11, k
    with open(os.path.join(GT_DIR, name + ".ignore.csv"), newline="") as f:
        assert sum(1 for _ in csv.DictReader(f)) == sum(1 for _, c in stored.values() if not c)


# -- the scorer --------------------------------------------------------------

def test_ground_truth_itself_scores_perfectly(clip):
    name, gt, segments, shots = clip
    fps = rc.CLIPS[name][2]
    r = rc.score_clip(gt, segments, shots, fps, *_perfect_run(gt, segments, fps))
    t = r["tracking"]
    assert (t["idf1"], t["mota"], t["recall"], t["precision"]) == (1.0, 1.0, 1.0, 1.0)
    assert t["id_switches"] == 0 and t["false_positives"] == 0 and t["misses"] == 0
    assert t["gt_boxes"] == _care_boxes(gt)
    assert r["phantoms"] == []
    # Identities that are ignored throughout are tracks "on an ignored face", not phantoms.
    kinds = {tr["track_id"]: tr["kind"] for tr in r["tracks"]}
    assert set(kinds.values()) <= {"person", "ignored"}
    for vid, kind in kinds.items():
        care = sum(1 for rows in gt.values() for v, _, c in rows if v == vid and c)
        ignored = sum(1 for rows in gt.values() for v, _, c in rows if v == vid and not c)
        assert kind == ("person" if care > ignored else "ignored"), vid
    for s in r["shots"]:
        assert s["people_found"] == s["people"] and s["phantom_tracks"] == 0
    laughs = r["laughs"]
    assert (laughs["precision"], laughs["recall"], laughs["f1"]) == (1.0, 1.0, 1.0)
    assert laughs["truth"] == sum(1 for s in segments if s[3] == "smile")
    assert laughs["on_phantoms"] == laughs["on_neutral"] == laughs["left_out"] == 0
    assert r["smile"]["accuracy"] == 1.0 and r["smile"]["pairs"] > 0


def test_swapped_ids_cost_two_switches_and_the_swapped_tail():
    name = "hamilton"
    gt, segments, shots = rc.load_gt(name, GT_DIR)
    fps = rc.CLIPS[name][2]
    pred, events, p_smile = _perfect_run(gt, segments, fps)
    a, b, k = 10, 11, 250  # two people laughing side by side in the last shot; swap from frame 250 on
    for f in range(k, max(gt) + 1):
        pred[f] = [({a: b, b: a}.get(vid, vid), box) for vid, box in pred.get(f, [])]
        p_smile.update({(f, {a: b, b: a}[vid]): p_smile[(f, vid)] for vid in (a, b) if (f, vid) in p_smile})
    r = rc.score_clip(gt, segments, shots, fps, pred, events, p_smile)
    n = _care_boxes(gt)

    def care(vid, before):
        return sum(1 for f, rows in gt.items() for v, _, c in rows if v == vid and c and (f < k) == before)

    # IDF1's best one-to-one map keeps the longer halves: the shorter ones are lost.
    lost = min(care(a, True) + care(b, True), care(a, False) + care(b, False))
    t = r["tracking"]
    assert t["id_switches"] == 2
    assert t["mota"] == pytest.approx(1.0 - 2.0 / n)
    assert t["idf1"] == pytest.approx(1.0 - lost / float(n))
    assert t["recall"] == t["precision"] == 1.0
    # Each laugh still goes to the identity its track matched most: laughs stay perfect.
    assert r["laughs"]["f1"] == 1.0 and r["phantoms"] == []


def test_a_phantom_track_costs_its_boxes_and_its_laugh():
    name = "hamilton"
    gt, segments, shots = rc.load_gt(name, GT_DIR)
    fps = rc.CLIPS[name][2]
    pred, events, p_smile = _perfect_run(gt, segments, fps)
    phantom, box, frames = 999, (520.0, 250.0, 60.0, 60.0), range(100, 130)  # the bare stage, right of the performer
    for f in frames:
        assert all(x + w < box[0] or y + h < box[1] for _, (x, y, w, h), _ in gt.get(f, [])), f
        pred[f] = pred.get(f, []) + [(phantom, box)]
    events = events + [(phantom, (frames[0] - 1) / fps, frames[-1] / fps)]
    r = rc.score_clip(gt, segments, shots, fps, pred, events, p_smile)
    n, extra = _care_boxes(gt), len(frames)
    t = r["tracking"]
    assert t["false_positives"] == extra and t["id_switches"] == 0 and t["recall"] == 1.0
    assert t["precision"] == pytest.approx(n / float(n + extra))
    assert t["mota"] == pytest.approx(1.0 - extra / float(n))
    assert t["idf1"] == pytest.approx(2.0 * n / (2.0 * n + extra))
    assert r["phantoms"] == [phantom]
    shot3 = r["shots"][2]
    assert shot3["phantom_tracks"] == 1 and shot3["viewers"] == shot3["person_tracks"] + 1
    truth = sum(1 for s in segments if s[3] == "smile")
    laughs = r["laughs"]
    assert laughs["on_phantoms"] == 1 and laughs["recall"] == 1.0
    assert laughs["precision"] == pytest.approx(truth / float(truth + 1))


def test_events_in_unlabelled_time_or_on_ignored_faces_are_left_out():
    name = "hamilton"
    gt, segments, shots = rc.load_gt(name, GT_DIR)
    fps = rc.CLIPS[name][2]
    pred, events, p_smile = _perfect_run(gt, segments, fps)
    # GT 9 (the performer, shot 3) is unlabelled from 134 to 147; GT 3 is his profile, ignored throughout.
    events = events + [(9, 135 / fps, 145 / fps), (3, 30 / fps, 40 / fps)]
    r = rc.score_clip(gt, segments, shots, fps, pred, events, p_smile)
    assert r["laughs"]["left_out"] == 2 and r["laughs"]["f1"] == 1.0


@pytest.mark.data
def test_the_videos_match_the_ground_truth():
    import cv2

    for name, (file, n_frames, fps) in rc.CLIPS.items():
        path = os.path.join(DATA, "videos", file)
        cap = cv2.VideoCapture(path)
        assert cap.isOpened(), path
        assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == SIZES[name]
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(fps, abs=0.01)
        count = 0
        while cap.grab():
            count += 1
        cap.release()
        assert count == n_frames
