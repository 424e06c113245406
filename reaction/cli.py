"""The ``reaction`` command line.

Each sub-command lives with its feature; this module only assembles them and
turns :class:`ReactionError` into one line on stderr and exit status 2.
"""
import argparse
import importlib
import logging
import os
import re
import sys
import time
from dataclasses import replace
from typing import List, Optional

from .types import ReactionError

# Feature modules that add their own sub-commands with ``register(subparsers)``.
FEATURE_MODULES = ("reaction.train", "reaction.evaluate", "reaction.publish")


def _positive(kind, name):
    """An argparse type: ``kind`` (int or float) of the text, which must be > 0."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("{} must be {}, got {!r}".format(
                name, "an integer" if kind is int else "a number", text))
        if value <= 0:
            raise argparse.ArgumentTypeError("{} must be > 0, got {}".format(name, text))
        return value

    return parse


def _register_analyze(sub) -> None:
    p = sub.add_parser("analyze", help="turn an audience video into per-viewer laugh events")
    p.add_argument("video", help="video file, folder of images, or camera index")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--annotate", metavar="OUT.mp4", help="also write the video with viewer boxes")
    p.add_argument("--model", metavar="DIR", help="smile-net folder (default: the shipped models/)")
    p.add_argument("--profile", default="balanced", help="accurate | balanced | fast (default balanced)")
    p.add_argument("--scale-factor", type=float,
                   help="Haar scale factor (> 1) of full scans (balanced and fast: periodic scans use 1.2)")
    p.add_argument("--min-neighbors", type=int,
                   help="Haar min neighbours of full scans (balanced and fast: periodic scans use 2)")
    p.add_argument("--min-face", type=_positive(int, "--min-face"), help="smallest face, pixels")
    p.add_argument("--max-face", type=_positive(int, "--max-face"), help="largest face, pixels")
    p.add_argument("--detect-width", type=_positive(int, "--detect-width"), help="width detection runs at")
    p.add_argument("--full-scan-every", type=_positive(int, "--full-scan-every"), help="full-frame scan period, frames")
    p.add_argument("--max-lost", type=_positive(float, "--max-lost"), help="seconds a lost viewer is remembered")
    p.add_argument("--laugh-on", type=float, help="smoothed P(smile) that starts a laugh")
    p.add_argument("--laugh-off", type=float, help="smoothed P(smile) that ends a laugh")
    p.add_argument("--fps", type=_positive(float, "--fps"), help="frame rate of an image folder (default 25)")
    p.add_argument("--iot-config", metavar="FILE", help="also publish events live to AWS IoT")
    p.add_argument("--device-id", default=None, help="device id for IoT messages (default: the config's)")
    p.add_argument("--screening-id", default=None, help="screening id for IoT messages (default: video name)")
    p.add_argument("--no-progress", action="store_true", help="never show the progress bar")
    p.set_defaults(func=analyze)


def build_config(args):
    from .pipeline import profile_config

    det = {}
    for arg, field in (("scale_factor", "scale_factor"), ("min_neighbors", "min_neighbors"),
                       ("min_face", "min_size"), ("max_face", "max_size"), ("detect_width", "detect_width")):
        if getattr(args, arg) is not None:
            det[field] = getattr(args, arg)
    config = profile_config(args.profile, **det)
    if args.full_scan_every is not None:
        config = replace(config, full_scan_every=args.full_scan_every)
    if args.max_lost is not None:
        config = replace(config, tracker=replace(config.tracker, max_lost_s=args.max_lost))
    smoother = config.smoother
    if args.laugh_on is not None:
        smoother = replace(smoother, on_threshold=args.laugh_on)
    if args.laugh_off is not None:
        smoother = replace(smoother, off_threshold=args.laugh_off)
    config = replace(config, smoother=smoother, model_dir=args.model)
    config.validate()
    return config


def analyze(args) -> int:
    from tqdm import tqdm

    from .annotate import AnnotatedVideo
    from .pipeline import ReactionPipeline
    from .report import ScreeningReport
    from .sinks import JsonlSink
    from .sources import CameraSource, open_source, prefetch

    config = build_config(args)
    source = open_source(args.video, fps=args.fps)
    sinks = [JsonlSink(os.path.join(args.out, "events.jsonl"))]
    iot = None
    if args.iot_config:
        from .iot import IotConfig, IotSink

        iot_config = IotConfig.load(args.iot_config)
        screening = args.screening_id or os.path.splitext(os.path.basename(str(args.video)))[0]
        # Topic levels and ids allow only this alphabet; a file name may not.
        screening = re.sub(r"[^A-Za-z0-9_.:@-]", "-", screening)[:128]
        iot = IotSink(
            iot_config, device_id=args.device_id, screening_id=screening,
            spool_dir=iot_config.spool_dir or os.path.join(args.out, "spool"),
        )
        sinks.append(iot)
    pipeline = ReactionPipeline(config, sinks=sinks)
    report = ScreeningReport(args.out)
    writer = None
    show = sys.stderr.isatty() and not args.no_progress
    bar = tqdm(total=getattr(source, "frame_count", 0) or None, unit="frame", disable=not show, file=sys.stderr)
    started = time.perf_counter()
    try:
        # A file is decoded ahead on a thread; a camera is read as it comes,
        # because a queue of stale frames would only add latency.
        frames = source if isinstance(source, CameraSource) else prefetch(source)
        for result in pipeline.run(frames):
            if args.annotate:
                if writer is None:
                    h, w = result.shape
                    writer = AnnotatedVideo(args.annotate, getattr(source, "fps", 25.0), (w, h))
                writer.write(result.image, result)
            report.add(result)
            bar.update(1)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
        pipeline.close()
    elapsed = time.perf_counter() - started
    summary = report.close(
        pipeline.events,
        {
            "video": str(args.video),
            "profile": args.profile,
            "frames": pipeline.frames,
            "skipped_frames": getattr(source, "skipped", 0) + pipeline.bad_frames,
            "fps": round(pipeline.frames / elapsed, 2) if elapsed > 0 else None,
        },
    )
    print(
        "{} frames at {} fps; {} viewers, {} laugh events -> {}".format(
            summary["frames"], summary["fps"], len(summary["viewers"]), summary["events"], args.out
        )
    )
    if summary["skipped_frames"]:
        print("warning: {} undecodable frames skipped".format(summary["skipped_frames"]), file=sys.stderr)
    if iot is not None and iot.left:
        spool = os.path.dirname(iot.spool.path)
        print("warning: {} laugh events left in spool {} (send them with: reaction publish --spool {} ...)".format(
            iot.left, spool, spool), file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reaction", description="Measure how an audience reacts to funny media.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _register_analyze(sub)
    for name in FEATURE_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            if e.name != name:
                raise
            continue
        module.register(sub)
    return parser


def _quiet_opencv() -> None:
    """FFmpeg and OpenCV print their own warnings for bad files; we print one clear line instead."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read when a capture opens
    import cv2

    if hasattr(cv2, "setLogLevel"):
        cv2.setLogLevel(2)  # errors only


def main(argv: Optional[List[str]] = None) -> int:
    _quiet_opencv()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except ReactionError as e:
        print("reaction: error: {}".format(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reaction: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
