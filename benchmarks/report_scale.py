"""Scale of ``reaction report``: a 2-hour film, 50 screenings of 100 viewers (generated run folders).

    python -m benchmarks.report_scale [--screenings 50] [--viewers 100] [--film-s 7200]
                                      [--out benchmarks/results/report-scale.md]

Each report runs in a fresh process (``reaction report``, the command a user
runs) so that its wall time and peak resident memory are its own. Memory is
called flat when 50 screenings peak within 1.5x of 10 screenings: only per
second and per scene sums grow with the film, not with the audience.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMIT_S = 60.0


def make_screening(path, rng, viewers, film_s, offset):
    """Viewers who arrive, step out now and then and laugh about once every two minutes, more in funny scenes."""
    os.makedirs(path)
    funny = np.sin(np.arange(int(film_s)) / 97.0) ** 8  # some stretches much funnier than others
    presence, events = ["viewer_id,start_s,end_s"], []
    for v in range(viewers):
        t = offset + rng.uniform(0, 120)
        end = offset + film_s - rng.uniform(0, 60)
        spans = []
        while t < end:
            stay = rng.exponential(2400)
            spans.append((t, min(end, t + stay)))
            t += stay + rng.exponential(30)
        for a, b in spans:
            presence.append("{},{:.3f},{:.3f}".format(v, a, b))
            n = rng.poisson((b - a) / 120.0)
            starts = np.sort(rng.uniform(a, b, n))
            keep = rng.random(n) < 0.3 + 0.7 * funny[np.clip((starts - offset).astype(int), 0, len(funny) - 1)]
            for s in starts[keep]:
                d = rng.uniform(0.5, 4.0)
                events.append(json.dumps({"viewer_id": v, "start_s": round(s, 3), "end_s": round(min(s + d, b), 3),
                                          "peak": 0.9, "mean": 0.8, "n_frames": 20}))
    with open(os.path.join(path, "presence.csv"), "w") as f:
        f.write("\n".join(presence) + "\n")
    with open(os.path.join(path, "events.jsonl"), "w") as f:
        f.write("\n".join(events) + "\n")
    with open(os.path.join(path, "summary.json"), "w") as f:
        json.dump({"media_s": offset + film_s, "skipped_frames": 0, "viewers": {}, "events": len(events)}, f)
    return len(events)


def run_report(manifest, scenes, out):
    """Wall time and peak RSS (MB) of one ``reaction report`` in its own process."""
    code = ("import resource, sys, time; from reaction.cli import main; t = time.perf_counter(); "
            "s = main(sys.argv[1:]); print('RESULT', s, time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)")
    proc = subprocess.run([sys.executable, "-c", code, "report", manifest, "--out", out, "--scenes", scenes],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")]
    if not line or line[0].split()[1] != "0":
        raise SystemExit("report failed: " + proc.stderr)
    _, _, seconds, rss = line[0].split()
    return float(seconds), float(rss)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--screenings", type=int, default=50)
    ap.add_argument("--viewers", type=int, default=100)
    ap.add_argument("--film-s", type=float, default=7200.0)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "report-scale.md"))
    ap.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it")
    args = ap.parse_args(argv)
    work = args.keep or tempfile.mkdtemp(prefix="report-scale-")
    rng = np.random.default_rng(2026)
    started = time.perf_counter()
    rows, events = ["run,offset,screening,group"], 0
    for i in range(args.screenings):
        offset = float(rng.uniform(0, 600))
        events += make_screening(os.path.join(work, "s{:02d}".format(i)), rng, args.viewers, args.film_s, offset)
        rows.append("s{:02d},{:.3f},s{:02d},{}".format(i, offset, i, "AB"[i % 2]))
    small = os.path.join(work, "runs-10.csv")
    with open(os.path.join(work, "runs.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    with open(small, "w") as f:
        f.write("\n".join(rows[:11]) + "\n")
    scenes = os.path.join(work, "scenes.csv")
    edges = np.linspace(0, args.film_s, 41)
    with open(scenes, "w") as f:
        f.write("start,end,title\n" + "".join("{:.0f},{:.0f},Scene {}\n".format(a, b, k + 1)
                                               for k, (a, b) in enumerate(zip(edges, edges[1:]))))
    generated = time.perf_counter() - started
    t10, rss10 = run_report(small, scenes, os.path.join(work, "report-10"))
    t50, rss50 = run_report(os.path.join(work, "runs.csv"), scenes, os.path.join(work, "report"))
    size = os.path.getsize(os.path.join(work, "report", "report.html")) / 1e6
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    ok_time, ok_mem = t50 < LIMIT_S, rss50 < 1.5 * rss10
    lines = [
        "# `reaction report` at scale",
        "",
        "Written by `python -m benchmarks.report_scale` (generated run folders, {} events; generation {:.0f} s, "
        "not counted).".format(events, generated),
        "",
        "Film {:.0f} s (40 scenes), {} viewers per screening; offsets 0-600 s; groups A/B compared; "
        "machine: {} cores, {}, load average {} while measuring.".format(
            args.film_s, args.viewers, os.cpu_count(), platform.python_version(), " ".join(load)),
        "",
        "| screenings | viewers | wall time (s) | peak RSS (MB) |",
        "| --- | --- | --- | --- |",
        "| 10 | {} | {:.1f} | {:.0f} |".format(10 * args.viewers, t10, rss10),
        "| {} | {} | {:.1f} | {:.0f} |".format(args.screenings, args.screenings * args.viewers, t50, rss50),
        "",
        "Under {:.0f} s: {}. Memory flat (50 screenings within 1.5x of 10): {}. report.html: {:.1f} MB.".format(
            LIMIT_S, "yes" if ok_time else "NO", "yes" if ok_mem else "NO", size),
        "",
    ]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok_time and ok_mem else 1


if __name__ == "__main__":
    sys.exit(main())
