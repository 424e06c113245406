"""IoT publishing benchmark against a local Mosquitto with mutual TLS.

    python -m benchmarks.iot_bench [--events 20000] [--out benchmarks/results/iot.md]

Measures, through the durable spool and the real MQTT client:

* sustained events/s from ``emit`` to the last PUBACK, for one commit per
  event (``sync=full``: fsync per event; ``sync=normal``: survives a killed
  process, not a power cut) and for ``emit_many`` (100 events per commit,
  ``sync=full``);
* latency from event creation (``emit`` called) to PUBACK, p50/p99, at a
  steady offered rate;
* resident memory with a 1k/10k/100k-event backlog spooled while the broker
  is down, and while that backlog drains (each size in a fresh process).

Needs ``mosquitto`` (Debian package) and the test dependencies (trustme, paho-mqtt).
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from typing import List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from mosquitto import MOSQUITTO, Broker, Certs, config_dict  # noqa: E402

from reaction.iot.config import IotConfig
from reaction.iot.sink import IotSink  # noqa: E402
from reaction.types import LaughEvent  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def laugh(i: int) -> LaughEvent:
    return LaughEvent(i % 12, i * 0.04, i * 0.04 + 1.2, 0.93, 0.71, 30)


def pct(values: List[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class AckClock:
    """Creation and PUBACK times per event_id, from the sink's ``on_ack`` hook."""

    def __init__(self) -> None:
        self.created = {}  # type: Dict[str, float]
        self.acked = {}  # type: Dict[str, float]
        self.done = threading.Event()
        self.expect = 0

    def on_ack(self, ids: List[str]) -> None:
        now = time.perf_counter()
        for i in ids:
            self.acked.setdefault(i, now)
        if len(self.acked) >= self.expect:
            self.done.set()


def run_stream(broker: Broker, workdir: str, name: str, n: int, sync: str, group: int, rate: float = 0.0) -> dict:
    """Emit ``n`` events (``group`` per commit, optionally paced at ``rate``/s); time until all PUBACKed."""
    spool = os.path.join(workdir, "spool-" + name)
    cfg = IotConfig.from_sources(config_dict(broker, spool, spool_sync=sync, client_id="bench-" + name), env={})
    clock = AckClock()
    clock.expect = n
    sink = IotSink(cfg, device_id="bench", screening_id=name, on_ack=clock.on_ack)
    deadline = time.monotonic() + 15
    while not sink.connected and time.monotonic() < deadline:
        time.sleep(0.01)
    from reaction.iot.schema import event_id

    t0 = time.perf_counter()
    for start in range(0, n, group):
        if rate:
            delay = t0 + start / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        chunk = [laugh(i) for i in range(start, min(n, start + group))]
        now = time.perf_counter()
        for e in chunk:
            clock.created[event_id("bench", name, e.viewer_id, e.start_s)] = now
        sink.emit_many(chunk)
    t_emit = time.perf_counter() - t0
    clock.done.wait(300)
    t_all = max(clock.acked.values()) - t0 if clock.acked else float("nan")
    messages = sink.messages
    sink.close(timeout=10)
    lat = [(clock.acked[i] - c) * 1000 for i, c in clock.created.items() if i in clock.acked]
    return {
        "name": name, "events": n, "sync": sync, "per_commit": group, "offered_rate": rate or None,
        "acked": len(clock.acked), "left": sink.left, "messages": messages,
        "emit_per_s": n / t_emit, "end_to_end_per_s": n / t_all,
        "lat_p50_ms": pct(lat, 0.5) if lat else None, "lat_p99_ms": pct(lat, 0.99) if lat else None,
    }


def backlog_child(workdir: str, port: int, n: int) -> None:
    """In a fresh process: spool ``n`` events with the broker down, then drain them."""
    certs_dir = os.path.join(workdir, "certs")
    cfg = {
        "endpoint": "127.0.0.1", "port": port, "cert": os.path.join(certs_dir, "client.crt"),
        "key": os.path.join(certs_dir, "client.key"), "ca": os.path.join(certs_dir, "ca.pem"),
        "client_id": "bench-backlog-{}".format(n), "spool_dir": os.path.join(workdir, "spool-backlog-{}".format(n)),
        "backoff_min_s": 1, "backoff_max_s": 1,
    }
    sink = IotSink(IotConfig.from_sources(cfg, env={}), device_id="bench", screening_id="backlog{}".format(n))
    base = rss_mb()
    for start in range(0, n, 1000):
        sink.emit_many([laugh(i) for i in range(start, min(n, start + 1000))])
    spooled = rss_mb()
    print("READY", flush=True)
    sys.stdin.readline()  # parent starts the broker
    deadline = time.monotonic() + 30
    while not sink.connected and time.monotonic() < deadline:  # the sink retries every second
        time.sleep(0.005)
    t0 = time.perf_counter()
    left = sink.flush(300)
    drain_s = time.perf_counter() - t0
    sink.close(timeout=5)
    print(json.dumps({"backlog": n, "rss_start_mb": base, "rss_spooled_mb": spooled, "peak_rss_mb": peak_rss_mb(),
                      "drain_s": drain_s, "drain_per_s": n / drain_s, "left": left, "messages": sink.messages}))


def run_backlog(broker: Broker, workdir: str, n: int) -> dict:
    broker.stop()
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.iot_bench", "--backlog-child", workdir, str(broker.port), str(n)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout.readline().strip() == "READY"
    broker.start()
    child.stdin.write("go\n")
    child.stdin.flush()
    out = child.stdout.read()
    child.wait()
    return json.loads(out.strip().splitlines()[-1])


def mosquitto_version() -> str:
    out = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "?"


def report(streams: List[dict], backlogs: List[dict], args) -> str:
    lines = [
        "# IoT publishing benchmark",
        "",
        "`python -m benchmarks.iot_bench --events {}` on {} ({} CPUs), Python {}, {}, {} UTC.".format(
            args.events, platform.machine(), os.cpu_count(), platform.python_version(), mosquitto_version(),
            time.strftime("%Y-%m-%d %H:%M", time.gmtime())),
        "Local Mosquitto, TLS 1.3 with client certificates, QoS 1, publishes capped at 100/s "
        "(events batched up to 128 KB), spool in SQLite WAL on local disk. "
        "Load average at the end: {:.1f} (shared machine; fsync-bound rows vary with it).".format(os.getloadavg()[0]),
        "",
        "## Sustained throughput and latency (creation -> PUBACK)",
        "",
        "| run | spool sync | events per commit | offered rate | events | emit events/s | end-to-end events/s "
        "| messages | p50 ms | p99 ms | left |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in streams:
        lines.append("| {name} | {sync} | {per_commit} | {rate} | {events} | {emit_per_s:.0f} | {end_to_end_per_s:.0f} "
                     "| {messages} | {lat_p50_ms:.1f} | {lat_p99_ms:.1f} | {left} |".format(
                         rate="{:.0f}/s".format(r["offered_rate"]) if r["offered_rate"] else "as fast as possible", **r))
    lines += [
        "",
        "Runs offered as fast as possible measure capacity; their latency is mostly queueing in the spool.",
        "",
        "## Memory with a backlog (spooled while the broker is down, then drained)",
        "",
        "Drain time counts from the reconnect, not from the broker restart.",
        "",
        "| backlog events | RSS before MB | RSS with backlog spooled MB | peak RSS incl. drain MB | drain s "
        "| drain events/s | messages | left |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for b in backlogs:
        lines.append("| {backlog} | {rss_start_mb:.1f} | {rss_spooled_mb:.1f} | {peak_rss_mb:.1f} | {drain_s:.1f} "
                     "| {drain_per_s:.0f} | {messages} | {left} |".format(**b))
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20000, help="events per throughput run")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "iot.md"))
    ap.add_argument("--backlog-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.backlog_child:
        workdir, port, n = args.backlog_child
        backlog_child(workdir, int(port), int(n))
        return 0
    with tempfile.TemporaryDirectory(prefix="iot-bench-") as workdir:
        broker = Broker(workdir, Certs(os.path.join(workdir, "certs")))
        broker.start()
        try:
            n = args.events
            streams = [
                run_stream(broker, workdir, "event-full", n // 2, "full", 1),
                run_stream(broker, workdir, "event-normal", n, "normal", 1),
                run_stream(broker, workdir, "batch100-full", n, "full", 100),
                run_stream(broker, workdir, "paced-normal", n, "normal", 1, rate=2000.0),
                run_stream(broker, workdir, "paced-full", n // 4, "full", 1, rate=500.0),
                run_stream(broker, workdir, "live-full", 500, "full", 1, rate=50.0),
            ]
            for r in streams:
                print(json.dumps(r), flush=True)
            backlogs = []
            for size in (1000, 10000, 100000):
                backlogs.append(run_backlog(broker, workdir, size))
                print(json.dumps(backlogs[-1]), flush=True)
        finally:
            broker.stop()
    text = report(streams, backlogs, args)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
