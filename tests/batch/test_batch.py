"""reaction batch on a real dask.distributed LocalCluster with two worker processes, over short real clips."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import cv2
import pytest
from distributed import Client
from helpers import ROOT, SAMPLE_CLIP

from reaction.batch import Job, read_jobs, run_batch
from reaction.batch.runner import local_cluster
from reaction.cli import main
from reaction.types import ReactionError


def cut(src, dst, start, n):
    """Frames [start, start + n) of ``src`` re-encoded into ``dst`` with OpenCV."""
    cap = cv2.VideoCapture(src)
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    writer = None
    for _ in range(n):
        ok, frame = cap.read()
        assert ok
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(dst, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        writer.write(frame)
    writer.release()
    cap.release()
    return dst


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    return [cut(SAMPLE_CLIP, str(d / "s{}.mp4".format(i)), start, 45) for i, start in enumerate((0, 70, 140, 220))]


@pytest.fixture(scope="module")
def serial(clips, tmp_path_factory):
    """Each clip through `reaction analyze` alone (here, with OpenCV's default threads)."""
    out = {}
    for clip in clips:
        d = str(tmp_path_factory.mktemp("serial"))
        assert main(["analyze", clip, "--out", d, "--no-progress"]) == 0
        out[clip] = d
    return out


@pytest.fixture(scope="module")
def cluster():
    with local_cluster(2) as c:
        yield c


def read(path):
    with open(path, "rb") as f:
        return f.read()


def assert_same_as_serial(out, jobs, serial):
    for job in jobs:
        for name in ("events.jsonl", "tracks.csv"):
            assert read(os.path.join(out, job.screening, name)) == read(os.path.join(serial[job.video], name)), \
                (job.screening, name)


def test_results_are_byte_identical_to_serial_runs_and_a_rerun_skips_them(clips, serial, cluster, tmp_path):
    jobs = read_jobs(clips)
    out = str(tmp_path / "batch")
    result = run_batch(jobs, out, scheduler=cluster.scheduler_address, progress=False)
    assert [v["status"] for v in result.videos] == ["done"] * 4 and result.exit_status == 0
    assert_same_as_serial(out, jobs, serial)
    assert sum(os.path.getsize(os.path.join(out, j.screening, "tracks.csv")) for j in jobs) > 0  # viewers were seen
    # One model load per worker process, not per video: each worker's cache holds one net.
    with Client(cluster.scheduler_address) as client:
        loaded = client.run(lambda: len(__import__("reaction.batch.worker").batch.worker._smile_nets))
        threads = client.run(cv2.getNumThreads)
        env = client.run(lambda: [os.environ.get(k) for k in ("OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS")])
    assert set(loaded.values()) <= {0, 1} and sum(loaded.values()) >= 1
    assert set(threads.values()) == {1}
    assert all(v == ["1", "1"] for v in env.values())
    before = {j.screening: os.stat(os.path.join(out, j.screening, "events.jsonl")).st_mtime_ns for j in jobs}
    rerun = run_batch(jobs, out, scheduler=cluster.scheduler_address, progress=False)
    assert [v["status"] for v in rerun.videos] == ["skipped"] * 4
    assert before == {j.screening: os.stat(os.path.join(out, j.screening, "events.jsonl")).st_mtime_ns for j in jobs}
    runs = read(os.path.join(out, "runs.csv")).decode().splitlines()
    assert runs[0] == "run,offset,screening,group" and len(runs) == 5


def test_a_corrupt_and_a_missing_video_fail_alone_and_the_rerun_redoes_only_them(clips, serial, cluster, tmp_path,
                                                                                  capsys):
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    manifest = tmp_path / "m.csv"
    manifest.write_text("video,screening,offset,group\n{},a,0,x\n{},bad,1.5,y\n{},b,0,x\nnowhere.mp4,gone,0,y\n".format(
        clips[0], bad, clips[1]))
    out = str(tmp_path / "out")
    # The command's own LocalCluster: two worker processes, one thread each.
    status = main(["batch", str(manifest), "--out", out, "--workers", "2", "--no-progress"])
    assert status == 1
    err = capsys.readouterr().err
    assert "corrupt.mp4" in err and "nowhere.mp4" in err
    with open(os.path.join(out, "batch.json")) as f:
        report = {v["screening"]: v for v in json.load(f)["videos"]}
    assert {k: v["status"] for k, v in report.items()} == {"a": "done", "bad": "failed", "b": "done", "gone": "failed"}
    assert "\n" not in report["bad"]["error"] and "corrupt.mp4" in report["bad"]["error"]
    assert not os.path.exists(os.path.join(out, "bad")) and not os.path.exists(os.path.join(out, ".bad.partial"))
    assert_same_as_serial(out, [Job(clips[0], "a"), Job(clips[1], "b")], serial)
    # The missing video appears: the re-run does it and skips the rest.
    os.symlink(clips[2], str(tmp_path / "nowhere.mp4"))
    bad.unlink()
    os.symlink(clips[3], str(bad))
    # This time on the running cluster, as a user with a cluster of their own would.
    assert main(["batch", str(manifest), "--out", out, "--scheduler", cluster.scheduler_address, "--no-progress"]) == 0
    with open(os.path.join(out, "batch.json")) as f:
        report = {v["screening"]: v["status"] for v in json.load(f)["videos"]}
    assert report == {"a": "skipped", "bad": "done", "b": "skipped", "gone": "done"}
    assert_same_as_serial(out, [Job(clips[3], "bad"), Job(clips[2], "gone")], serial)


def test_a_worker_killed_mid_video_is_replaced_and_the_video_retried(clips, serial, cluster, tmp_path):
    # Long enough that the kill lands while the worker is analysing it.
    jobs = [Job(clip, "k{}".format(i)) for i, clip in enumerate(clips)]
    out = str(tmp_path / "killed")
    done = {}
    runner = threading.Thread(target=lambda: done.update(
        r=run_batch(jobs, out, scheduler=cluster.scheduler_address, progress=False)))
    with Client(cluster.scheduler_address) as client:
        runner.start()
        victim = None
        deadline = time.time() + 60
        while victim is None and time.time() < deadline:
            busy = {w: ts for w, ts in client.processing().items() if ts}
            partial = [n for n in os.listdir(out) if n.endswith(".partial")] if os.path.isdir(out) else []
            if busy and partial:
                victim = sorted(busy)[0]
            time.sleep(0.05)
        assert victim is not None
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        runner.join(timeout=120)
        assert not runner.is_alive()
        client.wait_for_workers(2, timeout=60)
        pids = client.run(os.getpid)
    assert pid not in pids.values() and len(pids) == 2  # the nanny started a new worker process
    result = done["r"]
    assert [v["status"] for v in result.videos] == ["done"] * 4, result.videos
    assert_same_as_serial(out, [Job(c, j.screening) for c, j in zip(clips, jobs)], serial)
    assert not [n for n in os.listdir(out) if n.startswith(".")]


def test_bad_input_to_the_command_is_one_line_and_status_2(tmp_path, capsys):
    m = tmp_path / "m.csv"
    m.write_text("video,offset\nx.mp4,0\n")
    assert main(["batch", str(m), "--out", str(tmp_path / "o")]) == 2
    assert "screening" in capsys.readouterr().err
    m.write_text("video,screening\nx.mp4,s\ny.mp4,s\n")
    assert main(["batch", str(m), "--out", str(tmp_path / "o")]) == 2
    assert "named twice" in capsys.readouterr().err
    assert main(["batch", "a.mp4", "--out", str(tmp_path / "o"), "--profile", "nope"]) == 2
    assert "profile" in capsys.readouterr().err
    with pytest.raises(ReactionError):
        read_jobs([])


def test_the_core_library_imports_and_analyzes_without_dask(tmp_path, clips):
    probe = ("import sys, reaction; "
             "reaction.analyze(sys.argv[1], sys.argv[2], config=reaction.profile_config('fast')); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    proc = subprocess.run([sys.executable, "-c", probe, clips[0], str(tmp_path / "o")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert os.path.isfile(tmp_path / "o" / "events.jsonl")
