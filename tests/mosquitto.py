"""A real Mosquitto broker with mutual TLS for the IoT tests and benchmark.

Certificates come from ``trustme`` at run time: one CA signs the broker and
the good client certificate; a second, unrelated "rogue" CA signs a client
certificate the broker must refuse and serves as a wrong CA for the client.

The broker keeps persistent sessions on disk and is stopped with SIGTERM, so
that messages it acknowledged before an outage still reach the test
subscriber (a persistent-session paho client) after the restart; otherwise a
lost message would be the broker's fault, not the publisher's.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from typing import Dict, Optional

import trustme

MOSQUITTO = os.environ.get("REACTION_MOSQUITTO", "/usr/sbin/mosquitto")


def mosquitto_available() -> bool:
    return os.path.isfile(MOSQUITTO) and os.access(MOSQUITTO, os.X_OK)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Certs:
    """PEM files for a broker, a trusted client, and an untrusted one."""

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.dir = directory
        ca = trustme.CA()
        rogue = trustme.CA()
        server = ca.issue_cert("localhost", "127.0.0.1")
        client = ca.issue_cert("reaction-test-client")
        bad_client = rogue.issue_cert("reaction-rogue-client")
        self.ca = self._write("ca.pem", ca.cert_pem.bytes())
        self.rogue_ca = self._write("rogue-ca.pem", rogue.cert_pem.bytes())
        self.server_cert = self._write("server.crt", b"".join(b.bytes() for b in server.cert_chain_pems))
        self.server_key = self._write("server.key", server.private_key_pem.bytes())
        self.client_cert = self._write("client.crt", client.cert_chain_pems[0].bytes())
        self.client_key = self._write("client.key", client.private_key_pem.bytes())
        self.rogue_cert = self._write("rogue-client.crt", bad_client.cert_chain_pems[0].bytes())
        self.rogue_key = self._write("rogue-client.key", bad_client.private_key_pem.bytes())

    def _write(self, name: str, data: bytes) -> str:
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path


class Broker:
    """Mosquitto on 127.0.0.1:<free port> with ``require_certificate true``."""

    def __init__(self, directory: str, certs: Certs, port: Optional[int] = None) -> None:
        self.dir = directory
        self.certs = certs
        self.port = port or free_port()
        self.proc = None  # type: Optional[subprocess.Popen]
        self.log = os.path.join(directory, "mosquitto.log")
        self.conf = os.path.join(directory, "mosquitto.conf")
        persist = os.path.join(directory, "persist") + os.sep
        os.makedirs(persist, exist_ok=True)
        lines = [
            "listener {} 127.0.0.1".format(self.port),
            "cafile " + certs.ca,
            "certfile " + certs.server_cert,
            "keyfile " + certs.server_key,
            "require_certificate true",
            "allow_anonymous true",
            # stay root so the broker can read certificates in 0700 temp dirs
            "user root",
            "persistence true",
            "persistence_location " + persist,
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "log_dest file " + self.log,
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> None:
        assert self.proc is None, "broker already running"
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", self.conf],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self.proc = None
                raise RuntimeError("mosquitto exited at start: " + err + self.log_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("mosquitto did not listen on port {}".format(self.port))

    def stop(self) -> None:
        """SIGTERM: mosquitto writes its persistent sessions and exits."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def log_text(self) -> str:
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def __enter__(self) -> "Broker":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Subscriber:
    """A paho-mqtt client with a persistent session that records what arrives.

    ``messages`` holds (topic, decoded JSON payload) pairs in arrival order.
    """

    def __init__(self, broker: Broker, topic: str = "#", client_id: str = "reaction-test-sub") -> None:
        import paho.mqtt.client as mqtt

        self.messages = []  # type: List[tuple]
        self.raw = []  # type: List[bytes]
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.topic = topic
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        c.tls_set(
            ca_certs=broker.certs.ca,
            certfile=broker.certs.client_cert,
            keyfile=broker.certs.client_key,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
        c.reconnect_delay_set(min_delay=1, max_delay=1)
        c.on_connect = self._on_connect
        c.on_subscribe = lambda *a, **k: self._subscribed.set()
        c.on_message = self._on_message
        self.client = c
        c.connect("127.0.0.1", broker.port, keepalive=30)
        c.loop_start()
        if not self._subscribed.wait(15):
            c.loop_stop()
            raise RuntimeError("test subscriber could not subscribe")

    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        client.subscribe(self.topic, qos=1)

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.raw.append(msg.payload)
            self.messages.append((msg.topic, json.loads(msg.payload.decode("utf-8"))))

    def event_ids(self) -> set:
        with self._lock:
            return {e["event_id"] for _, m in self.messages for e in m["events"]}

    def wait_for(self, ids: set, timeout: float) -> set:
        """Wait until every id in ``ids`` arrived; return the missing ones."""
        deadline = time.monotonic() + timeout
        while True:
            missing = set(ids) - self.event_ids()
            if not missing or time.monotonic() > deadline:
                return missing
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def clean_dir(path: str) -> str:
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def config_dict(broker: Broker, spool_dir: str, **extra) -> Dict:
    """An IoT config (as a JSON-able dict) pointing at ``broker``."""
    d = {
        "endpoint": "127.0.0.1",
        "port": broker.port,
        "cert": broker.certs.client_cert,
        "key": broker.certs.client_key,
        "ca": broker.certs.ca,
        "client_id": "reaction-test-pub",
        "spool_dir": spool_dir,
        "backoff_min_s": 1,
        "backoff_max_s": 2,
    }
    d.update(extra)
    return d


def produce(config_path: str, n: int) -> None:
    """Child process for the SIGKILL test: spool ``n`` laugh events, print each id.

    An id is printed only after ``emit`` returned, i.e. after the event was
    committed to the spool; the parent kills this process mid-stream.
    """
    import sys

    from reaction.iot.config import IotConfig
    from reaction.iot.sink import IotSink
    from reaction.iot.schema import event_id
    from reaction.types import LaughEvent

    cfg = IotConfig.load(config_path, env={})
    sink = IotSink(cfg)
    for i in range(n):
        ev = LaughEvent(i % 5, 100.0 + i, 100.5 + i, 0.9, 0.7, 12)
        sink.emit(ev)
        sys.stdout.write(event_id(sink.device_id, sink.screening_id, ev.viewer_id, ev.start_s) + "\n")
        sys.stdout.flush()
        time.sleep(0.002)
    sink.close(timeout=60)


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 4 and sys.argv[1] == "produce":
        produce(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit("usage: python tests/mosquitto.py produce CONFIG.json N")
