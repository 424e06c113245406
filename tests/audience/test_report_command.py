"""``reaction report`` from the command line: outputs, manifests, bad input, no MXNet."""
import json
import subprocess
import sys

import pytest
from helpers import ROOT
from runs import read_csv, write_run

from reaction.cli import main


@pytest.fixture
def runs(tmp_path):
    a = write_run(tmp_path / "a", {"1": [(0, 30)], "2": [(0, 30)]}, {"1": [(5, 6)], "2": [(5.5, 7)]})
    b = write_run(tmp_path / "b", {"1": [(10, 40)], "7": [(10, 40)]}, {"7": [(15.2, 16.0)]})
    return a, b


def fails(capsys, *argv):
    assert main(["report", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_outputs_and_the_manifest_form(tmp_path, runs, capsys):
    a, b = runs
    (tmp_path / "runs.csv").write_text("run,offset,screening,group\na,0,matinee,A\nb,00:00:10,evening,B\n")
    (tmp_path / "scenes.csv").write_text("0,10,Opening\n10,30,Middle\n")
    out = tmp_path / "r"
    assert main(["report", str(tmp_path / "runs.csv"), "--out", str(out), "--scenes", str(tmp_path / "scenes.csv")]) == 0
    assert str(out / "report.html") in capsys.readouterr().out
    per_second = read_csv(out / "laughs_per_second.csv")
    assert len(per_second) == 30  # the film is as long as the longest recording after its offset
    assert per_second[5]["viewers_laughing"] == "3" and per_second[5]["viewers_present"] == "4"
    assert per_second[5]["timecode"] == "00:00:05" and per_second[5]["screenings"] == "2"
    moments = read_csv(out / "moments.csv")
    assert moments[0]["timecode"] == "00:00:05" and moments[0]["screenings_laughing"] == "2"
    scenes = read_csv(out / "scenes.csv")
    assert [s["title"] for s in scenes] == ["Opening", "Middle"] and scenes[0]["rank"] == "1"
    # Opening: 3 laughs in 4 viewers x 10 s
    assert float(scenes[0]["laughs_per_viewer_minute"]) == pytest.approx(3 / (40 / 60), abs=1e-3)
    report = json.loads((out / "report.json").read_text())
    assert report["comparison"]["groups"] == ["A", "B"]  # two groups in the manifest: compared
    assert [q["screening"] for q in report["quality"]] == ["matinee", "evening"]
    assert report["quality"][0]["warnings"]  # two viewers only


def test_bad_inputs_are_one_line_and_status_2(tmp_path, runs, capsys):
    a, b = runs
    out = str(tmp_path / "r")
    (tmp_path / "notarun").mkdir()
    assert "not a reaction analyze output" in fails(capsys, str(tmp_path / "notarun"), "--out", out)
    assert "is not a time" in fails(capsys, a + "@1:2x", "--out", out)
    (tmp_path / "overlap.csv").write_text("0,10,One\n5,20,Two\n")
    assert "overlaps" in fails(capsys, a, "--out", out, "--scenes", str(tmp_path / "overlap.csv"))
    (tmp_path / "reversed.csv").write_text("10,5,Backwards\n")
    assert "ends before it starts" in fails(capsys, a, "--out", out, "--scenes", str(tmp_path / "reversed.csv"))
    err = fails(capsys, a, b, "--out", out, "--compare", "X={},{}".format(a, b), "Y={}".format(b))
    assert "in both" in err
    (tmp_path / "m.csv").write_text("run,offset,screening,group\na,soon,s1,\n")
    assert "is not a time" in fails(capsys, str(tmp_path / "m.csv"), "--out", out)


def test_an_offset_beyond_the_recording_is_warned(tmp_path, runs):
    a, _ = runs
    out = tmp_path / "r"
    assert main(["report", a + "@45", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert any("beyond the recording" in w for w in report["quality"][0]["warnings"])


def test_report_does_not_load_mxnet(runs, tmp_path):
    probe = ("import sys; from reaction.cli import main; s = main(sys.argv[1:]); "
             "print(s, 'mxnet' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe, "report", runs[0], "--out", str(tmp_path / "r")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.split()[-2:] == ["0", "False"], proc.stderr


def test_collect_with_a_bad_config_is_one_line_without_mxnet(tmp_path):
    (tmp_path / "iot.json").write_text('{"endpoint": "127.0.0.1"}')
    probe = ("import sys; from reaction.cli import main; s = main(sys.argv[1:]); "
             "print(s, 'mxnet' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe, "collect", "--config", str(tmp_path / "iot.json"),
                           "--db", str(tmp_path / "s.sqlite")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.split()[-2:] == ["2", "False"], proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_report_from_a_store_that_does_not_exist(tmp_path, capsys):
    assert "no such store" in fails(capsys, "--db", str(tmp_path / "none.sqlite"), "--film", "f",
                                    "--out", str(tmp_path / "r"))
