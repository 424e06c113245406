"""Pipeline throughput against the decode-only limit of the same machine.

``python -m benchmarks.throughput VIDEO [VIDEO ...] [--profile P[,P...]]``

For each video: decode it alone (the physical limit: nothing downstream can
be faster than reading the frames), then run the whole pipeline, with a
JSONL sink, and report frames per second, the real-time factor (seconds of
video per wall second), milliseconds per frame per stage and peak RSS.
Writes ``benchmarks/results/throughput.md``.
"""
import argparse
import itertools
import os
import platform
import resource
import sys
import tempfile
import time
from typing import Dict, Iterator, List, Optional

from reaction.types import Frame, ReactionError

LEVERS_SECTION = "## Levers"

STAGES = ("decode", "detect", "track", "smile", "smooth", "sinks")


def results_path(name: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", name)


def machine_description() -> List[str]:
    """Markdown lines: CPU, cores, load, library versions."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    from importlib import metadata

    versions = []
    for dist in ("numpy", "opencv-python-headless", "mxnet", "scipy", "filterpy", "motmetrics", "norfair", "motpy"):
        try:
            versions.append("{} {}".format(dist, metadata.version(dist)))
        except metadata.PackageNotFoundError:  # optional libraries are reported, not required
            versions.append("{} absent".format(dist))
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return [
        "Machine: {}, {} logical cores, {}; load average at start {:.2f} / {:.2f} / {:.2f} "
        "(the machine is shared, so a high load means slower, noisier timings).".format(
            cpu, os.cpu_count(), platform.platform(), *load),
        "Python {}; {}; OPENBLAS_NUM_THREADS={}.".format(
            platform.python_version(), ", ".join(versions), os.environ.get("OPENBLAS_NUM_THREADS", "unset")),
    ]


def _frames(video: str, max_frames: Optional[int]):
    from reaction.sources import open_source

    source = open_source(video)
    return source, (itertools.islice(source, max_frames) if max_frames else source)


def decode_only(video: str, max_frames: Optional[int] = None) -> dict:
    t0 = time.perf_counter()
    n, last = 0, 0.0
    for frame in _frames(video, max_frames)[1]:
        n += 1
        last = frame.time_s
    wall = time.perf_counter() - t0
    return dict(frames=n, wall_s=wall, fps=n / wall if wall else 0.0, last_s=last)


class _TimedSource:
    """Wraps a source and accumulates the time spent inside its iterator."""

    def __init__(self, source, fps: float) -> None:
        self.source = source
        self.fps = fps
        self.seconds = 0.0
        self.last_s = 0.0

    def __iter__(self) -> Iterator[Frame]:
        it = iter(self.source)
        while True:
            t0 = time.perf_counter()
            try:
                frame = next(it)
            except StopIteration:
                self.seconds += time.perf_counter() - t0
                return
            self.seconds += time.perf_counter() - t0
            self.last_s = frame.time_s
            yield frame


def pipeline_run(video: str, profile: str, model_dir: Optional[str], max_frames: Optional[int] = None) -> dict:
    from reaction.pipeline import ReactionPipeline, profile_config
    from reaction.sinks import JsonlSink
    from reaction.sources import prefetch

    overrides: Dict[str, object] = {"model_dir": model_dir} if model_dir else {}
    name, _, detector = profile.partition("+")  # "balanced+haar": the profile with another detector
    if detector:
        overrides["kind"] = detector
    with tempfile.TemporaryDirectory() as tmp:
        sink = JsonlSink(os.path.join(tmp, "laughs.jsonl"))
        pipe = ReactionPipeline(profile_config(name, **overrides), sinks=[sink])
        raw, frames = _frames(video, max_frames)
        # As `reaction analyze` does: decode runs ahead on a thread, so the
        # "decode ms" column is the time the pipeline waited for a frame.
        source = _TimedSource(prefetch(frames), getattr(raw, "fps", 0.0) or 25.0)
        faces = 0
        t0 = time.perf_counter()
        for result in pipe.run(source):
            faces += sum(1 for t in result.tracks if t.confirmed)
        wall = time.perf_counter() - t0
        pipe.close()
    n = pipe.frames
    stage = dict(decode=1000.0 * source.seconds / max(n, 1), **pipe.stage_ms())
    return dict(frames=n, wall_s=wall, fps=n / wall if wall else 0.0, stage_ms=stage,
                rtf=(source.last_s + 1.0 / source.fps) / wall if wall else 0.0,
                faces=faces / max(n, 1), events=len(pipe.events))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.split("\n")[0])
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--profile", default="balanced",
                   help="one profile or a comma-separated list; PROFILE+haar or PROFILE+yunet picks the detector")
    p.add_argument("--model-dir", help="smile model folder (default: the package's models/)")
    p.add_argument("--max-frames", type=int, help="only the first N frames of each video")
    p.add_argument("--out", default=results_path("throughput.md"))
    args = p.parse_args(argv)
    rows = []
    try:
        from reaction.pipeline import PROFILES

        if args.max_frames is not None and args.max_frames < 1:
            raise ReactionError("--max-frames must be >= 1, got {}".format(args.max_frames))
        profiles = [x.strip() for x in args.profile.split(",") if x.strip()]
        for name in profiles:
            if name.partition("+")[0] not in PROFILES or name.partition("+")[2] not in ("", "haar", "yunet"):
                raise ReactionError("--profile must be among {}, got {!r}".format(", ".join(PROFILES), name))
        header = machine_description()
        for video in args.videos:
            if not os.path.isfile(video):
                raise ReactionError("{}: no such file".format(video))
            dec = decode_only(video, args.max_frames)
            print("{}: decode-only {:.1f} fps".format(video, dec["fps"]), file=sys.stderr)
            for name in profiles:
                run = pipeline_run(video, name, args.model_dir, args.max_frames)
                run.update(video=os.path.basename(video), profile=name, decode_fps=dec["fps"], rss=peak_rss_mb())
                print("  {}: {:.1f} fps".format(name, run["fps"]), file=sys.stderr)
                rows.append(run)
    except ReactionError as e:
        print("error: {}".format(e), file=sys.stderr)
        return 2
    lines = ["# Throughput benchmark", "",
             "Written by `python -m benchmarks.throughput {}`; do not edit by hand.".format(" ".join(argv)), ""]
    lines += header
    lines += ["", "Decode-only runs first on each video, in the same process; `vs decode` is pipeline fps "
              "divided by decode-only fps. The pipeline decodes on a prefetch thread, as `reaction analyze` does, "
              "so `decode ms` is the time it waited for a decoded frame. "
              "Real-time factor is seconds of video per wall second. Peak RSS is "
              "the process maximum so far (it only grows across rows).", "",
              "| video | profile | frames | faces/frame | fps | real-time factor | decode-only fps | vs decode | "
              + " | ".join("{} ms".format(s) for s in STAGES) + " | peak RSS MB |",
              "|---|---|---|---|---|---|---|---|" + "---|" * len(STAGES) + "---|"]
    for r in rows:
        lines.append("| {} | {} | {} | {:.1f} | {:.2f} | {:.2f} | {:.1f} | {:.3f} | {} | {:.0f} |".format(
            r["video"], r["profile"], r["frames"], r["faces"], r["fps"], r["rtf"], r["decode_fps"],
            r["fps"] / r["decode_fps"] if r["decode_fps"] else 0.0,
            " | ".join("{:.1f}".format(r["stage_ms"].get(s, 0.0)) for s in STAGES), r["rss"]))
    text = "\n".join(lines) + "\n"
    print(text)
    write_keeping_levers(args.out, text)
    return 0


def write_keeping_levers(path: str, text: str) -> None:
    """Write ``text`` to ``path``, keeping the file's "## Levers" section,
    which ``benchmarks.levers`` writes into the same file."""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        if LEVERS_SECTION in old:
            text += "\n" + LEVERS_SECTION + old.split(LEVERS_SECTION, 1)[1]
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
