"""``reaction.analyze`` and ``reaction analyze``: a run that is stopped keeps what it measured."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import ROOT

from reaction import analyze, profile_config
from reaction.sources import VideoSource

def stopped_at(frames, index, error):
    for frame in frames:
        if frame.index == index:
            raise error
        yield frame


def test_ctrl_c_closes_the_open_laugh_and_writes_the_summary(tmp_path, sample_clip):
    # The whole run first, to know a laugh to stop in the middle of.
    whole = analyze(sample_clip, str(tmp_path / "whole"), profile_config("balanced"))
    laugh = max(whole.pipeline.events, key=lambda e: e.end_s - e.start_s)
    fps = 30000 / 1001.0
    stop = int(round((laugh.start_s + laugh.end_s) / 2 * fps))  # media time is frame / fps in this clip
    out = str(tmp_path / "run")
    done = analyze(stopped_at(VideoSource(sample_clip), stop, KeyboardInterrupt()), out, profile_config("balanced"))
    assert done.stopped_by == signal.SIGINT
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    assert summary["interrupted"] is True
    assert summary["frames"] == stop
    assert summary["last_media_s"] == pytest.approx((stop - 1) / fps, abs=1e-3)
    with open(os.path.join(out, "events.jsonl")) as f:
        events = [json.loads(line) for line in f]
    cut = [e for e in events if e["viewer_id"] == laugh.viewer_id and e["start_s"] == round(laugh.start_s, 3)]
    assert len(cut) == 1 and cut[0]["end_s"] == summary["last_media_s"]  # closed where the run stopped
    with open(os.path.join(out, "tracks.csv")) as f:
        rows = f.read().splitlines()
    assert rows and int(rows[-1].split(",")[0]) == stop  # frames are numbered from 1


def test_a_run_to_the_end_is_not_marked_interrupted(tmp_path, sample_clip):
    done = analyze(sample_clip, str(tmp_path / "run"), profile_config("balanced"))
    assert done.stopped_by is None and "interrupted" not in done.summary
    assert done.summary["frames"] == 275


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_command_stopped_by_a_signal_keeps_its_outputs(tmp_path, sample_clip, signum, status):
    out = tmp_path / "run"
    # The accurate profile runs at a few frames per second here: long enough to be stopped midway.
    proc = subprocess.Popen([sys.executable, "-m", "reaction", "analyze", sample_clip, "--out", str(out),
                             "--profile", "accurate", "--no-progress"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The CSV files are flushed every 25 frames: rows on disk mean the run is under way.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ((out / "smiles.csv").exists() and (out / "smiles.csv").stat().st_size > 40):
        time.sleep(0.05)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr and "interrupted at" in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert 0 < summary["frames"] < 275 and 0 < summary["last_media_s"] < 9.2
    with open(out / "smiles.csv") as f:
        rows = f.read().splitlines()
    assert rows[0] == "frame,time_s,viewer_id,p_smile"
    assert rows[1:] and all(float(r.split(",")[1]) <= summary["last_media_s"] for r in rows[1:])
