"""presence.csv: each viewer's on-screen intervals, written by ``reaction analyze``."""
import csv

import pytest

from reaction import analyze, profile_config


def test_presence_intervals_cover_every_frame_a_viewer_is_seen_and_nothing_more(tmp_path, sample_clip):
    out = tmp_path / "run"
    done = analyze(sample_clip, str(out), profile_config("balanced"))
    period = 1001 / 30000.0
    assert done.summary["media_s"] == pytest.approx(275 * period, abs=2e-3)
    spans = {}
    with open(out / "presence.csv", newline="") as f:
        for row in csv.DictReader(f):
            spans.setdefault(row["viewer_id"], []).append((float(row["start_s"]), float(row["end_s"])))
    seen = {}
    with open(out / "smiles.csv", newline="") as f:
        for row in csv.DictReader(f):
            seen.setdefault(row["viewer_id"], []).append(float(row["time_s"]))
    assert set(spans) == set(seen) and len(spans) == len(done.summary["viewers"])
    for vid, times in seen.items():
        mine = sorted(spans[vid])
        for (a1, b1), (a2, b2) in zip(mine, mine[1:]):
            assert b1 < a2  # a gap, or it would be one interval
        for t in times:
            assert any(a - 1e-3 <= t < b + 1e-3 for a, b in mine), (vid, t)
        # on screen as long as the frames say: each frame stands for one period
        total = sum(b - a for a, b in mine)
        assert total == pytest.approx(len(times) * period, abs=len(mine) * 2e-3 + 1e-6)
