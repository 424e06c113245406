"""screenings.sqlite: what ``reaction collect`` received, and what ``reaction report --db`` reads.

Laugh events are keyed by ``event_id`` and presence messages by
``presence_id``, so a message delivered twice (MQTT QoS 1 is at least once)
is stored once. A payload this version cannot read is kept in ``rejected``
with the reason, never dropped.
"""

import json
import os
import sqlite3
import time
from typing import Dict, Iterator, List, Optional, Tuple

from ..iot.presence import check_presence
from ..types import ReactionError
from .inputs import RunSpec, Screening

_TABLES = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, screening_id TEXT NOT NULL, viewer_id TEXT NOT NULL,
    start_s REAL NOT NULL, end_s REAL NOT NULL, peak REAL, mean REAL, n_frames INTEGER, wall_time TEXT,
    received REAL NOT NULL);
CREATE TABLE IF NOT EXISTS presence (
    presence_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, screening_id TEXT NOT NULL, film_id TEXT,
    from_s REAL NOT NULL, to_s REAL NOT NULL, received REAL NOT NULL);
CREATE TABLE IF NOT EXISTS intervals (
    presence_id TEXT NOT NULL REFERENCES presence(presence_id), viewer_id TEXT NOT NULL,
    start_s REAL NOT NULL, end_s REAL NOT NULL);
CREATE INDEX IF NOT EXISTS intervals_by_presence ON intervals(presence_id);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY, topic TEXT, payload BLOB, reason TEXT, received REAL NOT NULL);
CREATE TABLE IF NOT EXISTS scene_rates (
    film_id TEXT NOT NULL, title TEXT NOT NULL, laughs_per_viewer_minute REAL, PRIMARY KEY (film_id, title));
"""


class Store:
    def __init__(self, path: str, create: bool = True) -> None:
        if not create and not os.path.isfile(path):
            raise ReactionError("{}: no such store (reaction collect writes it)".format(path))
        try:
            self.db = sqlite3.connect(path, timeout=1.0, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a commit is on disk before its PUBACK goes out
            self.db.executescript(_TABLES)
        except sqlite3.DatabaseError as e:
            raise ReactionError("{}: not a screenings store ({})".format(path, e)) from None
        self.path = path

    def add(self, topic: str, payload: bytes) -> Tuple[int, int]:
        """Store one MQTT message (not committed): (new laugh events, new presence messages)."""
        now = time.time()
        try:
            msg = json.loads(payload.decode("utf-8"))
            if isinstance(msg, dict) and msg.get("type") == "presence":
                return 0, self._presence(check_presence(msg), now)
            events = msg["events"] if isinstance(msg, dict) and "events" in msg else [msg]
            new = 0
            for e in events:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        str(e["event_id"]),
                        str(e["device_id"]),
                        str(e["screening_id"]),
                        str(e["viewer_id"]),
                        float(e["media_start_s"]),
                        float(e["media_end_s"]),
                        e.get("peak"),
                        e.get("mean"),
                        e.get("n_frames"),
                        e.get("wall_time"),
                        now,
                    ),
                )
                new += cur.rowcount
            return new, 0
        except (ValueError, KeyError, TypeError, AttributeError, ReactionError) as e:
            self.db.execute(
                "INSERT INTO rejected (topic, payload, reason, received) VALUES (?,?,?,?)",
                (topic, payload, "{}: {}".format(type(e).__name__, e), now),
            )
            return 0, 0

    def _presence(self, msg: Dict, now: float) -> int:
        cur = self.db.execute(
            "INSERT OR IGNORE INTO presence VALUES (?,?,?,?,?,?,?)",
            (
                msg["presence_id"],
                msg["device_id"],
                msg["screening_id"],
                msg.get("film_id"),
                float(msg["from_s"]),
                float(msg["to_s"]),
                now,
            ),
        )
        if cur.rowcount:
            self.db.executemany(
                "INSERT INTO intervals VALUES (?,?,?,?)",
                [
                    (msg["presence_id"], str(v["viewer_id"]), float(a), float(b))
                    for v in msg["viewers"]
                    for a, b in v["intervals"]
                ],
            )
        return cur.rowcount

    def commit(self) -> None:
        self.db.commit()

    def counts(self) -> Dict[str, int]:
        return {
            t: self.db.execute("SELECT COUNT(*) FROM " + t).fetchone()[0] for t in ("events", "presence", "rejected")
        }

    def screenings(self, film: str) -> List[Tuple[str, str, float]]:
        """(device, screening, media seconds reached) of every screening of ``film``."""
        rows = self.db.execute(
            "SELECT device_id, screening_id, MAX(to_s) FROM presence WHERE film_id = ? OR "
            "(film_id IS NULL AND screening_id = ?) GROUP BY device_id, screening_id ORDER BY MIN(received)",
            (film, film),
        ).fetchall()
        return [(d, s, float(m)) for d, s, m in rows]

    def scene_rates(self, exclude_film: str) -> List[float]:
        rows = self.db.execute(
            "SELECT laughs_per_viewer_minute FROM scene_rates WHERE film_id != ? AND "
            "laughs_per_viewer_minute IS NOT NULL",
            (exclude_film,),
        ).fetchall()
        return [float(r[0]) for r in rows]

    def save_scene_rates(self, film: str, scenes: List[Dict]) -> None:
        self.db.execute("DELETE FROM scene_rates WHERE film_id = ?", (film,))
        self.db.executemany(
            "INSERT OR REPLACE INTO scene_rates VALUES (?,?,?)",
            [(film, s["title"], s["laughs_per_viewer_minute"]) for s in scenes],
        )
        self.db.commit()

    def close(self) -> None:
        self.db.close()


class StoreScreenings:
    """The screenings of one film in a store, in the form the report reads (offset 0 unless given)."""

    def __init__(self, store: Store, film: str, offsets: Optional[Dict[str, float]] = None) -> None:
        self.store = store
        self.found = store.screenings(film)
        if not self.found:
            raise ReactionError("{}: no screenings of film {!r} (no presence messages for it)".format(store.path, film))
        ids = [s for _, s, _ in self.found]
        names = [s if ids.count(s) == 1 else "{}:{}".format(d, s) for d, s, _ in self.found]
        offsets = dict(offsets or {})
        unknown = sorted(set(offsets) - set(names))
        if unknown:
            raise ReactionError("{}: film {!r} has no screening {}".format(store.path, film, ", ".join(unknown)))
        self.specs = [RunSpec(store.path, offsets.get(n, 0.0), n, "") for n in names]

    def film_end(self) -> float:
        return max(m - spec.offset_s for (_, _, m), spec in zip(self.found, self.specs))

    def load(self) -> Iterator[Screening]:
        db = self.store.db
        for (device, screening, media), spec in zip(self.found, self.specs):
            presence: Dict[str, List[Tuple[float, float]]] = {}
            for vid, a, b in db.execute(
                "SELECT i.viewer_id, i.start_s, i.end_s FROM intervals i JOIN presence p USING (presence_id) "
                "WHERE p.device_id = ? AND p.screening_id = ? ORDER BY i.start_s",
                (device, screening),
            ):
                presence.setdefault(vid, []).append((a, b))
            presence = {vid: presence_intervals(spans) for vid, spans in presence.items()}
            laughs: Dict[str, List[Tuple[float, float]]] = {}
            for vid, a, b in db.execute(
                "SELECT viewer_id, start_s, end_s FROM events WHERE device_id = ? AND screening_id = ? "
                "ORDER BY start_s",
                (device, screening),
            ):
                laughs.setdefault(vid, []).append((a, b))
            yield Screening(spec.screening, "", spec.offset_s, media, presence, laughs, 0, self.store.path)


def presence_intervals(spans: Optional[List[Tuple[float, float]]]) -> List[Tuple[float, float]]:
    """Touching pieces of one interval (cut at message boundaries) joined again."""
    out: List[Tuple[float, float]] = []
    for a, b in sorted(spans or []):
        if out and a <= out[-1][1] + 1e-6:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
