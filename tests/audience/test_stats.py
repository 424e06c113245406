"""The statistics of ``reaction report``: known curves, offsets, denominators, interval coverage."""
import numpy as np
import pytest
from runs import read_csv, write_run

from reaction.audience.build import RunFolders, make_report
from reaction.audience.inputs import RunSpec, Scene, parse_offset
from reaction.audience.stats import CurveAccumulator, permutation_p, scene_rows, scene_table, smooth
from reaction.audience.inputs import Screening


def report(tmp_path, specs, **kw):
    out = tmp_path / "report"
    make_report(RunFolders(specs), str(out), **kw)
    return read_csv(out / "laughs_per_second.csv"), out


def test_known_inputs_give_the_known_curve(tmp_path):
    run = write_run(tmp_path / "a", {"1": [(0, 10)], "2": [(0, 10)]}, {"1": [(2.0, 3.5)], "2": [(3.2, 3.8)]})
    rows, _ = report(tmp_path, [RunSpec(run, 0.0, "a")])
    assert len(rows) == 10
    laughing = [int(r["viewers_laughing"]) for r in rows]
    assert laughing == [0, 0, 1, 2, 0, 0, 0, 0, 0, 0]
    assert [int(r["viewers_present"]) for r in rows] == [2] * 10
    assert [float(r["share"]) for r in rows][:5] == [0, 0, 0.5, 1.0, 0]
    # smoothed over 5 s: second 2 pools seconds 0..4 -> 3 laughing of 10 present
    assert float(rows[2]["smoothed_share"]) == pytest.approx(0.3)


def test_an_offset_shifts_the_curve_exactly(tmp_path):
    presence = {"1": [(0, 30)], "2": [(1, 25)], "x7": [(5, 30)]}
    laughs = {"1": [(4.2, 6.0)], "2": [(10.5, 11.0)], "x7": [(20.0, 22.9)]}
    plain = write_run(tmp_path / "plain", presence, laughs)
    late = write_run(tmp_path / "late", presence, laughs, shift=83.25)
    a, _ = report(tmp_path / "r1", [RunSpec(plain, 0.0, "s")])
    b, _ = report(tmp_path / "r2", [RunSpec(late, parse_offset("00:01:23.250"), "s")])
    assert a == b and any(float(r["share"] or 0) > 0 for r in a)
    c, _ = report(tmp_path / "r3", [RunSpec(late, 80.25, "s")])  # three seconds early: moved by exactly 3
    assert [r["viewers_laughing"] for r in c[3:33]] == [r["viewers_laughing"] for r in a[:30]]


def test_a_viewer_absent_for_a_second_is_not_in_its_denominator(tmp_path):
    run = write_run(tmp_path / "a", {"1": [(0, 10)], "2": [(0, 5.0), (6.0, 10)]}, {"1": [(4.5, 6.5)]})
    rows, _ = report(tmp_path, [RunSpec(run, 0.0, "a")])
    assert [int(r["viewers_present"]) for r in rows[4:7]] == [2, 1, 2]
    assert float(rows[5]["share"]) == 1.0 and float(rows[4]["share"]) == 0.5


def test_screenings_pool_per_second(tmp_path):
    a = write_run(tmp_path / "a", {"1": [(0, 4)]}, {"1": [(1, 1.5)]})
    b = write_run(tmp_path / "b", {"9": [(10, 14)], "8": [(10, 14)]}, {"9": [(11.2, 11.4)]})
    rows, _ = report(tmp_path, [RunSpec(a, 0, "a"), RunSpec(b, 10.0, "b")])
    assert rows[1]["viewers_laughing"] == "2" and rows[1]["viewers_present"] == "3"
    assert rows[1]["screenings"] == "2"


@pytest.mark.parametrize("window", [1, 5])
def test_the_band_covers_the_true_share_about_95_percent_of_the_time(window):
    rng = np.random.default_rng(12345)
    covered = total = 0
    for trial in range(6):
        seconds, viewers = 120, 80
        p = rng.uniform(0.03, 0.5, size=seconds)
        acc = CurveAccumulator(seconds, seed=trial)
        for _screening in range(2):
            present = rng.random((viewers // 2, seconds)) < 0.9
            laughing = (rng.random((viewers // 2, seconds)) < p) & present
            acc.add(present, laughing)
        curve = acc.curve(window)
        truth = smooth(p[None, :], window)[0] / smooth(np.ones((1, seconds)), window)[0]
        ok = (curve["low"] <= truth) & (truth <= curve["high"])
        covered += int(ok.sum())
        total += seconds
    assert 0.92 <= covered / total <= 0.98, covered / total


def test_scene_measures_and_the_permutation_test():
    scenes = [Scene(0, 60, "open"), Scene(60, 120, "flat")]
    rng = np.random.default_rng(3)

    def screening(rate):
        presence = {str(v): [(0.0, 120.0)] for v in range(40)}
        laughs = {str(v): [(t, t + 1.5) for t in np.sort(rng.uniform(0, 60, rng.poisson(rate)))] for v in range(40)}
        return Screening("s", "", 0.0, 120.0, presence, laughs)

    a, b = scene_rows(screening(6), scenes), scene_rows(screening(1), scenes)
    table = scene_table(np.concatenate([a]), scenes)
    assert table[0]["rank"] == 1 and table[1]["laughs_per_viewer_minute"] == 0
    assert table[0]["laughs_per_viewer_minute_low"] < 6 < table[0]["laughs_per_viewer_minute_high"]
    assert table[0]["mean_laugh_s"] == pytest.approx(1.5)
    p = permutation_p(a, b, n_perm=500)
    assert p[0] < 0.01  # 6 against 1 laughs a minute
    assert p[1] == 1.0  # nobody laughed in either group: no difference at all
    same = permutation_p(a[:20], a[20:], n_perm=500)
    assert same[0] > 0.05
