"""``reaction batch`` speed-up with 1 and 2 local worker processes, and what it means for a whole campaign.

``python -m benchmarks.batch [--videos 6] [--frames 275] [--workers 1,2] [--profile balanced]``

Cuts ``--videos`` clips of ``--frames`` frames from the bundled sample (each
clip starts at a different frame, so they are not the same work), runs one
batch per worker count on a fresh ``LocalCluster`` and reports wall time
(cluster start included), frames per second, the speed-up over one worker
and the per-video throughput, from which it extrapolates to 150 screenings x
2 h x 4 cameras. Writes ``benchmarks/results/batch.md``.
"""
import argparse
import os
import sys
import tempfile
import time
from typing import Dict, List

import cv2

from benchmarks.throughput import machine_description, results_path
from reaction.batch import read_jobs, run_batch

SAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures",
                      "hamilton-audience-640x360.mp4")
#: The Disney study's campaign: 150 screenings of about 2 hours, 4 cameras each.
CAMPAIGN_HOURS = 150 * 2 * 4


def cut_clips(folder: str, n: int, frames: int) -> List[str]:
    """``n`` clips of ``frames`` frames of the sample, looping over it, each starting elsewhere."""
    cap = cv2.VideoCapture(SAMPLE)
    fps = cap.get(cv2.CAP_PROP_FPS)
    images = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        images.append(image)
    cap.release()
    paths = []
    for i in range(n):
        path = os.path.join(folder, "screening-{:02d}.mp4".format(i))
        h, w = images[0].shape[:2]
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        start = i * len(images) // n
        for k in range(frames):
            writer.write(images[(start + k) % len(images)])
        writer.release()
        paths.append(path)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--frames", type=int, default=275, help="frames per clip (the sample has 275)")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--profile", default="balanced")
    ap.add_argument("--out", default=results_path("batch.md"))
    args = ap.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    header = machine_description()
    rows: List[Dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        clips = cut_clips(tmp, args.videos, args.frames)
        fps = cv2.VideoCapture(clips[0]).get(cv2.CAP_PROP_FPS)
        jobs = read_jobs(clips)
        for n in counts:
            load = os.getloadavg()
            started = time.perf_counter()
            result = run_batch(jobs, os.path.join(tmp, "out-{}".format(n)), profile=args.profile, workers=n,
                               progress=False)
            wall = time.perf_counter() - started
            if result.failed:
                print("benchmark: failed videos: {}".format(result.failed), file=sys.stderr)
                return 1
            frames = sum(v["frames"] for v in result.videos)
            task_s = sum(v["seconds"] for v in result.videos)
            rows.append(dict(workers=n, wall=wall, frames=frames, fps=frames / wall, task_s=task_s,
                             video_s=frames / fps, load=load))
            print("{} workers: {:.1f} s wall, {:.1f} fps".format(n, wall, frames / wall), file=sys.stderr)
    base = rows[0]["wall"]
    command = " ".join(["python -m benchmarks.batch", *(argv or sys.argv[1:])])
    lines = [
        "# Batch benchmark",
        "",
        "Written by `{}`; do not edit by hand.".format(command),
        "",
        *header,
        "",
        "{} clips of {} frames ({:.1f} s of video each, 640x360, cut from the bundled sample), profile `{}`. "
        "Each row is one `run_batch` on a fresh `LocalCluster` (worker processes of one thread); the wall time "
        "includes starting the cluster and loading the model in each worker. Task s is the sum over the videos "
        "of the time one task took on its worker.".format(args.videos, args.frames, args.frames / fps, args.profile),
        "",
        "| workers | load avg before | wall s | frames | fps (summed) | speed-up vs {} worker | task s | "
        "video s per task s |".format(counts[0]),
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append("| {} | {:.2f} | {:.1f} | {} | {:.1f} | {:.2f} | {:.1f} | {:.2f} |".format(
            r["workers"], r["load"][0], r["wall"], r["frames"], r["fps"], base / r["wall"], r["task_s"],
            r["video_s"] / r["task_s"]))
    best = max(rows, key=lambda r: r["fps"])
    # One task runs on one core: its throughput with one worker (no other
    # worker contending) is what a core does.
    single = next((r for r in rows if r["workers"] == 1), rows[0])
    per_core = single["video_s"] / single["task_s"]
    core_hours = CAMPAIGN_HOURS / per_core
    machine_rate = best["video_s"] / best["wall"]  # video seconds per wall second, whole machine
    machine_hours = CAMPAIGN_HOURS / machine_rate
    lines += [
        "",
        "## Extrapolation: 150 screenings x 2 h x 4 cameras = {:,} h of video".format(CAMPAIGN_HOURS),
        "",
        "With {} worker, one task (one core) analysed {:.2f} s of video per second of its time. The campaign is "
        "therefore about **{:,.0f} core-hours**. This machine as a whole, at its best ({} workers), did {:.2f} s "
        "of video per wall second, so the campaign takes about **{:,.0f} machine-hours** on machines of this size: "
        "{}. One task per video and no shared state between tasks, so more machines divide the wall time "
        "until there are more workers than videos ({:,} videos).".format(
            single["workers"], per_core, core_hours, best["workers"], machine_rate, machine_hours,
            ", ".join("{:,.0f} h on {} machines".format(machine_hours / n, n) for n in (1, 10, 50, 100)),
            150 * 4),
        "",
        "Load average after the runs: {:.2f} / {:.2f} / {:.2f}. A shared, loaded machine runs slower than a quiet one, "
        "and with more runnable processes than cores a second worker gains little or nothing: re-run this script on "
        "a quiet machine for figures to plan with.".format(*os.getloadavg()),
        "",
    ]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("wrote {}".format(args.out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
