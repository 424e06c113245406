"""``reaction publish``: send the laugh events of a finished analysis to AWS IoT.

    reaction publish events.jsonl --endpoint HOST --port 8883 --cert C --key K \\
        --ca CA --spool DIR [--client-id ID] [--topic-prefix P] [--device-id D] \\
        [--screening-id S] [--screening-start ISO] [--config FILE] [--timeout S]

Events go into the spool first, then out through the same ``IotSink`` as live
publishing. Without an events file the command only drains what an earlier
(perhaps killed) run left in the spool.

Exit status: 0 every event acknowledged; 1 events left in the spool (broker
unreachable, TLS refused, or ``--timeout``); 2 bad input or config; 3 the
spool was full and refused events (nothing spooled is dropped).
"""
import argparse
import json
import logging
import math
import os
import sys
import time
from typing import List, Optional

from .types import LaughEvent, ReactionError

_NUMBER = (int, float)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("publish",
                              help="publish a finished analysis's laugh events to AWS IoT (MQTT, mutual TLS)")
    p.add_argument("events", nargs="?", help="events.jsonl written by 'reaction analyze' (omit to only drain the spool)")
    p.add_argument("--endpoint", help="AWS IoT endpoint host name")
    p.add_argument("--port", help="MQTT port (8883 for AWS IoT mutual TLS)")
    p.add_argument("--cert", help="device certificate, PEM")
    p.add_argument("--key", help="device private key, PEM")
    p.add_argument("--ca", help="root CA of the endpoint, PEM (AmazonRootCA1.pem)")
    p.add_argument("--client-id", help="MQTT client id (default: reaction-<host>)")
    p.add_argument("--topic-prefix", help="topic is <prefix>/<device>/<screening>/laughs (default reaction)")
    p.add_argument("--device-id", help="device id in topic and events (default: client id)")
    p.add_argument("--screening-id", help="screening id in topic and events (default: events file name)")
    p.add_argument("--screening-start", metavar="ISO",
                   help="UTC start of the screening; wall_time = start + media time (default: time of publishing)")
    p.add_argument("--spool", metavar="DIR", help="durable outbox directory (required here or as spool_dir)")
    p.add_argument("--config", metavar="FILE", help="IoT config file (JSON or INI [iot]); options override it")
    p.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds (default 120)")
    p.set_defaults(func=run)
    return p


def read_events(path: str) -> List[LaughEvent]:
    """Laugh events from a JSONL file, each line checked, errors as ``FILE:LINE: ...``."""
    events = []
    try:
        f = open(path)
    except OSError as e:
        raise ReactionError("{}: cannot read events ({})".format(path, e.strerror))
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = "{}:{}".format(path, n)
            try:
                d = json.loads(line)
            except ValueError as e:
                raise ReactionError("{}: not JSON ({})".format(where, e))
            if not isinstance(d, dict):
                raise ReactionError("{}: expected a JSON object".format(where))
            for key in ("viewer_id", "start_s", "end_s", "peak", "mean", "n_frames"):
                v = d.get(key)
                if not isinstance(v, _NUMBER) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                    raise ReactionError("{}: field {!r} must be a non-negative number, got {!r}".format(where, key, v))
            for key in ("viewer_id", "n_frames"):
                if float(d[key]) != int(d[key]):
                    raise ReactionError("{}: field {!r} must be an integer, got {!r}".format(where, key, d[key]))
            if d["peak"] > 1 or d["mean"] > 1:
                raise ReactionError("{}: peak and mean must be probabilities in 0..1".format(where))
            if d["end_s"] < d["start_s"] or d["n_frames"] < 1:
                raise ReactionError("{}: end_s before start_s or n_frames < 1".format(where))
            events.append(LaughEvent(int(d["viewer_id"]), float(d["start_s"]), float(d["end_s"]),
                                     float(d["peak"]), float(d["mean"]), int(d["n_frames"])))
    return events


def run(args: argparse.Namespace) -> int:
    from .iot import IotConfig, IotSink
    from .schema import parse_wall_time
    from .spool import SpoolFull

    if args.timeout <= 0:
        raise ReactionError("--timeout: must be > 0, got {}".format(args.timeout))
    events = read_events(args.events) if args.events else []
    start = parse_wall_time(args.screening_start, "--screening-start") if args.screening_start else None
    screening = args.screening_id
    if not screening and args.events:
        screening = os.path.splitext(os.path.basename(args.events))[0]
    options = {
        "endpoint": args.endpoint, "port": args.port, "cert": args.cert, "key": args.key, "ca": args.ca,
        "client_id": args.client_id, "topic_prefix": args.topic_prefix, "device_id": args.device_id,
        "screening_id": screening, "spool_dir": args.spool,
    }
    config = IotConfig.from_sources(options, path=args.config)
    if not config.spool_dir:
        raise ReactionError("--spool: required (or spool_dir in the config file)")
    # The events file is itself durable, so a full spool can wait for room.
    config.spool_full_wait_s = args.timeout
    deadline = time.monotonic() + args.timeout
    sink = IotSink(config)
    refused = 0
    try:
        for i in range(0, len(events), 1000):
            chunk = events[i:i + 1000]
            walls = [start.timestamp() + e.start_s for e in chunk] if start else None
            try:
                sink.emit_many(chunk, walls)
            except SpoolFull as e:
                refused = len(events) - i
                print("reaction: error: {}".format(e), file=sys.stderr)
                break
        sink.flush(max(0.0, deadline - time.monotonic()))
    finally:
        sink.close(timeout=0)
    print("sent {} events in {} messages to {}:{}{}{}; {} left in spool {}{}".format(
        sink.acked, sink.messages, config.endpoint, config.port,
        " (topic {})".format(sink.topic) if events else "",
        " ({} replayed from an earlier run)".format(sink.replayed) if sink.replayed else "",
        sink.left, config.spool_dir, "; {} not spooled (spool full)".format(refused) if refused else ""))
    if sink.left and sink.error:
        print("reaction: error: {}".format(sink.error), file=sys.stderr)
    elif sink.left:
        print("reaction: error: not every event was acknowledged within --timeout {:g} s".format(args.timeout),
              file=sys.stderr)
    if refused:
        return 3
    return 0 if sink.left == 0 else 1


def main(argv: Optional[List[str]] = None) -> int:
    """Stand-alone entry point (``python -m reaction.publish``), same as ``reaction publish``."""
    parser = argparse.ArgumentParser(prog="reaction")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(["publish"] + list(sys.argv[1:] if argv is None else argv))
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ReactionError as e:
        print("reaction: error: {}".format(e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
