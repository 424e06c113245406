"""The IoT sink against a real Mosquitto with mutual TLS (``require_certificate true``).

A paho subscriber with its own client certificate reads what arrived. The
broker is shared by the module; each test uses its own screening id (and so
its own topic) and its own spool.
"""
import json
import os
import signal
import subprocess
import sys
import time

import jsonschema
import pytest

from mosquitto import Subscriber, config_dict

from reaction.cli import main as reaction_main
from reaction.iot.config import IotConfig
from reaction.iot.sink import IotSink
from reaction.iot.schema import MAX_PAYLOAD_BYTES, MESSAGE_SCHEMA, encode_event, event_id, event_message
from reaction.iot.spool import Spool
from reaction.types import LaughEvent, ReactionError

from helpers import ROOT

pytestmark = pytest.mark.broker


def publish_main(argv):
    return reaction_main(["publish"] + argv)


def subscribe(broker, screening):
    return Subscriber(broker, "reaction/+/{}/laughs".format(screening), client_id="sub-" + screening)


def make_config(broker, spool, **extra):
    return IotConfig.from_sources(config_dict(broker, spool, **extra), env={})


def laughs(n, offset=0.0):
    return [LaughEvent(i % 9, offset + i * 0.25, offset + i * 0.25 + 0.2, 0.95, 0.7, 6) for i in range(n)]


def ids_of(events, device, screening):
    return {event_id(device, screening, e.viewer_id, e.start_s) for e in events}


def write_jsonl(path, events):
    with open(path, "w") as f:
        for e in events:
            f.write(json.dumps(e.to_dict()) + "\n")


def test_1000_events_arrive_valid_and_batched(broker, tmp_path):
    sub = subscribe(broker, "t1")
    events = laughs(1000)
    sink = IotSink(make_config(broker, str(tmp_path / "spool")), device_id="dev-1", screening_id="t1")
    started = time.monotonic()
    for e in events:
        sink.emit(e)
    sink.close(timeout=30)
    elapsed = time.monotonic() - started
    try:
        assert sink.left == 0 and sink.acked == 1000
        assert sub.wait_for(ids_of(events, "dev-1", "t1"), 15) == set()
        with Spool(str(tmp_path / "spool")) as spool:
            assert len(spool) == 0
        for raw in sub.raw:
            assert len(raw) <= MAX_PAYLOAD_BYTES
            jsonschema.validate(json.loads(raw), MESSAGE_SCHEMA)
        events_in = [ev for _, m in sub.messages for ev in m["events"]]
        assert {(ev["viewer_id"], ev["media_start_s"]) for ev in events_in} == {
            (e.viewer_id, round(e.start_s, 3)) for e in events}
        assert all(ev["device_id"] == "dev-1" and ev["screening_id"] == "t1" for ev in events_in)
        # events came faster than 100/s, so they were batched under the publish rate limit
        assert len(sub.messages) < 1000
        assert len(sub.messages) <= 100 * elapsed + 2
        assert max(len(m["events"]) for _, m in sub.messages) > 1
    finally:
        sub.close()


def test_replay_on_start_in_order_within_128kb(broker, tmp_path):
    """Events left in the spool by an earlier run go out first, oldest first, split at 128 KB."""
    spool_dir = str(tmp_path / "spool")
    events = laughs(1500)
    with Spool(spool_dir) as spool:
        spool.put_many([("reaction/dev-1/t1b/laughs", m["event_id"], encode_event(m))
                        for m in (event_message(e, "dev-1", "t1b") for e in events)])
    sub = subscribe(broker, "t1b")
    sink = IotSink(make_config(broker, spool_dir, max_batch_events=5000), device_id="dev-1", screening_id="t1b")
    assert sink.replayed == 1500
    sink.close(timeout=30)
    try:
        assert sink.left == 0
        wanted = [event_id("dev-1", "t1b", e.viewer_id, e.start_s) for e in events]
        assert sub.wait_for(set(wanted), 15) == set()
        sizes = [len(raw) for raw in sub.raw]
        assert max(sizes) <= MAX_PAYLOAD_BYTES and max(sizes) > MAX_PAYLOAD_BYTES * 0.9
        arrived = [ev["event_id"] for _, m in sub.messages for ev in m["events"]]
        assert arrived == wanted
    finally:
        sub.close()


def test_nothing_leaves_the_spool_without_puback(broker, tmp_path):
    """A frozen broker (SIGSTOP) keeps the TCP connection but sends no PUBACK."""
    sub = subscribe(broker, "t2a")
    sink = IotSink(make_config(broker, str(tmp_path / "spool")), device_id="dev-2", screening_id="t2a")
    events = laughs(300)
    try:
        sink.emit_many(events[:50])
        assert sink.flush(15) == 0
        sent_before = sink.messages
        broker.proc.send_signal(signal.SIGSTOP)
        try:
            sink.emit_many(events[50:])
            time.sleep(1.0)  # the drainer publishes into the socket meanwhile
            assert len(sink.spool) == 250 and sink.messages == sent_before
        finally:
            broker.proc.send_signal(signal.SIGCONT)
        assert sink.flush(20) == 0
        sink.close()
        assert sub.wait_for(ids_of(events, "dev-2", "t2a"), 15) == set()
    finally:
        sink.close(timeout=0)
        sub.close()


def test_broker_outages_lose_nothing(broker, tmp_path):
    sub = subscribe(broker, "t2")
    events = laughs(2000)
    spool_dir = str(tmp_path / "spool")
    sink = IotSink(make_config(broker, spool_dir, spool_sync="normal"), device_id="dev-2", screening_id="t2")
    try:
        for i, e in enumerate(events):
            if i in (500, 1000, 1500):
                deadline = time.monotonic() + 15
                while not sink.connected and time.monotonic() < deadline:  # a real outage each time
                    time.sleep(0.02)
                broker.stop()
            if i in (600, 1100, 1600):
                broker.start()
            sink.emit(e)
            time.sleep(0.0005)
        sink.close(timeout=60)
        assert sink.interruptions >= 3
        assert sink.left == 0
        assert sub.wait_for(ids_of(events, "dev-2", "t2"), 30) == set()
        with Spool(spool_dir) as spool:
            assert len(spool) == 0
    finally:
        if broker.proc is None:
            broker.start()
        sub.close()


def test_publisher_sigkill_then_restart_replays_spool(broker, tmp_path):
    spool_dir = str(tmp_path / "spool")
    cfg_path = str(tmp_path / "iot.json")
    # Drain slowly (20 messages/s of 5 events) so the kill finds events still spooled.
    cfg = config_dict(broker, spool_dir, device_id="dev-3", screening_id="t3", client_id="pub-t3",
                      max_publishes_per_s=20, max_batch_events=5)
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    sub = subscribe(broker, "t3")
    child = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "mosquitto.py"), "produce", cfg_path, "1000"],
                             stdout=subprocess.PIPE, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), text=True)
    spooled = []
    try:
        while len(spooled) < 300:
            line = child.stdout.readline()
            assert line, "producer exited early"
            spooled.append(line.strip())
        deadline = time.monotonic() + 20
        while not sub.messages and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sub.messages, "nothing was published before the kill"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    try:
        with Spool(spool_dir) as spool:
            assert len(spool) > 0, "the kill should leave unacknowledged events"
        assert not set(spooled) <= sub.event_ids()
        code = publish_main(["--config", cfg_path, "--spool", spool_dir, "--timeout", "60"])
        assert code == 0
        assert sub.wait_for(set(spooled), 15) == set()
        with Spool(spool_dir) as spool:
            assert len(spool) == 0
    finally:
        sub.close()


def test_untrusted_certificates_fail_clearly_and_keep_events(broker, tmp_path):
    events_path = str(tmp_path / "events.jsonl")
    write_jsonl(events_path, laughs(50))
    cases = {
        "rogue-client": ["--cert", broker.certs.rogue_cert, "--key", broker.certs.rogue_key, "--ca", broker.certs.ca],
        "wrong-ca": ["--cert", broker.certs.client_cert, "--key", broker.certs.client_key, "--ca", broker.certs.rogue_ca],
    }
    procs = {}
    started = time.monotonic()
    # s2n delays TLS failures by 10-30 s on purpose: run both cases side by side.
    for name, tls in cases.items():
        argv = [sys.executable, "-m", "reaction", "publish", events_path, "--endpoint", "127.0.0.1",
                "--port", str(broker.port), "--client-id", name, "--spool", str(tmp_path / name),
                "--timeout", "90"] + tls
        procs[name] = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, p in procs.items():
        out, err = p.communicate(timeout=100)
        assert p.returncode == 1, (name, out, err)
        assert "TLS" in err and "Traceback" not in err, err
        bad_file = broker.certs.rogue_cert if name == "rogue-client" else broker.certs.rogue_ca
        assert bad_file in err
        assert "sent 0 events" in out and "50 left in spool" in out
        with Spool(str(tmp_path / name)) as spool:
            assert len(spool) == 50
    # bounded: well before the 90 s --timeout, i.e. the failure itself ended the run
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("field,change,needle", [
    ("cert", {"cert": "/nonexistent/device.crt"}, "cert"),
    ("key", {"key": "GARBAGE"}, "key"),
    ("key", {"key": "DIR"}, "key"),
    ("port", {"port": 70000}, "port"),
    ("port", {"port": 0}, "port"),
    ("port", {"port": "eighty"}, "port"),
    ("ca", {"ca": "/nonexistent/ca.pem"}, "ca"),
    ("endpoint", {"endpoint": "mqtts://example.com"}, "endpoint"),
])
def test_bad_config_names_the_field(broker, tmp_path, field, change, needle):
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key\n")
    change = {k: str(garbage) if v == "GARBAGE" else (str(tmp_path) if v == "DIR" else v) for k, v in change.items()}
    good = config_dict(broker, str(tmp_path / "spool"))
    # options
    with pytest.raises(ReactionError) as e:
        IotConfig.from_sources(dict(good, **change), env={})
    assert str(e.value).startswith(needle), str(e.value)
    # config file: the message names the field and the file
    path = tmp_path / "iot.json"
    path.write_text(json.dumps(dict(good, **change)))
    with pytest.raises(ReactionError) as e:
        IotConfig.load(str(path), env={})
    assert str(e.value).startswith(needle) and str(path) in str(e.value), str(e.value)
    # environment variable
    env = {"REACTION_IOT_" + k.upper(): str(v) for k, v in dict(good, **change).items()}
    with pytest.raises(ReactionError) as e:
        IotConfig.from_sources(env=env)
    assert "REACTION_IOT_" + field.upper() in str(e.value), str(e.value)


def test_bad_config_on_the_command_line(broker, tmp_path, capsys):
    events_path = str(tmp_path / "events.jsonl")
    write_jsonl(events_path, laughs(3))
    base = [events_path, "--endpoint", "127.0.0.1", "--cert", broker.certs.client_cert,
            "--key", broker.certs.client_key, "--ca", broker.certs.ca, "--spool", str(tmp_path / "spool")]
    assert publish_main(base + ["--port", "65536"]) == 2
    err = capsys.readouterr().err
    assert "port (--port): 65536 is out of range" in err and "Traceback" not in err
    ini = tmp_path / "iot.ini"
    ini.write_text("[iot]\nendpoint = 127.0.0.1\nprot = 8883\n")
    assert publish_main(base + ["--config", str(ini)]) == 2
    assert "unknown field 'prot'" in capsys.readouterr().err
    # nothing was spooled for a run that could not start
    assert not os.path.exists(str(tmp_path / "spool" / "outbox.sqlite3"))


def test_full_spool_refuses_loudly_and_exits_3(broker, tmp_path, capsys):
    """Broker unreachable and the spool bound reached: refuse, keep what is spooled, exit 3."""
    from mosquitto import free_port

    events_path = str(tmp_path / "show.jsonl")
    write_jsonl(events_path, laughs(2500))
    cfg = config_dict(broker, str(tmp_path / "spool"), port=free_port(), spool_max_events=2000)
    cfg_path = tmp_path / "iot.json"
    cfg_path.write_text(json.dumps(cfg))
    assert publish_main([events_path, "--config", str(cfg_path), "--timeout", "2"]) == 3
    captured = capsys.readouterr()
    assert "is full" in captured.err and "500 not spooled" in captured.out
    with Spool(str(tmp_path / "spool")) as spool:
        assert len(spool) == 2000
        assert spool.read(0, 1)[0].event_id == event_id(cfg["client_id"], "show", 0, 0.0)
