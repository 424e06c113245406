"""Speed levers, one at a time, and memory over a long stream.

``python -m benchmarks.levers VIDEO [VIDEO ...] [--max-frames N] [--memory-minutes M [--memory-video V]]``

For each video, in one run: decode-only fps, then the pipeline with the
levers added cumulatively, from the original design (Haar on every full
frame) to the ``balanced`` profile, so each row shows what one lever bought;
the last rows are levers that were evaluated and not kept, each on its own.
Every row decodes the video itself, so its fps compares directly with
decode-only fps; faces/frame shows what a lever cost in faces tracked.
``--memory-minutes`` then plays a video in a loop for that many minutes of
media through the balanced profile and samples RSS, to show that memory does
not grow with video length. The tables replace the
"Levers" section of ``benchmarks/results/throughput.md``.
"""
import argparse
import itertools
import os
import sys
import time
from typing import Iterator, List, Optional

from reaction.pipeline import PipelineConfig, ReactionPipeline, profile_config
from reaction.sources import VideoSource, prefetch
from reaction.types import Frame

from .throughput import LEVERS_SECTION, decode_only, machine_description, results_path

# (label, profile_config overrides); each row adds one lever to the previous.
# "prefetch" is not a pipeline setting: it decodes on a thread, as `reaction analyze` does.
LEVERS = [
    ("Haar on every full frame, one thread (the original design)",
     dict(kind="haar", full_scan_every=1, detect_width=None, min_face_frac=0.0, region_redetect=False, regions_per_frame=0,
          region_every=1, threaded=False, scan_scale_factor=None, region_scale_factor=None, cut_threshold=0.0,
          periodic_scan=None, region_band=(0.7, 1.45), region_face_px=40.0, prefetch=False)),
    ("+ detection at width <= 1280, boxes mapped back", dict(detect_width=1280)),
    ("+ face-size floor: 4% of frame height", dict(min_face_frac=0.04)),
    ("+ full scan every 50th frame, Kalman prediction between", dict(full_scan_every=50)),
    ("+ a full scan at once on a shot change", dict(cut_threshold=PipelineConfig.cut_threshold)),
    ("+ re-detection in regions around every viewer between scans", dict(region_redetect=True)),
    ("+ regions staggered: at most 6 viewers per frame", dict(regions_per_frame=6)),
    ("+ each viewer's region every 2nd frame", dict(region_every=2)),
    ("+ regions look for faces 0.8-1.3x the viewer (was 0.7-1.45x)", dict(region_band=(0.8, 1.3), region_face_px=46.0)),
    ("+ periodic scans at scale step 1.2, 2 neighbours (first and cut scans as before)",
     dict(periodic_scan=(1.2, 2))),
    ("+ decode on a prefetch thread (= balanced with --detector haar)", dict(prefetch=True)),
    ("+ YuNet finds the faces instead of Haar", dict(kind="yunet")),
    ("+ a full scan every 12th frame (= balanced)", dict(full_scan_every=12)),
    ("balanced + full scans on a worker thread (not kept)", dict(threaded=True)),
    ("balanced + first and cut scans at step 1.2 too (not kept)", dict(threaded=False, scan_scale_factor=1.2)),
    ("balanced + periodic scans need 3 neighbours (not kept)", dict(scan_scale_factor=None, periodic_scan=(1.2, 3))),
    ("balanced + regions at scale step 1.2 (not kept)", dict(periodic_scan=(1.2, 2), region_scale_factor=1.2)),
    ("balanced + regions 1.5x the viewer (not kept)", dict(region_scale_factor=None, region_scale=1.5)),
    ("balanced + each viewer's region every 3rd frame (not kept)", dict(region_scale=1.8, region_every=3)),
]
SECTION = LEVERS_SECTION


def frames_of(video: str, max_frames: Optional[int]) -> Iterator[Frame]:
    source = VideoSource(video)
    return itertools.islice(source, max_frames) if max_frames else iter(source)


def run(video: str, max_frames: Optional[int], overrides: dict) -> dict:
    """One pipeline run, decode included (fps is comparable with decode-only fps)."""
    overrides = dict(overrides)
    ahead = overrides.pop("prefetch", True)
    pipe = ReactionPipeline(profile_config("balanced", **overrides))
    start = time.perf_counter()
    frames = frames_of(video, max_frames)
    viewers, faces = set(), 0
    for result in pipe.run(prefetch(frames) if ahead else frames):
        viewers.update(result.p_smile)
        faces += len(result.p_smile)
    wall = time.perf_counter() - start
    return dict(fps=pipe.frames / wall, viewers=len(viewers), faces=faces / max(pipe.frames, 1),
                events=len(pipe.events), stage_ms=pipe.stage_ms())


def looped(video: str, minutes: float) -> Iterator[Frame]:
    """The video over and over, with media time running on, for ``minutes``."""
    index, offset = 0, 0.0
    while True:
        last = 0.0
        for frame in VideoSource(video):
            t = offset + frame.time_s
            if t > minutes * 60.0:
                return
            yield Frame(index, t, frame.image)
            index += 1
            last = frame.time_s
        offset += last + 1.0 / 25.0


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def memory_run(video: str, minutes: float) -> List[str]:
    pipe = ReactionPipeline(profile_config("balanced"))
    samples = []
    step = max(1, int(minutes * 60 * 25 / 10))
    start = time.perf_counter()
    for result in pipe.run(prefetch(looped(video, minutes))):
        if result.index % step == 0:
            samples.append((result.time_s, rss_mb()))
    wall = time.perf_counter() - start
    lines = ["", "### Memory over {:.0f} minutes of media ({}, looped, balanced profile)".format(minutes, os.path.basename(video)), "",
             "{} frames in {:.0f} s. RSS sampled every {} frames:".format(pipe.frames, wall, step), "",
             "| media time (s) | RSS (MB) |", "| --- | --- |"]
    lines += ["| {:.0f} | {:.1f} |".format(t, m) for t, m in samples]
    half = len(samples) // 2
    growth = samples[-1][1] - samples[half][1] if samples else 0.0
    lines += ["", "Growth over the second half: {:+.1f} MB.".format(growth)]
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.levers", description=__doc__.splitlines()[0])
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--max-frames", type=int, default=250, help="frames of each video (default 250)")
    p.add_argument("--memory-minutes", type=float, default=0.0, help="also run a looped memory test")
    p.add_argument("--memory-video", help="video looped by the memory test (default: the first VIDEO)")
    p.add_argument("--out", default=results_path("throughput.md"))
    args = p.parse_args(argv)
    lines = [SECTION, "", "Written by `python -m benchmarks.levers {}`.".format(" ".join(argv or sys.argv[1:])), ""]
    lines += machine_description()
    for video in args.videos:
        source = VideoSource(video)
        dec = decode_only(video, args.max_frames)
        lines += ["", "### {} ({}x{}, {} frames)".format(os.path.basename(video), source.width, source.height,
                                                         dec["frames"]), "",
                  "Decode only: {:.1f} fps.".format(dec["fps"]), "",
                  "| levers | fps | x decode-only | viewers | faces/frame | events | detect ms | track ms | smile ms |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        settings = {}
        for label, change in LEVERS:
            settings.update(change)
            r = run(video, args.max_frames, settings)
            ms = r["stage_ms"]
            lines.append("| {} | {:.1f} | {:.2f} | {} | {:.2f} | {} | {:.1f} | {:.2f} | {:.2f} |".format(
                label, r["fps"], r["fps"] / dec["fps"], r["viewers"], r["faces"], r["events"], ms["detect"], ms["track"],
                ms["smile"]))
            print(lines[-1], flush=True)
    if args.memory_minutes > 0:
        lines += memory_run(args.memory_video or args.videos[0], args.memory_minutes)
    _replace_section(args.out, lines)
    print("wrote", args.out)
    return 0


def _replace_section(path: str, lines: List[str]) -> None:
    text = open(path).read() if os.path.exists(path) else ""
    head = text.split(SECTION)[0].rstrip()
    with open(path, "w") as f:
        f.write((head + "\n\n" if head else "") + "\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
