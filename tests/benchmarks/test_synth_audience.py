"""The synthetic audience's presets: the classic clip unchanged, the hard one's scripted events.

Reads real LFW photographs from ``../shared/data``; a small hard audience
(960x540, 12 viewers, 12 s at 10 fps) is built and rendered once per module.
"""
import copy
import csv
import hashlib

import cv2
import numpy as np
import pytest
from helpers import DATA

from benchmarks import scoring
from benchmarks.lfw_faces import FacePatch
from benchmarks.synth_audience import (
    MAX_VIEWERS,
    Audience,
    AudienceSpec,
    build_parser,
    generate,
    motion_blurred,
    spec_from_args,
    tier_rows,
)
from reaction.types import ReactionError

needs_lfw = pytest.mark.data
CLASSIC = AudienceSpec(seed=3, seconds=6.0, fps=10.0, width=640, height=360, viewers=8, data=DATA)
# sha256 of (frame bytes, repr(GT rows)) of CLASSIC, computed with the generator as it was
# before the harder options were added: the classic preset must stay frame for frame the same.
CLASSIC_DIGESTS = {0: "8e13363e2317ed27", 15: "11e5a42e4f90fc13", 30: "47e55856b2cbb6a5",
                   45: "5b02ab874fc8f351", 59: "b3b6b85eee626755"}
CLASSIC_LAUGHS = "6a1bafe27b419f6d"
HARD = AudienceSpec.preset("hard", seed=3, seconds=12.0, fps=10.0, width=960, height=540, viewers=12, data=DATA)


def _digest(image, rows) -> str:
    h = hashlib.sha256(image.tobytes())
    h.update(repr(rows).encode())
    return h.hexdigest()[:16]


@pytest.fixture(scope="module")
def hard():
    audience = Audience(HARD)
    return audience, [audience.render_truth(f) for f in range(audience.n_frames)]


def _by_viewer(frames):
    """``{viewer: {frame: (box, conf, vis, facing, state)}}``."""
    out = {}
    for f, (_, rows, info) in enumerate(frames):
        for vid, box, conf, _, vis in rows:
            out.setdefault(vid, {})[f] = (box, conf, vis, info["facing"][vid], info["states"][vid])
    return out


def _centre(box):
    x, y, w, h = box
    return x + w / 2.0, y + h / 2.0


# -- presets -----------------------------------------------------------------

@needs_lfw
def test_classic_preset_is_the_clip_it_always_was():
    assert AudienceSpec.preset("classic", seed=3, seconds=6.0, fps=10.0, width=640, height=360, viewers=8,
                               data=DATA) == CLASSIC
    assert not CLASSIC.extended
    audience = Audience(CLASSIC)
    assert {f: _digest(*audience.render(f)) for f in CLASSIC_DIGESTS} == CLASSIC_DIGESTS
    assert hashlib.sha256(repr(audience.laughs).encode()).hexdigest()[:16] == CLASSIC_LAUGHS


def test_presets_and_cli():
    spec = AudienceSpec.preset("hard")
    assert (spec.width, spec.height, spec.viewers, spec.layout) == (1920, 1080, 40, "tiers")
    assert spec.head_turns and spec.lean_outs and spec.seat_change and spec.seat_swap and spec.motion_blur
    assert spec.posters > 0 and spec.clutter and spec.shake_px > 0 and spec.extended
    assert AudienceSpec.preset("hard", viewers=120).viewers == 120
    with pytest.raises(ReactionError):
        AudienceSpec.preset("nope")
    args = build_parser().parse_args(["--preset", "hard", "--viewers", "120", "--no-clutter", "--shake", "0",
                                      "--seconds", "20", "--seed", "3"])
    spec = spec_from_args(args)
    assert (spec.preset_name, spec.viewers, spec.clutter, spec.shake_px, spec.seconds, spec.seed) == (
        "hard", 120, False, 0.0, 20.0, 3)
    assert spec.head_turns and spec.width == 1920
    classic = spec_from_args(build_parser().parse_args(["--seed", "2"]))
    assert classic == AudienceSpec(seed=2)


def test_seated_rows_scale_to_120_viewers():
    for n in (10, 40, 80, MAX_VIEWERS["tiers"]):
        seats = n + max(2, int(round(0.08 * n)))
        rows = tier_rows(seats, 1920, 1080)
        assert sum(c for _, _, c in rows) == seats
        ys, sizes = [y for y, _, _ in rows], [s for _, s, _ in rows]
        assert ys == sorted(ys) and sizes == sorted(sizes)  # back rows higher and smaller
        assert min(sizes) >= 0.045 * 1080  # above the balanced profile's smallest face (4% of the height)
        assert all(c * 1.45 * s <= 1920 for _, s, c in rows)  # faces do not touch
        assert ys[0] - 0.8 * sizes[0] > 0.2 * 1080 * 0.95 and ys[-1] + 0.6 * sizes[-1] < 1080
    assert len(tier_rows(130, 1920, 1080)) > len(tier_rows(43, 1920, 1080))
    with pytest.raises(ReactionError):
        AudienceSpec.preset("hard", viewers=121, data=DATA).validate()
    with pytest.raises(ReactionError):
        AudienceSpec(viewers=41, data=DATA).validate()


def test_motion_blur_smears_along_the_motion():
    def stripes(axis):
        img = np.zeros((41, 41, 3), np.float32)
        idx = [slice(None)] * 2
        idx[axis] = slice(0, None, 4)
        img[tuple(idx)] = 200.0
        return FacePatch(img, np.ones((41, 41, 1), np.float32), 25, 41 * 41)

    across, along = stripes(1), stripes(0)  # stripes that vary along x / along y
    assert motion_blurred(across, 0.5, 0.0) is across  # a swaying head stays sharp
    inner = (slice(8, 33), slice(8, 33))
    # Moving 8 px/frame to the right smears what varies along x, not what varies along y.
    assert motion_blurred(across, 8.0, 0.0).image[inner].std() < 0.3 * across.image[inner].std()
    assert np.allclose(motion_blurred(along, 8.0, 0.0).image[inner], along.image[inner], atol=1e-3)
    assert motion_blurred(along, 0.0, 8.0).image[inner].std() < 0.3 * along.image[inner].std()


# -- the hard preset's events --------------------------------------------------

@needs_lfw
def test_hard_is_deterministic_for_a_seed(hard):
    audience, frames = hard
    again = Audience(HARD)
    assert [v.name for v in again.viewers] == [v.name for v in audience.viewers]
    assert (again.turns, again.lean_outs, again.seat_change, again.swap, again.laughs) == (
        audience.turns, audience.lean_outs, audience.seat_change, audience.swap, audience.laughs)
    for f in (0, 37, 71, 119):
        image, rows, info = again.render_truth(f)
        assert _digest(image, rows) == _digest(*frames[f][:2]) and info == frames[f][2]
    other = Audience(AudienceSpec.preset("hard", **dict(HARD.__dict__, seed=4)))
    assert [v.name for v in other.viewers] != [v.name for v in audience.viewers]


@needs_lfw
def test_hard_ground_truth_is_consistent(hard):
    audience, frames = hard
    H, W = HARD.height, HARD.width
    for f, (image, rows, info) in enumerate(frames):
        assert image.shape == (H, W, 3) and image.dtype == np.uint8
        assert [r[0] for r in rows] == sorted(info["states"]) == sorted(info["facing"])
        for vid, (x, y, w, h), conf, label, vis in rows:
            assert x >= 0 and y >= 0 and x + w <= W + 1e-6 and y + h <= H + 1e-6 and w > 0 and h > 0
            assert label == int(audience.smiling(vid, f))
            assert conf == int(vis >= 0.5 and abs(w - h) < 1e-9)
            assert info["facing"][vid] or (vis == 0.0 and conf == 0)
    for vid, f0, f1 in audience.laughs:  # nobody laughs while their face is away
        busy = audience.busy.get(vid, [])
        assert not any(f0 / HARD.fps < b1 and f1 / HARD.fps > b0 for b0, b1 in busy)


@needs_lfw
def test_head_turns_hide_the_face_for_1_to_3_s(hard):
    audience, frames = hard
    seen = _by_viewer(frames)
    assert len(audience.turns) >= 3
    for ev in audience.turns:
        track = seen[ev["viewer"]]
        away = sorted(f for f, r in track.items() if not r[3])
        assert away and away == list(range(away[0], away[-1] + 1)), "one unbroken turn"
        assert 1.0 - 1.5 / HARD.fps <= len(away) / HARD.fps <= 3.0 + 1.5 / HARD.fps
        assert all(track[f][1:3] == (0, 0.0) and track[f][4] == "turned_away" for f in away)
        # Facing the camera, and a "care" box, just before and after.
        for f in (away[0] - 2, away[-1] + 3):
            if 0 <= f < len(frames) and f in track:
                assert track[f][3] == 1


@needs_lfw
def test_lean_outs_leave_the_frame_and_come_back(hard):
    audience, frames = hard
    seen = _by_viewer(frames)
    assert len(audience.lean_outs) == 2
    for ev in audience.lean_outs:
        track = seen[ev["viewer"]]
        gone = [f for f in range(len(frames)) if f not in track]
        assert gone and min(gone) > 0 and max(gone) < len(frames) - 1
        cut = [f for f, r in track.items() if r[4] == "leaning_out" and r[1] == 0]
        assert cut, "the face is cut by the frame edge on its way out"
        assert track[len(frames) - 1][1] == 1


@needs_lfw
def test_a_viewer_walks_along_the_row_and_sits_elsewhere(hard):
    audience, frames = hard
    sc = audience.seat_change
    track = _by_viewer(frames)[sc["viewer"]]
    v = next(v for v in audience.viewers if v.viewer_id == sc["viewer"])
    first, last = _centre(track[0][0]), _centre(track[len(frames) - 1][0])
    walking = [f for f, r in track.items() if r[4] == "changing_seat"]
    assert walking and max(walking) < len(frames) - 5
    assert abs(last[0] - first[0]) > 1.5 * v.size  # a different seat, along the row
    assert abs(last[1] - first[1]) < 0.3 * v.size
    assert any(abs(x - sc["to_x"]) < 1 and abs(y - sc["to_y"]) < 1 for _, x, y, _ in audience.empty_seats)
    assert abs(last[0] - sc["to_x"]) < 0.3 * v.size
    ys = [_centre(track[f][0])[1] for f in walking if f in track]
    assert min(ys) < first[1] - 1.2 * v.size  # standing: the face rises above the row
    xs = [_centre(track[f][0])[0] for f in walking if f in track]
    assert len({round(x) for x in xs}) > 10  # moves frame by frame


@needs_lfw
def test_two_viewers_swap_seats(hard):
    audience, frames = hard
    a, b = audience.swap["viewers"]
    seen = _by_viewer(frames)
    size = next(v.size for v in audience.viewers if v.viewer_id == a)
    end = len(frames) - 1
    a0, b0 = _centre(seen[a][0][0]), _centre(seen[b][0][0])
    a1, b1 = _centre(seen[a][end][0]), _centre(seen[b][end][0])
    assert np.hypot(a1[0] - b0[0], a1[1] - b0[1]) < 0.3 * size
    assert np.hypot(b1[0] - a0[0], b1[1] - a0[1]) < 0.3 * size
    # They cross: the one behind is hidden (a don't-care box) for a moment.
    assert any(r[1] == 0 and r[4] == "swapping" for r in seen[b].values())


@needs_lfw
def test_posters_fool_haar_but_are_never_viewers(hard):
    from reaction.boxes import box_iou
    from reaction.detector import DetectorConfig, FaceDetector

    audience, frames = hard
    assert audience.posters
    names = {v.name for v in audience.viewers}
    assert not {p["name"].rsplit("_", 1)[0] for p in audience.posters} & names
    for _, rows, info in frames:
        posters = [b for kind, b, _ in info["distractors"] if kind == "poster"]
        assert len(posters) == len(audience.posters)
        assert all(box_iou(r[1], p) < 0.05 for r in rows for p in posters)
    image, _, info = frames[0]
    found = [d.box for d in FaceDetector(DetectorConfig()).detect(image)]
    posters = [b for kind, b, _ in info["distractors"] if kind == "poster"]
    assert sum(any(box_iou(p, d) >= 0.5 for d in found) for p in posters) >= len(posters) - 1


@needs_lfw
def test_camera_shake_moves_the_picture_and_the_ground_truth(hard):
    audience, frames = hard
    shifts = audience.shake_xy
    assert 0 < np.abs(shifts).max() <= audience.margin - 2
    assert len({tuple(s) for s in shifts}) > 5
    f = next(f for f in range(len(frames)) if abs(shifts[f][0]) >= 1 and abs(shifts[f][1]) >= 1)
    still = copy.copy(audience)
    still.shake_xy = np.zeros_like(shifts)
    image0, rows0, info0 = still.render_truth(f)
    image, rows, info = frames[f]
    dx, dy = (int(v) for v in shifts[f])
    assert info["shake"] == (dx, dy) and info0["shake"] == (0, 0)
    boxes0 = {r[0]: r[1] for r in rows0 if r[2]}
    for vid, box, conf, _, _ in rows:
        if conf and vid in boxes0:
            assert np.allclose(box, (boxes0[vid][0] + dx, boxes0[vid][1] + dy) + boxes0[vid][2:])
    # Same scene: the shaken frame is the still one moved by (dx, dy). The sensor noise does not
    # move with the camera, so compare 9x9 block means, where it averages out.
    m = audience.margin
    H, W = HARD.height, HARD.width

    def err(sx, sy):
        a = cv2.blur(image[m + sy:H - m + sy, m + sx:W - m + sx].astype(np.float32), (9, 9))
        b = cv2.blur(image0[m:H - m, m:W - m].astype(np.float32), (9, 9))
        return float(np.abs(a - b).mean())

    assert err(dx, dy) < 1.0 and err(dx, dy) < 0.5 * err(0, 0)


@needs_lfw
def test_generate_writes_hard_ground_truth(tmp_path):
    spec = AudienceSpec.preset("hard", seed=5, seconds=10.0, fps=5.0, width=800, height=450, viewers=10, data=DATA)
    summary = generate(spec, str(tmp_path), check_every=0)
    gt = scoring.read_gt_tracks(str(tmp_path / "gt_tracks.csv"))
    assert max(gt) == summary["frames"] == 50
    with open(str(tmp_path / "gt_tracks.csv")) as f:
        tracks = list(csv.reader(f))
    with open(str(tmp_path / "gt_visibility.csv")) as f:
        vis = list(csv.DictReader(f))
    assert len(vis) == len(tracks)
    for row, v in zip(tracks, vis):
        assert (row[0], row[1]) == (v["frame"], v["viewer_id"])
        assert row[7:] == ["-1", "-1", "-1"]
        if v["facing"] == "0":
            assert row[6] == "0" and float(v["visibility"]) == 0.0 and v["state"] == "turned_away"
    assert {v["state"] for v in vis} >= {"seated", "turned_away", "changing_seat", "swapping", "leaning_out"}
    with open(str(tmp_path / "gt_camera.csv")) as f:
        camera = list(csv.DictReader(f))
    assert len(camera) == 50 and any(c["dx"] != "0" for c in camera)
    with open(str(tmp_path / "gt_distractors.csv")) as f:
        kinds = {r["kind"] for r in csv.DictReader(f)}
    assert "poster" in kinds
    events = summary["events"]
    assert events["turns"] and events["swap"] and events["seat_change"] and events["posters"]
    assert summary["spec"]["preset_name"] == "hard"
