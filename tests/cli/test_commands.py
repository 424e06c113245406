"""The command line as a whole: each command loads only what it uses."""
import subprocess
import sys

import pytest
from helpers import ROOT

PROBE = """
import sys
from reaction.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as e:
    status = e.code
print(status, 'mxnet' in sys.modules)
"""


def run(*argv):
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    status, mxnet = proc.stdout.split()[-2:]
    return int(status), mxnet == "True", proc.stderr


@pytest.mark.parametrize("argv", [["--help"], ["analyze", "--help"], ["train", "--help"], ["evaluate", "--help"],
                                  ["publish", "--help"], ["batch", "--help"]])
def test_help_does_not_load_mxnet(argv):
    status, mxnet, _ = run(*argv)
    assert status == 0 and not mxnet


def test_publish_runs_without_mxnet(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text('{"viewer_id": 1, "start_s": 1.0}\n')
    status, mxnet, stderr = run("publish", str(events), "--spool", str(tmp_path / "spool"))
    assert status == 2 and "events.jsonl:1" in stderr  # the events file was read and checked
    assert not mxnet


def test_analyze_loads_mxnet_for_the_smile_net(tmp_path, sample_clip):
    status, mxnet, _ = run("analyze", sample_clip, "--out", str(tmp_path / "o"), "--no-progress")
    assert status == 0 and mxnet  # the probe itself is sound: this command does need it
