"""``reaction analyze``: an audience video in, per-viewer laugh events out."""

import argparse
import logging
import os
import re
import sys
from dataclasses import replace

from ..types import ConfigError, ReactionError
from ._args import positive

#: Library config fields, as the options of this command name them.
OPTIONS = {
    "scale_factor": "--scale-factor",
    "min_neighbors": "--min-neighbors",
    "min_size": "--min-face",
    "max_size": "--max-face",
    "detect_width": "--detect-width",
    "full_scan_every": "--full-scan-every",
    "max_lost_s": "--max-lost",
    "on_threshold": "--laugh-on",
    "off_threshold": "--laugh-off",
    "profile": "--profile",
    "kind": "--detector",
}


def register(sub) -> None:
    p = sub.add_parser("analyze", help="turn an audience video into per-viewer laugh events")
    p.add_argument(
        "video",
        nargs="+",
        help="video file, folder of images, camera index, or stream URL (rtsp://, http://...); "
        "several: one pipeline per camera into DIR/cam1, DIR/cam2...",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--annotate", metavar="OUT.mp4", help="also write the video with viewer boxes")
    p.add_argument("--model", metavar="DIR", help="smile-net folder (default: the model shipped in the package)")
    p.add_argument("--profile", default="balanced", help="accurate | balanced | fast (default balanced)")
    p.add_argument(
        "--detector",
        choices=("haar", "yunet"),
        help="face detector: OpenCV's Haar cascade (default) or the YuNet CNN shipped in the package",
    )
    p.add_argument(
        "--scale-factor",
        type=float,
        help="Haar scale factor (> 1) of full scans (balanced and fast: periodic scans use 1.2)",
    )
    p.add_argument(
        "--min-neighbors", type=int, help="Haar min neighbours of full scans (balanced and fast: periodic scans use 2)"
    )
    p.add_argument("--min-face", type=positive(int, "--min-face"), help="smallest face, pixels")
    p.add_argument("--max-face", type=positive(int, "--max-face"), help="largest face, pixels")
    p.add_argument("--detect-width", type=positive(int, "--detect-width"), help="width detection runs at")
    p.add_argument("--full-scan-every", type=positive(int, "--full-scan-every"), help="full-frame scan period, frames")
    p.add_argument("--max-lost", type=positive(float, "--max-lost"), help="seconds a lost viewer is remembered")
    p.add_argument("--laugh-on", type=float, help="smoothed P(smile) that starts a laugh")
    p.add_argument("--laugh-off", type=float, help="smoothed P(smile) that ends a laugh")
    p.add_argument("--fps", type=positive(float, "--fps"), help="frame rate of an image folder (default 25)")
    p.add_argument(
        "--timeout",
        type=positive(float, "--timeout"),
        default=5.0,
        metavar="S",
        help="stream: seconds to open it, and a read that waits this long is a drop (default 5)",
    )
    p.add_argument(
        "--give-up-after",
        type=positive(float, "--give-up-after"),
        metavar="S",
        help="stream: end after S seconds without frames (default: reconnect until Ctrl-C or SIGTERM)",
    )
    p.add_argument("--iot-config", metavar="FILE", help="also publish events live to AWS IoT")
    p.add_argument("--device-id", default=None, help="device id for IoT messages (default: the config's)")
    p.add_argument("--screening-id", default=None, help="screening id for IoT messages (default: video name)")
    p.add_argument("--film-id", default=None, help="film id for IoT presence messages (reaction report --db --film)")
    p.add_argument("--no-progress", action="store_true", help="never show the progress bar")
    p.set_defaults(func=run)


def in_options(error: ConfigError) -> ReactionError:
    """The error with the config's field names replaced by this command's options."""
    problem = error.problem
    for name, option in OPTIONS.items():
        problem = re.sub(r"\b{}\b".format(name), option, problem)
    return ReactionError(problem) if problem != error.problem else error


def build_config(args: argparse.Namespace):
    from ..pipeline import profile_config

    det = {}
    for arg, name in (
        ("detector", "kind"),
        ("scale_factor", "scale_factor"),
        ("min_neighbors", "min_neighbors"),
        ("min_face", "min_size"),
        ("max_face", "max_size"),
        ("detect_width", "detect_width"),
    ):
        if getattr(args, arg) is not None:
            det[name] = getattr(args, arg)
    try:
        config = profile_config(args.profile, **det)
    except ConfigError as e:
        raise in_options(e) from None
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
    try:
        config.validate()
    except ConfigError as e:
        raise in_options(e) from None
    return config


def _iot_sink(args: argparse.Namespace):
    from ..iot.config import IotConfig
    from ..iot.sink import IotSink

    iot_config = IotConfig.load(args.iot_config)
    screening = args.screening_id or os.path.splitext(os.path.basename(str(args.video[0])))[0]
    # Topic levels and ids allow only this alphabet; a file name may not.
    screening = re.sub(r"[^A-Za-z0-9_.:@-]", "-", screening)[:128]
    return IotSink(
        iot_config,
        device_id=args.device_id,
        screening_id=screening,
        spool_dir=iot_config.spool_dir or os.path.join(args.out, "spool"),
        film_id=args.film_id,
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..analysis import analyze, exit_status
    from ..sources import open_source
    from ..streams import check_url, looks_like_url

    config = build_config(args)
    stream = {"open_timeout_s": args.timeout, "read_timeout_s": args.timeout, "give_up_after_s": args.give_up_after}
    if len(args.video) > 1:
        return run_cameras(args, config, stream)
    video = args.video[0]
    # A stream is opened by analyze() once the model is loaded; a bad URL fails here, before that.
    source = check_url(video) if looks_like_url(video) else open_source(video, fps=args.fps)
    iot = _iot_sink(args) if args.iot_config else None
    show = sys.stderr.isatty() and not args.no_progress
    bar = tqdm(total=getattr(source, "frame_count", 0) or None, unit="frame", disable=not show, file=sys.stderr)
    try:
        done = analyze(
            source,
            args.out,
            config,
            annotate=args.annotate,
            sinks=[iot] if iot else [],
            on_frame=lambda n, total: bar.update(1),
            extra={"video": str(video), "profile": args.profile},
            stream=stream,
        )
    finally:
        bar.close()
    summary = done.summary
    print(
        "{} frames at {} fps; {} viewers, {} laugh events -> {}".format(
            summary["frames"], summary["fps"], len(summary["viewers"]), summary["events"], args.out
        )
    )
    stream_stats = summary.get("stream")
    if stream_stats:
        print(
            "stream: {} drops, {} s without frames{}".format(
                stream_stats["drops"], stream_stats["lost_s"], "; gave up" if stream_stats["gave_up"] else ""
            ),
            file=sys.stderr,
        )
    if summary["skipped_frames"]:
        print("warning: {} undecodable frames skipped".format(summary["skipped_frames"]), file=sys.stderr)
    if done.stopped_by is not None:
        print(
            "reaction: interrupted at {} s of media; the outputs hold what was measured".format(
                summary["last_media_s"]
            ),
            file=sys.stderr,
        )
    if iot is not None and iot.left:
        spool = os.path.dirname(iot.spool.path)
        print(
            "warning: {} laugh events left in spool {} (send them with: reaction publish --spool {} ...)".format(
                iot.left, spool, spool
            ),
            file=sys.stderr,
        )
        if done.stopped_by is None:
            return 1
    return exit_status(done.stopped_by) if done.stopped_by is not None else 0


def run_cameras(args: argparse.Namespace, config, stream: dict) -> int:
    from ..cameras import analyze_cameras
    from ..streams import check_url, looks_like_url

    for spec in args.video:
        if looks_like_url(spec):
            check_url(spec)  # a malformed URL is one line before any camera starts
    if args.iot_config or args.annotate:
        raise ReactionError("--iot-config and --annotate take one input, not {}".format(len(args.video)))
    room = analyze_cameras(
        args.video,
        args.out,
        config,
        stream=stream,
        extra={"profile": args.profile},
        verbose=logging.getLogger().isEnabledFor(logging.INFO),
    )
    for cam in room["cameras"]:
        if "summary" in cam:
            print(
                "{}: {} frames at {} fps; {} viewers, {} laugh events -> {}".format(
                    cam["camera"],
                    cam["frames"],
                    cam["fps"],
                    cam["viewers"],
                    cam["events"],
                    os.path.join(args.out, cam["camera"]),
                )
            )
    return int(room["status"])
