"""``reaction publish``: send the laugh events of a finished analysis to AWS IoT.

    reaction publish events.jsonl --endpoint HOST --port 8883 --cert C --key K \\
        --ca CA --spool DIR [--client-id ID] [--topic-prefix P] [--device-id D] \\
        [--screening-id S] [--screening-start ISO] [--config FILE] [--timeout S]

Without an events file the command only drains what an earlier (perhaps
killed) run left in the spool.

Exit status: 0 every event acknowledged; 1 events left in the spool (broker
unreachable, TLS refused, or ``--timeout``); 2 bad input or config; 3 the
spool was full and refused events (nothing spooled is dropped).
"""

import argparse
import os
import sys

from ..types import ReactionError


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "publish", help="publish a finished analysis's laugh events to AWS IoT (MQTT, mutual TLS)"
    )
    p.add_argument(
        "events", nargs="?", help="events.jsonl written by 'reaction analyze' (omit to only drain the spool)"
    )
    p.add_argument("--endpoint", help="AWS IoT endpoint host name")
    p.add_argument("--port", help="MQTT port (8883 for AWS IoT mutual TLS)")
    p.add_argument("--cert", help="device certificate, PEM")
    p.add_argument("--key", help="device private key, PEM")
    p.add_argument("--ca", help="root CA of the endpoint, PEM (AmazonRootCA1.pem)")
    p.add_argument("--client-id", help="MQTT client id (default: reaction-<host>)")
    p.add_argument("--topic-prefix", help="topic is <prefix>/<device>/<screening>/laughs (default reaction)")
    p.add_argument("--device-id", help="device id in topic and events (default: client id)")
    p.add_argument("--screening-id", help="screening id in topic and events (default: events file name)")
    p.add_argument(
        "--screening-start",
        metavar="ISO",
        help="UTC start of the screening; wall_time = start + media time (default: time of publishing)",
    )
    p.add_argument("--spool", metavar="DIR", help="durable outbox directory (required here or as spool_dir)")
    p.add_argument("--config", metavar="FILE", help="IoT config file (JSON or INI [iot]); options override it")
    p.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds (default 120)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..iot.config import IotConfig
    from ..iot.publish import publish, read_events
    from ..iot.schema import parse_wall_time

    if args.timeout <= 0:
        raise ReactionError("--timeout: must be > 0, got {}".format(args.timeout))
    events = read_events(args.events) if args.events else []
    start = parse_wall_time(args.screening_start, "--screening-start") if args.screening_start else None
    screening = args.screening_id
    if not screening and args.events:
        screening = os.path.splitext(os.path.basename(args.events))[0]
    options = {
        "endpoint": args.endpoint,
        "port": args.port,
        "cert": args.cert,
        "key": args.key,
        "ca": args.ca,
        "client_id": args.client_id,
        "topic_prefix": args.topic_prefix,
        "device_id": args.device_id,
        "screening_id": screening,
        "spool_dir": args.spool,
    }
    config = IotConfig.from_sources(options, path=args.config)
    if not config.spool_dir:
        raise ReactionError("--spool: required (or spool_dir in the config file)")
    result = publish(events, config, args.timeout, start)
    if result.spool_error:
        print("reaction: error: {}".format(result.spool_error), file=sys.stderr)
    print(
        "sent {} events in {} messages to {}:{}{}{}; {} left in spool {}{}".format(
            result.acked,
            result.messages,
            config.endpoint,
            config.port,
            " (topic {})".format(result.topic) if events else "",
            " ({} replayed from an earlier run)".format(result.replayed) if result.replayed else "",
            result.left,
            config.spool_dir,
            "; {} not spooled (spool full)".format(result.refused) if result.refused else "",
        )
    )
    if result.left:
        why = result.error or "not every event was acknowledged within --timeout {:g} s".format(args.timeout)
        print("reaction: error: {}".format(why), file=sys.stderr)
    if result.refused:
        return 3
    return 0 if result.left == 0 else 1
