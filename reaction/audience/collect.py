"""The receiving end of the IoT path: MQTT 5 subscriber -> screenings.sqlite, acknowledged after commit.

awscrt's MQTT 5 client lets the receiver take over each QoS 1 PUBACK
(``acquire_publish_acknowledgement_control`` in the publish callback,
``invoke_publish_acknowledgement`` later). The callback only queues the
message with its handle; a writer thread stores a batch, commits it (WAL,
``synchronous=FULL``) and only then sends the PUBACKs. A crash before the
commit leaves the messages unacknowledged, and the broker sends them again to
the persistent session (``REJOIN_ALWAYS``, long session expiry); a crash
between commit and PUBACK makes a duplicate, which the primary keys absorb.
"""

import logging
import queue
import sqlite3
import threading
import time
from typing import Any, Callable, List, Optional, Tuple

from ..iot.config import IotConfig
from ..types import ReactionError
from .store import Store

log = logging.getLogger("reaction.collect")

SESSION_EXPIRY_S = 7 * 24 * 3600
DEFAULT_TOPIC = "reaction/#"


class Collector:
    """Subscribe to ``topic`` and store every message exactly once."""

    def __init__(
        self,
        config: IotConfig,
        store: Store,
        topic: str = DEFAULT_TOPIC,
        client_id: Optional[str] = None,
        on_stored: Optional[Callable[[int, int], None]] = None,
    ) -> None:
        self.config = config
        self.store = store
        self.topic = topic
        self.client_id = client_id or (config.client_id or "reaction") + "-collect"
        self.on_stored = on_stored
        self.events = self.presence = self.messages = 0
        self.error: Optional[str] = None
        self.subscribed = threading.Event()
        self.fatal = threading.Event()
        self._queue: "queue.Queue[Optional[Tuple[str, bytes, Any]]]" = queue.Queue()
        self._stop = threading.Event()
        self._client = self._build()
        self._writer = threading.Thread(target=self._write_loop, name="reaction-collect", daemon=True)

    def _build(self):
        from awscrt import mqtt5
        from awscrt.exceptions import AwsCrtError
        from awsiot import mqtt5_client_builder

        c = self.config
        try:
            return mqtt5_client_builder.mtls_from_path(
                endpoint=c.endpoint,
                port=c.port,
                cert_filepath=c.cert,
                pri_key_filepath=c.key,
                ca_filepath=c.ca,
                client_id=self.client_id,
                session_behavior=mqtt5.ClientSessionBehaviorType.REJOIN_ALWAYS,
                session_expiry_interval_sec=SESSION_EXPIRY_S,
                keep_alive_interval_sec=c.keep_alive_s,
                min_reconnect_delay_ms=c.backoff_min_s * 1000,
                max_reconnect_delay_ms=c.backoff_max_s * 1000,
                on_publish_received=self._on_publish,
                on_lifecycle_connection_success=self._on_connected,
                on_lifecycle_connection_failure=self._on_failure,
                on_lifecycle_disconnection=self._on_disconnected,
            )
        except (RuntimeError, AwsCrtError) as e:
            raise ReactionError(
                "cert/key: cannot build a TLS context from cert {} and key {} ({})".format(c.cert, c.key, e)
            ) from e

    # -- SDK threads: hand over, touch nothing else ---------------------

    def _on_publish(self, data) -> None:
        packet = data.publish_packet
        handle = None
        if data.acquire_publish_acknowledgement_control is not None:
            handle = data.acquire_publish_acknowledgement_control()
        self._queue.put((packet.topic, bytes(packet.payload or b""), handle))

    def _on_connected(self, data) -> None:
        from awscrt import mqtt5

        log.info("connected to %s:%s as %s", self.config.endpoint, self.config.port, self.client_id)
        future = self._client.subscribe(
            mqtt5.SubscribePacket(
                subscriptions=[mqtt5.Subscription(topic_filter=self.topic, qos=mqtt5.QoS.AT_LEAST_ONCE)]
            )
        )
        future.add_done_callback(self._on_subscribed)

    def _on_subscribed(self, future) -> None:
        if future.exception() is None:
            self.subscribed.set()
        else:
            self.error = "subscribe to {} failed ({})".format(self.topic, future.exception())
            self.fatal.set()

    def _on_failure(self, data) -> None:
        self.error = "cannot connect to {}:{} ({})".format(
            self.config.endpoint, self.config.port, getattr(data, "exception", data)
        )
        log.warning("%s; retrying", self.error)

    def _on_disconnected(self, data) -> None:
        self.subscribed.clear()
        log.warning("connection to %s:%s lost; reconnecting", self.config.endpoint, self.config.port)

    # -- writer --------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch: List[Tuple[str, bytes, Any]] = [item]
            while len(batch) < 500:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            new_events, new_presence = self._store(batch)
            for _, _, handle in batch:
                if handle is not None:
                    self._client.invoke_publish_acknowledgement(handle)
            self.events += new_events
            self.presence += new_presence
            self.messages += len(batch)
            if self.on_stored is not None:
                self.on_stored(new_events, new_presence)

    def _store(self, batch: List[Tuple[str, bytes, Any]]) -> Tuple[int, int]:
        """Store and commit the batch, retrying while the database is locked; nothing is acknowledged before."""
        while True:
            try:
                new_events = new_presence = 0
                for topic, payload, _ in batch:
                    e, p = self.store.add(topic, payload)
                    new_events += e
                    new_presence += p
                self.store.commit()  # durable before any of these is acknowledged
                return new_events, new_presence
            except sqlite3.OperationalError as e:
                self.store.db.rollback()
                log.warning("%s: cannot commit (%s); retrying, nothing acknowledged", self.store.path, e)
                time.sleep(0.5)

    def start(self) -> None:
        self._writer.start()
        self._client.start()

    def stop(self) -> None:
        """Store what has arrived, then disconnect (unacknowledged messages stay with the broker)."""
        self._queue.put(None)
        self._writer.join(30)
        self._client.stop()
