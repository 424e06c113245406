"""The command line: outputs of `reaction analyze` and one-line errors for bad input."""
import csv
import json
import os
import subprocess
import sys

import cv2
import pytest

from helpers import MODELS, ROOT, SAMPLE_CLIP


def reaction(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "reaction", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # one line, no traceback
    for needle in needles:
        assert needle in lines[0]


def test_missing_video(tmp_path):
    proc = reaction("analyze", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, "nope.mp4", "no such file")


def test_corrupt_video(tmp_path):
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(5000))
    proc = reaction("analyze", str(bad), "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, "corrupt.mp4")


def test_zero_frame_video(tmp_path):
    path = str(tmp_path / "empty.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 64))
    writer.release()
    proc = reaction("analyze", path, "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, "empty.avi")


@pytest.mark.parametrize(
    "option, value",
    [("--profile", "warp"), ("--scale-factor", "0.9"), ("--min-face", "-3"), ("--laugh-on", "2"),
     ("--laugh-off", "0.9"), ("--max-lost", "0.2"), ("--full-scan-every", "zero")],
)
def test_invalid_options_name_the_option(tmp_path, option, value):
    proc = reaction("analyze", SAMPLE_CLIP, "--out", str(tmp_path / "o"), option, value)
    assert_one_line_error(proc, option)
    # The library's field names (off_threshold, max_lost_s...) are the command's options here.
    assert "Config" not in proc.stderr and "_threshold" not in proc.stderr and "_s " not in proc.stderr


def test_missing_model_names_the_file(tmp_path):
    proc = reaction("analyze", SAMPLE_CLIP, "--out", str(tmp_path / "o"), "--model", str(tmp_path))
    assert_one_line_error(proc, str(tmp_path), "smile-net")


def test_corrupt_params_name_both_files(tmp_path):
    import shutil

    for name in ("smile-net-symbol.json", "smile-net.json"):
        shutil.copy(os.path.join(MODELS, name), tmp_path / name)
    (tmp_path / "smile-net-0000.params").write_bytes(b"garbage" * 100)
    proc = reaction("analyze", SAMPLE_CLIP, "--out", str(tmp_path / "o"), "--model", str(tmp_path))
    assert_one_line_error(proc, "smile-net-0000.params", "smile-net-symbol.json")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    proc = reaction("analyze", SAMPLE_CLIP, "--out", str(out), "--annotate", str(out / "annotated.mp4"),
                    "--profile", "balanced")
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_analyze_writes_consistent_outputs(analysed):
    out, proc = analysed
    assert "275 frames" in proc.stdout and str(out) in proc.stdout
    with open(out / "tracks.csv") as f:
        tracks = [list(map(float, row)) for row in csv.reader(f)]
    assert tracks, "the clip has faces"
    assert all(len(r) == 10 and r[7:] == [-1, -1, -1] for r in tracks)
    assert all(1 <= r[0] <= 275 for r in tracks)
    frames_ids = [(r[0], r[1]) for r in tracks]
    assert len(frames_ids) == len(set(frames_ids))  # an id once per frame
    with open(out / "smiles.csv") as f:
        smiles = list(csv.DictReader(f))
    assert {(float(s["frame"]), float(s["viewer_id"])) for s in smiles} == set(frames_ids)
    assert all(0.0 <= float(s["p_smile"]) <= 1.0 for s in smiles)
    events = [json.loads(line) for line in open(out / "events.jsonl")]
    summary = json.load(open(out / "summary.json"))
    assert summary["frames"] == 275 and summary["events"] == len(events)
    assert set(summary["viewers"]) == {str(int(r[1])) for r in tracks}
    for ev in events:
        v = summary["viewers"][str(ev["viewer_id"])]
        assert v["first_seen_s"] <= ev["start_s"] < ev["end_s"] <= v["last_seen_s"]
    assert sum(v["laughs"] for v in summary["viewers"].values()) == len(events)
    for sec in summary["audience"]:
        assert 0 <= sec["laughing"] <= sec["visible"] and 0.0 <= sec["share"] <= 1.0
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 275
    assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 640
