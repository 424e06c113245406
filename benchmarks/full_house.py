"""A full house, lever by lever: speed and accuracy on synthetic audiences.

``python -m benchmarks.full_house AUDIENCE_DIR [AUDIENCE_DIR ...] [--levers L,L...] [--max-frames N]``
``python -m benchmarks.full_house --memory-minutes M --memory-video VIDEO``

Each AUDIENCE_DIR is an output of ``python -m benchmarks.synth_audience``
(audience.mp4 with its ground truth). Every lever is a set of overrides on
the ``balanced`` profile, run on the whole pipeline with decode on a prefetch
thread (as ``reaction analyze`` runs), in one process after a decode-only
pass of the same clip. Each row gives the frame rate, the stage times, the
tracker's share of a frame, the smile stage per viewer, and IDF1 and laugh F1
against the clip's ground truth; ``accurate`` (YuNet on every full frame) is
the reference the issue compares ``balanced`` with. Writes
benchmarks/results/full-house.md.

The memory run plays VIDEO in a loop for M minutes of media through the
shipped balanced profile and samples the process RSS every media minute
(benchmarks/results/full-house-memory.md).
"""

import argparse
import json
import os
import sys
import time
from typing import Dict, List, Optional, Tuple

from reaction.types import ReactionError

from . import scoring
from .throughput import _TimedSource, decode_only, machine_description, results_path

# (name, profile, overrides): the levers, each measured on its own against balanced.
LEVERS: List[Tuple[str, str, Dict[str, object]]] = [
    ("accurate", "accurate", {}),
    ("balanced before this issue", "balanced", dict(smile_hz=0.0, smile_worker=False, still_threshold=0.0)),
    ("+ smile scores at 10 Hz per viewer, staggered", "balanced",
     dict(smile_hz=10.0, smile_worker=False, still_threshold=0.0)),
    ("+ smile stage on a second thread (= balanced)", "balanced", {}),
    ("balanced + still viewers need no region search (0.3; not kept)", "balanced",
     dict(smile_hz=10.0, smile_worker=True, still_threshold=0.3)),
    ("balanced, smile scores at 5 Hz (not kept)", "balanced", dict(smile_hz=5.0)),
    ("balanced + still viewers at 0.5 (not kept)", "balanced", dict(still_threshold=0.5)),
    ("balanced --detector haar", "balanced", dict(kind="haar")),
]


def run(video: str, gt_dir: str, profile: str, overrides: Dict[str, object], max_frames: Optional[int]) -> dict:
    from reaction.pipeline import ReactionPipeline, profile_config
    from reaction.sources import open_source, prefetch

    from .accuracy import collect_run, score_pipeline

    pipe = ReactionPipeline(profile_config(profile, **overrides))
    raw = open_source(video)
    frames = raw
    if max_frames:
        import itertools

        frames = itertools.islice(raw, max_frames)
    source = _TimedSource(prefetch(frames), getattr(raw, "fps", 0.0) or 25.0)
    pred, p_smile, smiling, events, info = collect_run(pipe, source)
    wall = info["wall_s"]
    faces = len(p_smile)  # one (frame, viewer) pair per face scored
    gt = scoring.read_gt_tracks(os.path.join(gt_dir, "gt_tracks.csv"))
    if max_frames:
        gt = {f: v for f, v in gt.items() if f <= max_frames}
    fps_video = source.fps
    scored = score_pipeline(gt_dir, gt, fps_video, (pred, p_smile, smiling, events, info))
    if max_frames:
        # Laughs that begin after the last frame cannot be found: leave them out of the truth.
        end_s = max_frames / fps_video
        truth = [x for x in scored["truth"] if x[1] < end_s]
        scored["laughs"] = scoring.score_laughs(truth, scoring.map_events(events, scored["tracking"].matches,
                                                                          fps_video))
    ms = pipe.stage_ms()
    total_ms = 1000.0 * wall / max(pipe.frames, 1)
    per_frame_faces = faces / max(pipe.frames, 1)
    return dict(fps=pipe.frames / wall if wall else 0.0, frames=pipe.frames, faces=per_frame_faces, stage_ms=ms,
                track_share=ms["track"] / total_ms if total_ms else 0.0,
                smile_per_viewer_ms=ms["smile"] / per_frame_faces if per_frame_faces else 0.0,
                idf1=scored["tracking"].idf1, laugh_f1=scored["laughs"].f1, events=len(events))


def describe(gt_dir: str) -> str:
    path = os.path.join(gt_dir, "audience.json")
    if not os.path.isfile(path):
        return os.path.basename(gt_dir.rstrip("/"))
    with open(path) as f:
        spec = json.load(f)["spec"]
    return "{} ({}x{}, {} viewers, {} s, seed {})".format(
        os.path.basename(gt_dir.rstrip("/")), spec.get("width"), spec.get("height"), spec.get("viewers"),
        spec.get("seconds"), spec.get("seed"))


def memory_run(video: str, minutes: float, out: str, argv: List[str]) -> int:
    from reaction.pipeline import ReactionPipeline, profile_config
    from reaction.sources import prefetch

    from .levers import looped, rss_mb

    pipe = ReactionPipeline(profile_config("balanced"))
    samples, next_s = [], 0.0
    start = time.perf_counter()
    for result in pipe.run(prefetch(looped(video, minutes))):
        if result.time_s >= next_s:
            samples.append((result.time_s, rss_mb(), time.perf_counter() - start))
            print("{:.0f} s of media: RSS {:.1f} MB".format(*samples[-1][:2]), file=sys.stderr, flush=True)
            next_s += 60.0
    samples.append((result.time_s, rss_mb(), time.perf_counter() - start))
    lines = ["# Memory over a long run", "",
             "Written by `python -m benchmarks.full_house {}`; do not edit by hand.".format(" ".join(argv)), ""]
    lines += machine_description()
    lines += ["", "{} looped for {:.0f} minutes of media through the balanced profile: {} frames, {} laugh events, "
              "{:.0f} s wall.".format(os.path.basename(video), minutes, pipe.frames, len(pipe.events), samples[-1][2]),
              "", "| media time (s) | RSS (MB) |", "| --- | --- |"]
    lines += ["| {:.0f} | {:.1f} |".format(t, m) for t, m, _ in samples]
    after_first = [m for t, m, _ in samples if t >= 60.0]
    if after_first:
        lines += ["", "RSS after the first minute: {:.1f} MB at its lowest, {:.1f} MB at its highest; "
                  "{:+.1f} MB from the first-minute sample to the last.".format(
                      min(after_first), max(after_first), samples[-1][1] - after_first[0])]
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m benchmarks.full_house", description=__doc__.split("\n")[0])
    p.add_argument("audiences", nargs="*", metavar="AUDIENCE_DIR")
    p.add_argument("--memory-minutes", type=float, help="instead: loop --memory-video for this many media minutes")
    p.add_argument("--memory-video")
    p.add_argument("--levers", help="comma-separated lever numbers (1-based; default all)")
    p.add_argument("--max-frames", type=int)
    p.add_argument("--out", default=results_path("full-house.md"))
    args = p.parse_args(argv)
    if args.memory_minutes:
        if not args.memory_video:
            p.error("--memory-minutes needs --memory-video")
        return memory_run(args.memory_video, args.memory_minutes, results_path("full-house-memory.md"), argv)
    if not args.audiences:
        p.error("give at least one AUDIENCE_DIR")
    levers = LEVERS
    if args.levers:
        levers = [LEVERS[int(i) - 1] for i in args.levers.split(",")]
    lines = ["# A full house, lever by lever", "",
             "Written by `python -m benchmarks.full_house {}`; do not edit by hand.".format(" ".join(argv)), ""]
    lines += machine_description() + [""]
    try:
        for gt_dir in args.audiences:
            video = os.path.join(gt_dir, "audience.mp4")
            if not os.path.isfile(video):
                raise ReactionError("{}: no audience.mp4 (make one with python -m benchmarks.synth_audience)"
                                    .format(gt_dir))
            dec = decode_only(video, args.max_frames)
            lines += ["## " + describe(gt_dir), "", "Decode only: {:.1f} fps over {} frames.".format(
                dec["fps"], dec["frames"]), "",
                "| lever | fps | faces/frame | detect ms | track ms | track share | smile ms | smile ms/viewer "
                "| IDF1 | laugh F1 | events |", "|---|---|---|---|---|---|---|---|---|---|---|"]
            for name, profile, overrides in levers:
                print("{}: {} ...".format(os.path.basename(gt_dir), name), file=sys.stderr, flush=True)
                r = run(video, gt_dir, profile, overrides, args.max_frames)
                ms = r["stage_ms"]
                lines.append("| {} | {:.1f} | {:.1f} | {:.1f} | {:.2f} | {:.1%} | {:.1f} | {:.2f} | {:.3f} | {:.3f} | {} |"
                             .format(name, r["fps"], r["faces"], ms["detect"], ms["track"], r["track_share"],
                                     ms["smile"], r["smile_per_viewer_ms"], r["idf1"], r["laugh_f1"], r["events"]))
                print(lines[-1], flush=True)
            lines.append("")
    except ReactionError as e:
        print("error: {}".format(e), file=sys.stderr)
        return 2
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
