"""``reaction collect``: receive laugh events and presence over AWS IoT into screenings.sqlite."""

import argparse
import signal
import sys
import threading
import time


def register(sub) -> None:
    p = sub.add_parser("collect", help="receive laugh events and presence from AWS IoT into a SQLite store")
    p.add_argument("--config", required=True, metavar="IOT.json", help="endpoint, certificates (as for analyze)")
    p.add_argument("--db", required=True, metavar="SQLITE", help="the store (created if missing)")
    p.add_argument("--topic", default=None, metavar="FILTER", help="topic filter (default reaction/#)")
    p.add_argument("--client-id", default=None, help="MQTT client id (default: the config's, plus -collect)")
    p.add_argument("--for", dest="for_s", type=float, default=None, metavar="S", help="stop after S seconds")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..audience.collect import DEFAULT_TOPIC, Collector
    from ..audience.store import Store
    from ..iot.config import IotConfig

    config = IotConfig.load(args.config)
    store = Store(args.db)
    collector = Collector(config, store, args.topic or DEFAULT_TOPIC, args.client_id)
    done = threading.Event()

    def stop(signum, frame) -> None:
        done.set()

    previous = signal.signal(signal.SIGTERM, stop)
    collector.start()
    announced = False
    started = time.monotonic()
    try:
        while not done.is_set() and not collector.fatal.is_set():
            if collector.subscribed.is_set() and not announced:
                print(
                    "collecting {} from {}:{} into {}".format(collector.topic, config.endpoint, config.port, args.db),
                    flush=True,
                )
                announced = True
            if args.for_s is not None and time.monotonic() - started >= args.for_s:
                break
            done.wait(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        collector.stop()
        counts = store.counts()
        store.close()
    print(
        "stored {} new laugh events, {} presence messages ({} in the store; {} rejected)".format(
            collector.events, collector.presence, counts["events"], counts["rejected"]
        ),
        flush=True,
    )
    if collector.fatal.is_set():
        print("reaction: error: {}".format(collector.error), file=sys.stderr)
        return 1
    return 0
