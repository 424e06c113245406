"""``reaction collect`` against the real Mosquitto (mutual TLS) of the IoT tests."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from helpers import ROOT
from mosquitto import config_dict

from reaction.iot.config import IotConfig
from reaction.iot.schema import event_id
from reaction.iot.sink import IotSink
from reaction.types import LaughEvent


def start_collect(cfg_path, db, client_id):
    proc = subprocess.Popen([sys.executable, "-m", "reaction", "collect", "--config", cfg_path, "--db", db,
                             "--client-id", client_id], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    line = proc.stdout.readline()  # printed once subscribed
    assert line.startswith("collecting"), line + proc.stderr.read()
    return proc


def stored_ids(db):
    with sqlite3.connect(db, timeout=5) as c:
        return [r[0] for r in c.execute("SELECT event_id FROM events")]


def wait_for(db, n, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(db) and len(set(stored_ids(db))) >= n:
            return
        time.sleep(0.2)


def events(first, n):
    return [LaughEvent(viewer_id=v % 7, start_s=float(v), end_s=v + 1.5, peak=0.9, mean=0.8, n_frames=20)
            for v in range(first, first + n)]


def test_restarts_duplicates_and_a_killed_collect_store_every_event_once(broker, tmp_path):
    cfg = config_dict(broker, str(tmp_path / "spool"), client_id="pub-collect", device_id="dev-c",
                      screening_id="scr-c")
    cfg_path = tmp_path / "iot.json"
    cfg_path.write_text(json.dumps(cfg))
    db = str(tmp_path / "screenings.sqlite")
    collect = start_collect(str(cfg_path), db, "collect-t1")
    sink = IotSink(IotConfig.from_sources(cfg, env={}))
    try:
        sink.emit_many(events(0, 100))
        sink.emit_many(events(0, 30))  # delivered twice: same laughs, same ids
        for t in range(0, 200):
            sink.observe(t * 0.2, ["1", "2"] if t % 50 else ["1"])
        assert sink.flush(30) == 0
        broker.stop()
        sink.emit_many(events(100, 100))  # spooled while the broker is down
        time.sleep(1)
        broker.start()
        time.sleep(0.5)
        collect.send_signal(signal.SIGKILL)  # mid-stream
        collect.wait(10)
        sink.emit_many(events(200, 100))  # the broker keeps these for collect's persistent session
        sink.emit_many(events(150, 50))
        assert sink.flush(60) == 0
        collect = start_collect(str(cfg_path), db, "collect-t1")
        wait_for(db, 300)
    finally:
        sink.close(5)
        collect.send_signal(signal.SIGTERM)
        out, err = collect.communicate(timeout=30)
    assert collect.returncode == 0, err
    ids = stored_ids(db)
    expected = {event_id("dev-c", "scr-c", e.viewer_id, e.start_s) for e in events(0, 300)}
    assert len(ids) == len(set(ids)) == 300 and set(ids) == expected
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM presence").fetchone()[0] >= 1
        assert c.execute("SELECT COUNT(*) FROM rejected").fetchone()[0] == 0


def test_nothing_is_acknowledged_before_it_is_committed(broker, tmp_path):
    cfg = config_dict(broker, str(tmp_path / "spool"), client_id="pub-lock", device_id="dev-l", screening_id="scr-l")
    cfg_path = tmp_path / "iot.json"
    cfg_path.write_text(json.dumps(cfg))
    db = str(tmp_path / "screenings.sqlite")
    collect = start_collect(str(cfg_path), db, "collect-t2")
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # collect can receive but not commit
    sink = IotSink(IotConfig.from_sources(cfg, env={}))
    try:
        sink.emit_many(events(0, 20))
        assert sink.flush(30) == 0  # the broker has them
        time.sleep(2)  # collect has received them and waits on the lock
        collect.send_signal(signal.SIGKILL)
        collect.wait(10)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        sink.close(5)
    assert stored_ids(db) == []
    collect = start_collect(str(cfg_path), db, "collect-t2")  # the broker sends them again: never acknowledged
    try:
        wait_for(db, 20, timeout=30)
    finally:
        collect.send_signal(signal.SIGTERM)
        collect.communicate(timeout=30)
    assert len(stored_ids(db)) == 20
