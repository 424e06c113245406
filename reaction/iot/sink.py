"""Laugh events to AWS IoT Core over MQTT with mutual TLS, through a durable outbox.

``IotSink.emit`` commits the event to the on-disk spool and returns; a
drainer thread publishes spooled events at QoS 1, oldest first, and deletes
them only when their PUBACK arrives. Delivery is at least once: after an
outage or a restart an event may arrive twice with the same ``event_id``.

Rate: AWS IoT allows about 100 publishes per second per connection, so
publishes are spaced at least ``1 / max_publishes_per_s`` apart; events that
arrive meanwhile wait in the spool and go out together in the next message
(up to ``max_batch_events`` and 128 KB).

Connection: the first connect is retried with capped exponential backoff
(``backoff_min_s`` doubling to ``backoff_max_s``); later drops are
reconnected by the SDK with the same backoff. A TLS failure on the first
connect (wrong CA, certificate the broker refuses) will not fix itself, so
the sink stops trying, records the reason in ``error`` and keeps the events
in the spool for a later run.
"""

import collections
import logging
import threading
import time
from typing import Callable, Deque, Dict, List, NamedTuple, Optional, Tuple

from ..types import LaughEvent, ReactionError
from .config import ENV_PREFIX, IotConfig
from .presence import PresenceTracker, presence_topic
from .schema import (
    BATCH_OVERHEAD,
    MAX_PAYLOAD_BYTES,
    batch_payload,
    check_id,
    encode_event,
    event_message,
    event_topic,
    validate_topic,
)
from .spool import Spool, SpoolFull

__all__ = ["ENV_PREFIX", "IotConfig", "IotSink", "SpoolFull"]

log = logging.getLogger("reaction.iot")


class _Batch(NamedTuple):
    first: int
    last: int
    ids: List[str]
    epoch: int


def describe_connect_error(exc: BaseException, config: IotConfig) -> "tuple":
    """(one-line message, fatal?) for a failed connect."""
    name = getattr(exc, "name", type(exc).__name__)
    where = "{}:{}".format(config.endpoint, config.port)
    if name == "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE":
        return (
            "TLS handshake with {} failed ({}): the broker certificate is not signed by ca {}, "
            "or the broker refused client certificate {}".format(where, name, config.ca, config.cert),
            True,
        )
    if name.startswith("AWS_IO_TLS") or "CERT" in name:
        return (
            "broker {} closed the TLS session ({}): it does not trust client certificate {} (or ca {} is wrong)".format(
                where, name, config.cert, config.ca
            ),
            True,
        )
    from awscrt.mqtt import ConnectReturnCode

    arg = exc.args[0] if getattr(exc, "args", None) else None
    if isinstance(arg, ConnectReturnCode):  # CONNACK refused the client
        code = arg.name
        msg = "broker {} refused the MQTT connection ({}) for client id {}".format(where, code, config.client_id)
        return msg, code != "SERVER_UNAVAILABLE"
    if name == "AWS_ERROR_MQTT_UNEXPECTED_HANGUP":
        # AWS IoT hangs up on inactive certificates and policies without iot:Connect
        return (
            "broker {} hung up during connect ({}): on AWS IoT check that certificate {} is active "
            "and its policy allows iot:Connect for client id {}".format(where, name, config.cert, config.client_id),
            False,
        )
    return "cannot connect to {} ({})".format(where, exc), False


class IotSink:
    """A ``Sink`` that publishes laugh events to AWS IoT, never losing one.

    ``device_id``/``screening_id``/``spool_dir`` override the config. Events
    left in the spool by an earlier run are published first. ``on_ack`` is
    called from the drainer thread with the ``event_id`` list of every
    acknowledged message (used by the benchmark).

    After ``close()``: ``acked`` events were acknowledged by this sink,
    ``left`` remain in the spool, ``error`` is the last connection problem.
    """

    def __init__(
        self,
        config: IotConfig,
        device_id: Optional[str] = None,
        screening_id: Optional[str] = None,
        spool_dir: Optional[str] = None,
        on_ack: Optional[Callable[[List[str]], None]] = None,
        film_id: Optional[str] = None,
    ) -> None:
        self.config = config
        self.device_id = check_id(device_id or config.device_id or config.client_id, "device_id")
        self.screening_id = check_id(
            screening_id or config.screening_id or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), "screening_id"
        )
        if config.topic:
            self.topic = validate_topic(config.topic, "topic")
        else:
            self.topic = event_topic(self.device_id, self.screening_id, config.topic_prefix)
        # Presence messages (reaction.iot.presence) go through the same spool, one per message.
        self.presence = PresenceTracker(self.device_id, self.screening_id, film_id)
        self.presence_topic = presence_topic(self.device_id, self.screening_id, config.topic_prefix)
        spool_dir = spool_dir or config.spool_dir
        if not spool_dir:
            raise ReactionError("spool_dir: required (the on-disk outbox directory)")
        self._conn = self._build_connection()
        max_bytes = int(config.spool_max_mb * 1024 * 1024)
        self.spool = Spool(spool_dir, config.spool_max_events, max_bytes, config.spool_sync)
        self.replayed = len(self.spool)
        if self.replayed:
            log.info("replaying %d laugh events left in spool %s", self.replayed, spool_dir)
        self.on_ack = on_ack
        self.acked = 0
        self.messages = 0
        self.left = self.replayed
        self.error: Optional[str] = None
        self.fatal = False
        self.interruptions = 0
        self._ever_connected = False
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._progress = threading.Condition()
        # (batch, exception or None) from SDK threads
        self._done: Deque[Tuple[_Batch, Optional[BaseException]]] = collections.deque()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="reaction-iot", daemon=True)
        self._thread.start()

    # -- producer side -------------------------------------------------

    def emit(self, event: LaughEvent, wall_time=None) -> None:
        """Spool one laugh event durably; it is published in the background."""
        self.emit_many([event], None if wall_time is None else [wall_time])

    def emit_many(self, events: List[LaughEvent], wall_times: Optional[list] = None) -> None:
        """Spool several events in one transaction (one fsync)."""
        if self._closed:
            raise ReactionError("IoT sink: emit after close")
        items = []
        for i, ev in enumerate(events):
            msg = event_message(ev, self.device_id, self.screening_id, wall_times[i] if wall_times else None)
            text = encode_event(msg)
            if len(text) + BATCH_OVERHEAD > MAX_PAYLOAD_BYTES:
                raise ReactionError("laugh event {} is larger than the 128 KB AWS IoT payload".format(msg["event_id"]))
            items.append((self.topic, msg["event_id"], text))
        deadline = time.monotonic() + self.config.spool_full_wait_s
        while True:
            try:
                self.spool.put_many(items)
                break
            except SpoolFull:
                # Policy: wait (bounded) for the drain to make room, then refuse loudly.
                if time.monotonic() >= deadline or self.fatal:
                    raise
                with self._progress:
                    self._progress.wait(0.1)
        self._wake.set()

    def observe(self, time_s: float, viewers) -> None:
        """One frame's viewers on screen; every ``PERIOD_S`` of media a presence message is spooled."""
        msg = self.presence.observe(time_s, viewers)
        if msg is not None:
            self._spool_presence(msg)

    def _spool_presence(self, msg: dict) -> None:
        if self._closed:
            raise ReactionError("IoT sink: presence after close")
        self.spool.put_many([(self.presence_topic, msg["presence_id"], encode_event(msg))])
        self._wake.set()

    @property
    def connected(self) -> bool:
        """True while the MQTT connection is up."""
        return self._connected.is_set()

    def flush(self, timeout: float) -> int:
        """Wait until the spool is empty, the connection failed for good, or ``timeout``.

        Returns the number of events still in the spool.
        """
        deadline = time.monotonic() + timeout
        with self._progress:
            while len(self.spool) and not self.fatal and self._thread.is_alive():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._progress.wait(min(remaining, 0.2))
        return len(self.spool)

    def close(self, timeout: Optional[float] = None) -> None:
        """Drain for up to ``timeout`` (default ``close_timeout_s``), then disconnect.

        Unacknowledged events stay in the spool for the next run; that is
        logged as a warning, never dropped.
        """
        if self._closed:
            return
        last = self.presence.flush()
        if last is not None and last["viewers"]:
            self._spool_presence(last)
        self.flush(self.config.close_timeout_s if timeout is None else timeout)
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._thread.join(10)
        if self._connected.is_set():
            try:
                self._conn.disconnect().result(5)
            except Exception as e:  # the process is going away anyway
                log.debug("disconnect: %s", e)
        self.left = len(self.spool)
        self.spool.close()
        if self.left:
            log.warning(
                "%d laugh events left in spool %s; the next run will send them%s",
                self.left,
                self.spool.directory,
                " ({})".format(self.error) if self.error else "",
            )

    # -- drainer thread ----------------------------------------------

    def _build_connection(self):
        from awscrt.exceptions import AwsCrtError
        from awsiot import mqtt_connection_builder

        c = self.config
        try:
            return mqtt_connection_builder.mtls_from_path(
                endpoint=c.endpoint,
                port=c.port,
                cert_filepath=c.cert,
                pri_key_filepath=c.key,
                ca_filepath=c.ca,
                client_id=c.client_id,
                clean_session=False,
                keep_alive_secs=c.keep_alive_s,
                enable_metrics_collection=False,
                reconnect_min_timeout_secs=c.backoff_min_s,
                reconnect_max_timeout_secs=c.backoff_max_s,
                protocol_operation_timeout_ms=int(c.ack_timeout_s * 1000),
                on_connection_interrupted=self._on_interrupted,
                on_connection_resumed=self._on_resumed,
                on_connection_failure=self._on_failure,
            )
        except (RuntimeError, AwsCrtError) as e:
            raise ReactionError(
                "cert/key: cannot build a TLS context from cert {} and key {} ({}); "
                "does the key belong to the certificate?".format(c.cert, c.key, e)
            ) from e

    def _on_interrupted(self, connection, error, **kwargs) -> None:
        self._connected.clear()
        self.interruptions += 1
        self.error = "connection to {}:{} lost ({})".format(self.config.endpoint, self.config.port, error)
        log.warning("%s; reconnecting, events wait in the spool", self.error)

    def _on_failure(self, connection, callback_data, **kwargs) -> None:
        if self._ever_connected:  # first-connect failures are reported by _connect
            self.error, _ = describe_connect_error(callback_data.error, self.config)
            log.warning("%s; retrying with backoff up to %d s", self.error, self.config.backoff_max_s)

    def _on_resumed(self, connection, return_code, session_present, **kwargs) -> None:
        log.info("reconnected to %s:%s", self.config.endpoint, self.config.port)
        self._connected.set()
        self._wake.set()

    def _run(self) -> None:
        try:
            if self._connect():
                self._drain()
        except Exception as e:  # a bug here must not hang flush(); say it loudly
            self.error = "IoT drainer crashed: {!r}".format(e)
            self.fatal = True
            log.exception("IoT drainer crashed; events stay in the spool")
        with self._progress:
            self._progress.notify_all()

    def _connect(self) -> bool:
        delay = self.config.backoff_min_s
        while not self._stop.is_set():
            future = self._conn.connect()
            while not future.done():
                if self._stop.wait(0.05):
                    # Closing mid-attempt: hang up if the attempt succeeds later.
                    future.add_done_callback(lambda f: f.exception() or self._conn.disconnect())
                    return False
            exc = future.exception()
            if exc is None:
                log.info("connected to %s:%s as %s", self.config.endpoint, self.config.port, self.config.client_id)
                self._ever_connected = True
                self._connected.set()
                return True
            self.error, fatal = describe_connect_error(exc, self.config)
            if fatal:
                self.fatal = True
                log.error("%s; %d events stay in spool %s", self.error, len(self.spool), self.spool.directory)
                return False
            log.warning("%s; retrying in %d s", self.error, delay)
            self._stop.wait(delay)
            delay = min(delay * 2, self.config.backoff_max_s)
        return False

    def _drain(self) -> None:
        from awscrt import mqtt

        cfg = self.config
        interval = 1.0 / cfg.max_publishes_per_s
        epoch = 0
        cursor = 0  # lowest seq not yet handed to the SDK in this epoch
        inflight: Dict[int, _Batch] = {}  # first seq -> _Batch, current epoch only
        next_publish = 0.0
        while not self._stop.is_set():
            self._wake.clear()
            while self._done:
                batch, exc = self._done.popleft()
                if batch.epoch == epoch:
                    inflight.pop(batch.first, None)
                if exc is None:
                    self._acked(batch)
                elif batch.epoch == epoch:
                    # Re-send everything unacknowledged, in order; duplicates are allowed.
                    log.warning(
                        "publish of events %d..%d failed (%s); re-sending from the oldest", batch.first, batch.last, exc
                    )
                    epoch += 1
                    inflight.clear()
                    cursor = 0
            if not self._connected.is_set() or len(inflight) >= cfg.max_inflight:
                self._wake.wait(0.5)
                continue
            now = time.monotonic()
            if now < next_publish:
                self._wake.wait(next_publish - now)
                continue
            rows = self.spool.read(cursor, cfg.max_batch_events)
            if not rows:
                self._wake.wait(0.5)
                continue
            texts, size, last = [], BATCH_OVERHEAD, rows[0].seq
            for r in rows:
                if r.topic != rows[0].topic or size + len(r.payload) + 1 > MAX_PAYLOAD_BYTES:
                    break
                texts.append(r.payload)
                size += len(r.payload) + 1
                last = r.seq
            if rows[0].topic == self.presence_topic:  # a presence message travels alone, as built
                texts, last = texts[:1], rows[0].seq
            batch = _Batch(rows[0].seq, last, [r.event_id for r in rows[: len(texts)]], epoch)
            payload = texts[0] if rows[0].topic == self.presence_topic else batch_payload(texts)
            future, _ = self._conn.publish(rows[0].topic, payload, mqtt.QoS.AT_LEAST_ONCE)
            inflight[batch.first] = batch
            future.add_done_callback(lambda f, b=batch: self._complete(b, f))
            cursor = last + 1
            next_publish = now + interval

    def _complete(self, batch: _Batch, future) -> None:
        # SDK event-loop thread: hand over to the drainer, touch nothing else.
        self._done.append((batch, future.exception()))
        self._wake.set()

    def _acked(self, batch: _Batch) -> None:
        n = self.spool.delete(batch.first, batch.last)
        self.acked += n
        self.messages += 1
        if self.on_ack is not None and n:
            self.on_ack(batch.ids)
        with self._progress:
            self._progress.notify_all()
