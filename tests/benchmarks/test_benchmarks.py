"""Benchmark harness: the synthetic audience and the scorer.

Generator tests read real LFW photographs from ``../shared/data`` (beside the
repository, as in CI); they use a few seconds of small video.
"""
import csv
import hashlib
import json

import cv2
import numpy as np
import pytest
from helpers import DATA

from benchmarks import scoring
from benchmarks.synth_audience import Audience, AudienceSpec, generate

# The synthetic audience draws its faces from the shared LFW images.
needs_lfw = pytest.mark.data
SMALL = AudienceSpec(seed=3, seconds=6.0, fps=10.0, width=640, height=360, viewers=8, data=DATA)


@pytest.fixture(scope="module")
def small():
    audience = Audience(SMALL)
    return audience, [audience.render(f) for f in range(audience.n_frames)]


def _digest(frames) -> str:
    h = hashlib.sha256()
    for image, rows in frames:
        h.update(image.tobytes())
        h.update(repr(rows).encode())
    return h.hexdigest()


def _gt(frames):
    """``{frame: [(id, box, conf)]}`` (1-based) straight from rendered rows."""
    return {f + 1: [(r[0], r[1], r[2]) for r in rows] for f, (_, rows) in enumerate(frames)}


# -- generator ---------------------------------------------------------------

@needs_lfw
def test_same_seed_same_clip_other_seed_other_clip(small):
    audience, frames = small
    again = Audience(SMALL)
    assert [v.name for v in again.viewers] == [v.name for v in audience.viewers]
    assert again.laughs == audience.laughs
    assert _digest(again.render(f) for f in range(again.n_frames)) == _digest(frames)
    other = Audience(AudienceSpec(**dict(SMALL.__dict__, seed=4)))
    assert [v.name for v in other.viewers] != [v.name for v in audience.viewers]


@needs_lfw
def test_ground_truth_is_consistent(small):
    audience, frames = small
    W, H = SMALL.width, SMALL.height
    present = set()
    for f, (image, rows) in enumerate(frames):
        assert image.shape == (H, W, 3) and image.dtype == np.uint8
        for vid, (x, y, w, h), conf, label, vis in rows:
            assert 0 <= x and 0 <= y and x + w <= W + 1e-6 and y + h <= H + 1e-6 and w > 0 and h > 0
            assert label == int(audience.smiling(vid, f))
            assert conf == int(vis >= 0.5 and abs(w - h) < 1e-9)  # clipped boxes are never "care"
            present.add((f, vid))
    assert audience.laughs, "a clip without laughs tests nothing"
    for vid, f0, f1 in audience.laughs:
        assert 0 <= f0 < f1 <= audience.n_frames
        assert all((f, vid) in present for f in range(f0, f1)), "laugh outside the viewer's presence"
    assert len(audience.viewers) == SMALL.viewers


@needs_lfw
def test_scripted_events_happen(small):
    audience, frames = small
    vis = {}
    for f, (_, rows) in enumerate(frames):
        for r in rows:
            vis.setdefault(r[0], {})[f] = r[4]
    # The viewer who leaves is absent for a stretch, then back in the seat.
    leaver = vis[audience.leave["viewer"]]
    gone = [f for f in range(len(frames)) if f not in leaver]
    assert gone and min(gone) > 0 and max(gone) < len(frames) - 1
    # The leaning viewer ends up partly, not wholly, hidden.
    lean = min(vis[audience.lean["viewer"]].values())
    assert 0.2 < lean < 0.9
    # The passer-by hides several faces of their row.
    row = [v.viewer_id for v in audience.viewers if v.row == audience.walker["row"]]
    assert sum(min(vis[v].values()) < 0.5 for v in row) >= 2
    # Every head moves (sway) and the light changes.
    for v in audience.viewers:
        xs = {round(r[1][0], 1) for _, rows in frames for r in rows if r[0] == v.viewer_id}
        assert len(xs) > 3
    means = [img.mean() for img, _ in frames]
    assert max(means) - min(means) > 3


@needs_lfw
def test_generate_writes_mot_files(tmp_path):
    spec = AudienceSpec(seed=5, seconds=2.0, fps=10.0, width=480, height=270, viewers=4, data=DATA)
    summary = generate(spec, str(tmp_path), check_every=0)
    audience = Audience(spec)
    gt = scoring.read_gt_tracks(str(tmp_path / "gt_tracks.csv"))
    assert min(gt) == 1 and max(gt) == audience.n_frames == summary["frames"]  # 1-based
    frame1 = audience.render(0)[1]
    assert [(i, c) for i, _, c in gt[1]] == [(r[0], r[2]) for r in frame1]
    assert np.allclose([b for _, b, _ in gt[1]], [r[1] for r in frame1], atol=0.01)
    with open(str(tmp_path / "gt_tracks.csv")) as f:
        assert all(row[7:] == ["-1", "-1", "-1"] for row in csv.reader(f))
    smiles = scoring.read_gt_smiles(str(tmp_path / "gt_smiles.csv"))
    assert len(smiles) == sum(len(v) for v in gt.values())
    laughs = scoring.read_laughs(str(tmp_path / "gt_laughs.jsonl"))
    assert laughs == [(v, a / spec.fps, b / spec.fps) for v, a, b in audience.laughs]
    cap = cv2.VideoCapture(str(tmp_path / "audience.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == audience.n_frames
    assert json.loads((tmp_path / "audience.json").read_text())["spec"]["seed"] == 5


@needs_lfw
def test_gt_boxes_are_where_haar_draws_them():
    """The calibrated GT box agrees with the pipeline's detector on a full-size frame."""
    from reaction.boxes import box_iou
    from reaction.detector import DetectorConfig, FaceDetector

    audience = Audience(AudienceSpec(seed=1, seconds=1.0, viewers=8, data=DATA))
    image, rows = audience.render(0)
    boxes = [d.box for d in FaceDetector(DetectorConfig(min_size=60)).detect(image)]
    best = [max((box_iou(r[1], b) for b in boxes), default=0.0) for r in rows if r[2]]
    assert len(best) == 8
    assert sum(b >= 0.5 for b in best) >= 7 and np.median(best) > 0.8


# -- scorer ------------------------------------------------------------------

def _two_walkers(n=10):
    return {f: [(1, (10.0 + f, 10.0, 40.0, 40.0), 1), (2, (200.0 - f, 10.0, 40.0, 40.0), 1)]
            for f in range(1, n + 1)}


def test_ground_truth_scores_perfectly():
    gt = _two_walkers()
    pred = {f: [(i, b) for i, b, _ in rows] for f, rows in gt.items()}
    s = scoring.score_tracking(gt, pred)
    assert (s.mota, s.idf1, s.id_switches, s.fragmentations) == (1.0, 1.0, 0, 0)
    assert s.matches[3] == {1: 1, 2: 2}
    truth = [(1, 0.5, 2.0), (2, 1.0, 4.0), (1, 3.0, 3.5)]
    l = scoring.score_laughs(truth, truth)
    assert (l.precision, l.recall, l.f1, l.onset_delay_s) == (1.0, 1.0, 1.0, 0.0)


@needs_lfw
def test_generated_ground_truth_scores_perfectly(small):
    audience, frames = small
    gt = _gt(frames)
    pred = {f: [(i, b) for i, b, c in rows] for f, rows in gt.items()}  # don't-care boxes too
    s = scoring.score_tracking(gt, pred)
    assert (s.idf1, s.mota, s.false_positives, s.misses) == (1.0, 1.0, 0, 0)
    laughs = [(v, a / SMALL.fps, b / SMALL.fps) for v, a, b in audience.laughs]
    assert scoring.score_laughs(laughs, scoring.map_events(laughs, s.matches, SMALL.fps)).f1 == 1.0


def test_swapped_ids_cost_a_known_amount():
    gt = _two_walkers(10)
    # From frame 8 on the tracker swaps the two ids: 2 switches in 20 boxes;
    # the best id mapping keeps frames 1-7 of each, so IDF1 = 14 / 20.
    pred = {f: [((3 - i) if f >= 8 else i, b) for i, b, _ in rows] for f, rows in gt.items()}
    s = scoring.score_tracking(gt, pred)
    assert s.id_switches == 2
    assert s.idf1 == pytest.approx(0.7)
    assert s.mota == pytest.approx(1 - 2 / 20.0)


def test_misses_fragmentations_and_dont_care():
    gt = _two_walkers(10)
    gt[5] = [(1, gt[5][0][1], 0), gt[5][1]]  # viewer 1 hidden on frame 5: don't care
    pred = {f: [(i, b) for i, b, _ in rows if not (i == 2 and f in (3, 4))] for f, rows in gt.items()}
    s = scoring.score_tracking(gt, pred)
    # 19 care boxes, 2 missed (viewer 2, frames 3-4), the prediction on the
    # don't-care box is not a false positive; viewer 2's track is fragmented once.
    assert (s.gt_boxes, s.misses, s.false_positives, s.fragmentations) == (19, 2, 0, 1)
    assert s.mota == pytest.approx(1 - 2 / 19.0)


def test_shifted_laughs_cost_a_known_amount():
    truth = [(1, 10.0, 11.0), (1, 20.0, 23.0)]
    # Shift d on an event of length L gives temporal IoU (L-d)/(L+d):
    # d=0.5 keeps both (1/3, 5/7); d=0.6 loses the 1 s event (0.25 < 0.3).
    half = scoring.score_laughs(truth, [(v, a + 0.5, b + 0.5) for v, a, b in truth])
    assert half.f1 == 1.0 and half.onset_delay_s == pytest.approx(0.5)
    more = scoring.score_laughs(truth, [(v, a + 0.6, b + 0.6) for v, a, b in truth])
    assert (more.precision, more.recall, more.f1) == (0.5, 0.5, 0.5)
    assert more.found == [False, True]
    assert more.onset_delay_s == pytest.approx(0.6)
    other_viewer = scoring.score_laughs(truth, [(2, a, b) for _, a, b in truth])
    assert other_viewer.f1 == 0.0 and other_viewer.onset_delay_s is None


def test_events_take_the_viewer_their_track_matched():
    matches = {f: {7: 1, 9: 2} for f in range(1, 11)}
    matches.update({f: {7: 2} for f in range(11, 21)})  # track 7 moves to viewer 2
    events = [(7, 0.0, 0.5), (7, 1.2, 1.8), (9, 0.1, 0.3), (5, 0.0, 1.0)]
    assert scoring.map_events(events, matches, fps=10.0) == [
        (1, 0.0, 0.5), (2, 1.2, 1.8), (2, 0.1, 0.3), (-1, 0.0, 1.0)]


def test_smile_accuracy_counts_matched_pairs():
    matches = {1: {7: 1, 9: 2}, 2: {7: 1, 9: 2}}
    labels = {(1, 1): 1, (1, 2): 0, (2, 1): 1, (2, 2): 0}
    assert scoring.smile_accuracy(matches, labels, {(1, 7): True, (1, 9): False,
                                                    (2, 7): True, (2, 9): False}) == (1.0, 4)
    # one wrong call and one missing call out of four
    assert scoring.smile_accuracy(matches, labels, {(1, 7): False, (1, 9): False, (2, 7): True}) == (0.5, 4)
    # P(smile) values are calls at 0.5
    assert scoring.smile_accuracy(matches, labels, {(1, 7): 0.7, (1, 9): 0.2, (2, 7): 0.4, (2, 9): 0.5}) == (0.5, 4)


def test_smile_ranking_auc_and_the_best_threshold_for_the_pairs():
    # smiles at 0.9, 0.4, 0.35; neutrals at 0.6, 0.3, 0.1; one smile never scored
    pairs = [(1, 0.9), (1, 0.4), (1, 0.35), (0, 0.6), (0, 0.3), (0, 0.1), (1, None)]
    r = scoring.smile_ranking(pairs)
    # 9 smile-neutral pairs of scored faces, 7 in order (0.4 and 0.35 fall below 0.6)
    assert r["auc"] == pytest.approx(7 / 9)
    # calling smile at >= 0.35: 3 smiles right, 0.3 and 0.1 right, 0.6 wrong, the unscored one wrong
    assert r["best_accuracy"] == pytest.approx(5 / 7) and r["best_threshold"] == 0.35
    assert scoring.smile_ranking([(0, None)])["auc"] is None
    # every face neutral: never calling a smile is best
    assert scoring.smile_ranking([(0, 0.8), (0, 0.2)])["best_accuracy"] == 1.0


def test_the_threshold_pick_ignores_a_real_f1_lead_of_less_than_one_event():
    from benchmarks.smile_threshold import choose, one_event

    def row(t, hit, judged, synthetic_f1, smile=0.8):
        truth = 9
        f1 = 2 * hit / (judged + truth)
        return dict(threshold=t, clips={"a": dict(laughs=dict(matched=hit, judged=judged, truth=truth))},
                    real=dict(f1=f1, smile=smile), synthetic=dict(laughs=dict(f1=synthetic_f1)))

    # 0.15 leads on the real clips by one matched laugh (8 of 10 events against 7 of 9), 0.30 holds
    # the synthetic audience far better; 0.50 is two events behind and out however well it does there.
    rows = [row(0.15, 8, 10, 0.70), row(0.30, 7, 9, 0.77), row(0.50, 5, 5, 0.90)]
    assert one_event(rows[0]) == pytest.approx(2 / 19)
    assert choose(rows)["threshold"] == 0.30
    # Synthetic F1 level: the better per-frame accuracy on the real frames decides.
    rows = [row(0.15, 8, 10, 0.70, smile=0.7), row(0.30, 8, 10, 0.70, smile=0.75)]
    assert choose(rows)["threshold"] == 0.30


def test_versus_section_flags_a_profile_that_loses_accuracy():
    from types import SimpleNamespace as NS

    from benchmarks.accuracy import versus_section

    def scored(idf1, f1):
        return dict(tracking=NS(mota=0.9, idf1=idf1, id_switches=1), laughs=NS(f1=f1, precision=0.9, recall=0.8),
                    info=dict(frames=100, wall_s=4.0, stage_ms=dict(detect=10.0)))

    checks = []
    lines = versus_section("balanced", scored(0.95, 0.84), "accurate", scored(0.96, 0.87), checks)
    assert any(l.startswith("| balanced | 25.0 |") for l in lines)
    # IDF1 0.01 below: within 0.02. Laugh F1 0.03 below: not.
    assert [ok for _, ok, _ in checks] == [True, False]
    checks = []
    versus_section("balanced", scored(0.99, 0.90), "accurate", scored(0.96, 0.87), checks)
    assert [ok for _, ok, _ in checks] == [True, True]  # better than the slow profile is fine


def test_throughput_report_keeps_the_levers_section(tmp_path):
    from benchmarks.throughput import write_keeping_levers

    path = str(tmp_path / "throughput.md")
    write_keeping_levers(path, "# Throughput benchmark\n\nold table\n")
    with open(path, "a") as f:
        f.write("\n## Levers\n\nlever table\n")
    write_keeping_levers(path, "# Throughput benchmark\n\nnew table\n")
    text = open(path).read()
    assert "new table" in text and "old table" not in text
    assert text.endswith("## Levers\n\nlever table\n")


# -- peers -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["reaction", "norfair", "motpy"])
def test_every_tracker_follows_a_seated_crowd(name):
    """Box conversions into and out of each library are right: steady faces keep their ids."""
    if name != "reaction":
        pytest.importorskip(name)  # benchmark-only dependency
    from benchmarks import peers

    dets, times = peers.crowd(n_faces=6, frames=60)
    gt = {f: [(i + 1, d.box, 1) for i, d in enumerate(row)] for f, row in enumerate(dets, 1)}
    fn, kwargs = peers.RECOMMENDED[name]
    pred, cost = fn(dets, times, **kwargs)
    s = scoring.score_tracking(gt, pred)
    assert len(cost) == 60 and all(c >= 0 for c in cost)
    assert s.id_switches == 0 and s.false_positives == 0
    assert s.idf1 > 0.85  # only the start-up delay (a few frames per face) is missed


def test_the_levers_table_ends_at_the_balanced_profile():
    from benchmarks.levers import LEVERS
    from reaction.pipeline import profile_config

    settings = {}
    for label, change in LEVERS:
        settings.update(change)
        if "(= balanced)" in label:
            break
    settings.pop("prefetch")
    assert profile_config("balanced", **settings) == profile_config("balanced")
