"""The store ``reaction collect`` fills, read by ``reaction report --db``: duplicates, rejects, offsets."""
import json

from runs import read_csv

from reaction.audience.store import Store
from reaction.cli import main
from reaction.iot.presence import PresenceTracker
from reaction.iot.schema import batch_payload, encode_event, event_message
from reaction.types import LaughEvent


def fill(db):
    store = Store(db)
    tracker = PresenceTracker("dev", "night", film_id="film", period_s=5.0)
    messages = []
    for i in range(200):  # 20 s, viewers 1 and 2 on screen throughout
        m = tracker.observe(i * 0.1, [1, 2])
        if m:
            messages.append(m)
    messages.append(tracker.flush())
    laughs = [LaughEvent(1, 3.2, 4.5, 0.9, 0.8, 13), LaughEvent(2, 10.0, 11.0, 0.9, 0.8, 10)]
    payload = batch_payload([encode_event(event_message(e, "dev", "night")) for e in laughs]).encode()
    for m in messages + messages:  # every message delivered twice
        store.add("reaction/dev/night/presence", json.dumps(m).encode())
    assert store.add("reaction/dev/night/laughs", payload) == (2, 0)
    assert store.add("reaction/dev/night/laughs", payload) == (0, 0)  # the duplicate adds nothing
    assert store.add("reaction/dev/night/laughs", b"{not json") == (0, 0)
    store.commit()
    counts = store.counts()
    store.close()
    assert counts == {"events": 2, "presence": len(messages), "rejected": 1}  # the bad payload kept, with reason


def test_report_from_the_store_with_and_without_an_offset(tmp_path, capsys):
    db = str(tmp_path / "s.sqlite")
    fill(db)
    assert main(["report", "--db", db, "--film", "film", "--out", str(tmp_path / "a")]) == 0
    assert main(["report", "--db", db, "--film", "film", "night@00:00:02", "--out", str(tmp_path / "b")]) == 0
    a, b = read_csv(tmp_path / "a" / "laughs_per_second.csv"), read_csv(tmp_path / "b" / "laughs_per_second.csv")
    assert len(a) == 20 and len(b) == 18
    assert [r["viewers_present"] for r in a] == ["2"] * 20
    assert [int(r["viewers_laughing"]) for r in a][:12] == [0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1]
    assert [r["viewers_laughing"] for r in b] == [r["viewers_laughing"] for r in a[2:]]
    capsys.readouterr()
    assert main(["report", "--db", db, "--film", "film", "matinee@2", "--out", str(tmp_path / "c")]) == 2
    assert "no screening matinee" in capsys.readouterr().err
