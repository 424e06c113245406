"""The durable outbox: laugh events wait here, on disk, until the broker acknowledges them.

SQLite in WAL mode, one row per event, in ``<dir>/outbox.sqlite3``. A row is
committed before ``put`` returns and deleted only after its PUBACK, so a
killed process or a dead network loses nothing: the next process replays
the rows in order.

Durability (``sync``):

* ``"full"`` (default) fsyncs every commit: an event survives a power cut.
* ``"normal"`` lets the OS write the WAL: an event survives the process being
  killed, but the last commits may be lost if the machine loses power.

Size bound and policy when full: the spool holds at most ``max_events`` events
and ``max_bytes`` bytes of event JSON. A ``put`` that would go past either
limit is refused with :class:`SpoolFull` (logged at ERROR) and nothing is
written; events already spooled are never dropped or overwritten. The caller
decides what refusal means: the IoT sink can wait for the drain to make room
first, and the ``reaction publish`` command exits with status 3.

One process at a time: the spool holds an exclusive ``flock`` on
``<dir>/outbox.lock`` (released by the kernel even on SIGKILL).
"""

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from typing import IO, Iterable, List, NamedTuple, Optional, Tuple

from ..types import ReactionError

log = logging.getLogger("reaction.spool")

DEFAULT_MAX_EVENTS = 1000000
DEFAULT_MAX_BYTES = 512 * 1024 * 1024


class SpoolFull(ReactionError):
    """The spool reached its configured bound; the new event was not stored."""


class Row(NamedTuple):
    """One spooled event."""

    seq: int  # position in the outbox; strictly increasing, never reused
    topic: str
    event_id: str
    payload: str  # the event's JSON text
    created: float  # time.time() when spooled


class Spool:
    """A bounded, ordered, crash-safe outbox of event JSON texts.

    Thread-safe: the producer calls ``put`` while the drainer thread calls
    ``read``/``delete``; one SQLite connection under a lock serialises them.
    """

    def __init__(
        self,
        directory: str,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        sync: str = "full",
    ) -> None:
        if sync not in ("full", "normal"):
            raise ReactionError("spool_sync: {!r} is not 'full' or 'normal'".format(sync))
        if max_events < 1 or max_bytes < 1:
            raise ReactionError(
                "spool limits must be positive (max_events={}, max_bytes={})".format(max_events, max_bytes)
            )
        self.directory = directory
        self.max_events = int(max_events)
        self.max_bytes = int(max_bytes)
        self.path = os.path.join(directory, "outbox.sqlite3")
        self._lock = threading.Lock()
        self._lock_file: Optional[IO[str]] = None
        try:
            os.makedirs(directory, exist_ok=True)
            self._lock_file = open(os.path.join(directory, "outbox.lock"), "a+")
        except OSError as e:
            raise ReactionError("spool {}: cannot create ({})".format(directory, e.strerror)) from e
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise ReactionError("spool {}: in use by another reaction process".format(directory)) from None
        try:
            # autocommit mode; transactions are explicit so each put is one commit
            self._db: Optional[sqlite3.Connection] = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=" + sync.upper())
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS events ("
                " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                " topic TEXT NOT NULL, event_id TEXT NOT NULL,"
                " payload TEXT NOT NULL, created REAL NOT NULL)"
            )
            n, size = self._db.execute("SELECT count(*), coalesce(sum(length(payload)), 0) FROM events").fetchone()
            # A second connection for the drainer's reads: WAL readers never wait for a writer's fsync.
            self._reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        except sqlite3.Error as e:
            self._release()
            raise ReactionError("spool {}: not a usable outbox ({})".format(self.path, e)) from e
        self._sync = sync.upper()
        self._read_lock = threading.Lock()
        self._count = int(n)
        self._bytes = int(size)

    def __len__(self) -> int:
        return self._count

    @property
    def size_bytes(self) -> int:
        """Bytes of event JSON waiting (not the file size)."""
        return self._bytes

    def put(self, topic: str, event_id: str, payload: str) -> int:
        """Store one event durably and return its sequence number."""
        return self.put_many([(topic, event_id, payload)])[-1]

    def put_many(self, items: Iterable[Tuple[str, str, str]]) -> List[int]:
        """Store several events in one transaction (one fsync), all or none."""
        items = list(items)
        if not items:
            return []
        size = sum(len(p) for _, _, p in items)
        now = time.time()
        with self._lock:
            if self._count + len(items) > self.max_events or self._bytes + size > self.max_bytes:
                msg = (
                    "spool {} is full ({} events, {} bytes; limits {} events, {} bytes): "
                    "refused {} new event(s), first {}; spooled events are kept".format(
                        self.directory,
                        self._count,
                        self._bytes,
                        self.max_events,
                        self.max_bytes,
                        len(items),
                        items[0][1],
                    )
                )
                log.error(msg)
                raise SpoolFull(msg)
            db = self._writer()
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    "INSERT INTO events (topic, event_id, payload, created) VALUES (?, ?, ?, ?)",
                    [(t, i, p, now) for t, i, p in items],
                )
                last = db.execute("SELECT last_insert_rowid()").fetchone()[0]
                db.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                raise ReactionError("spool {}: cannot write ({})".format(self.path, e)) from e
            self._count += len(items)
            self._bytes += size
        return list(range(last - len(items) + 1, last + 1))

    def read(self, after_seq: int = 0, limit: int = 500) -> List[Row]:
        """Up to ``limit`` events with ``seq >= after_seq``, oldest first."""
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT seq, topic, event_id, payload, created FROM events WHERE seq >= ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [Row(*r) for r in rows]

    def first_seq(self) -> Optional[int]:
        with self._read_lock:
            return self._reader.execute("SELECT min(seq) FROM events").fetchone()[0]

    def delete(self, first_seq: int, last_seq: int) -> int:
        """Remove events ``first_seq..last_seq`` (acknowledged); return how many were there.

        Deleting rows already gone is a no-op, so a duplicate PUBACK is harmless.
        Deletes are not fsynced: a delete lost in a power cut only means the
        event is sent again, which at-least-once delivery allows.
        """
        with self._lock:
            db = self._writer()
            try:
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("BEGIN IMMEDIATE")
                n, size = db.execute(
                    "SELECT count(*), coalesce(sum(length(payload)), 0) FROM events WHERE seq BETWEEN ? AND ?",
                    (first_seq, last_seq),
                ).fetchone()
                db.execute("DELETE FROM events WHERE seq BETWEEN ? AND ?", (first_seq, last_seq))
                db.execute("COMMIT")
                db.execute("PRAGMA synchronous=" + self._sync)
            except sqlite3.Error as e:
                self._rollback()
                db.execute("PRAGMA synchronous=" + self._sync)
                raise ReactionError("spool {}: cannot delete acknowledged events ({})".format(self.path, e)) from e
            self._count -= n
            self._bytes -= size
        return int(n)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                with self._read_lock:
                    self._reader.close()
                self._db.close()
                self._db = None
            self._release()

    def _writer(self) -> sqlite3.Connection:
        """The write connection; call with ``_lock`` held."""
        if self._db is None:
            raise ReactionError("spool {}: used after close".format(self.path))
        return self._db

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._writer().execute("ROLLBACK")

    def _release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing drops the flock
            self._lock_file = None

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
