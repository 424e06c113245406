"""A live camera stream on this machine: frames analysed per second, and the reconnect time.

``python -m benchmarks.live_stream [--profile P] [--runs N]``

A real ffmpeg serves the sample clip over HTTP (MPEG-TS, ``-re``: real time)
on 127.0.0.1; ``reaction analyze`` reads it. Each run kills the server at
4 s into the clip and restarts it one second later (seeking to where it
was). Reported: the live frame rate (frames analysed per second of media,
and the frames missed because the pipeline was busy), and the reconnect time
(seconds without frames beyond the second the server was down: backoff,
connecting and FFmpeg probing the stream), with the load average.
Writes ``benchmarks/results/live-stream.md``.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP = os.path.join(ROOT, "tests", "fixtures", "hamilton-audience-640x360.mp4")
DOWN_S = 1.0
KILL_AT_S = 4.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(ffmpeg: str, port: int, seek: float = 0.0) -> subprocess.Popen:
    cmd = [ffmpeg, "-nostdin", "-loglevel", "error", "-re"] + (["-ss", "%.3f" % seek] if seek else [])
    cmd += ["-i", CLIP, "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-an", "-f", "mpegts"]
    cmd += ["-listen", "1", "http://127.0.0.1:{}/live".format(port), "-progress", "pipe:1", "-stats_period", "0.1"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def one_run(ffmpeg: str, profile: str, out: str) -> dict:
    port = free_port()
    server = serve(ffmpeg, port)
    time.sleep(0.3)
    client = subprocess.Popen(
        [sys.executable, "-m", "reaction", "analyze", "http://127.0.0.1:{}/live".format(port), "--out", out,
         "--profile", profile, "--give-up-after", "2", "--no-progress"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert server.stdout is not None
    for line in server.stdout:
        if line.startswith("out_time_us=") and "N/A" not in line and int(line.split("=")[1]) / 1e6 >= KILL_AT_S:
            break
    server.kill()
    server.wait()
    time.sleep(DOWN_S)
    server = serve(ffmpeg, port, seek=KILL_AT_S)
    client.communicate(timeout=120)
    server.kill()
    server.wait()
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    stream = summary["stream"]
    span = sum(s["end_s"] - s["start_s"] for s in stream["segments"]) - stream["lost_s"]
    return {
        "frames": summary["frames"],
        "missed": stream["missed_frames"],
        "media_s": span,
        "live_fps": summary["frames"] / span if span > 0 else 0.0,
        "drops": stream["drops"],
        "reconnect_s": stream["lost_s"] - DOWN_S if stream["drops"] == 1 else None,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="balanced")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        print("benchmarks.live_stream: needs ffmpeg (Debian package ffmpeg)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            load = open("/proc/loadavg").read().split()[0]
            row = one_run(ffmpeg, args.profile, os.path.join(tmp, str(i)))
            row["load"] = load
            rows.append(row)
            print(row, file=sys.stderr)
    lines = [
        "# A live stream: frame rate and reconnect time",
        "",
        "`python -m benchmarks.live_stream --profile {} --runs {}`: the sample clip (640x360, 29.97 fps) served"
        " by ffmpeg over HTTP (MPEG-TS, H.264, real time) on 127.0.0.1, the server killed {:g} s in and restarted"
        " {:g} s later. Live fps: frames analysed per second of media (the stream has 29.97); missed: frames"
        " the newest-frame reader skipped because the pipeline was busy. Reconnect: seconds without frames beyond"
        " the {:g} s the server was down. Load: 1-minute load average before the run (a shared 2-core"
        " machine).".format(args.profile, args.runs, KILL_AT_S, DOWN_S, DOWN_S),
        "",
        "| run | load | frames | missed | live fps | drops | reconnect s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for i, r in enumerate(rows, 1):
        rec = "-" if r["reconnect_s"] is None else "%.2f" % r["reconnect_s"]
        lines.append("| {} | {} | {} | {} | {:.1f} | {} | {} |".format(
            i, r["load"], r["frames"], r["missed"], r["live_fps"], r["drops"], rec))
    path = os.path.join(ROOT, "benchmarks", "results", "live-stream.md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
