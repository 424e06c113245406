"""The durable outbox: order, bounds, persistence, one process at a time."""
import os
import subprocess
import sys

import pytest

from reaction.iot.spool import Spool, SpoolFull
from reaction.types import ReactionError


def items(n, start=0, size=10):
    return [("t/a/b/laughs", "id-{}".format(i), "x" * size) for i in range(start, start + n)]


def test_put_read_delete_in_order(tmp_path):
    with Spool(str(tmp_path)) as s:
        seqs = s.put_many(items(5))
        assert seqs == sorted(seqs) and len(set(seqs)) == 5
        assert s.put(*items(1, 5)[0]) == seqs[-1] + 1
        assert [r.event_id for r in s.read(0, 10)] == ["id-{}".format(i) for i in range(6)]
        assert [r.event_id for r in s.read(seqs[2], 2)] == ["id-2", "id-3"]
        assert s.delete(seqs[0], seqs[2]) == 3
        assert s.delete(seqs[0], seqs[2]) == 0  # a duplicate PUBACK deletes nothing more
        assert len(s) == 3 and s.size_bytes == 30
        assert s.first_seq() == seqs[3]


def test_survives_reopen_and_never_reuses_sequence_numbers(tmp_path):
    with Spool(str(tmp_path)) as s:
        seqs = s.put_many(items(3))
        s.delete(seqs[0], seqs[-1])
        s.put_many(items(2, 3))
    with Spool(str(tmp_path)) as s:
        assert len(s) == 2 and s.size_bytes == 20
        rows = s.read()
        assert [r.event_id for r in rows] == ["id-3", "id-4"]
        # AUTOINCREMENT: acknowledged seqs are never handed out again
        assert rows[0].seq > seqs[-1]


def test_committed_events_survive_sigkill(tmp_path):
    code = ("import os, signal, sys; from reaction.iot.spool import Spool; "
            "s = Spool(sys.argv[1]); s.put_many([('t', 'k%d' % i, 'p') for i in range(100)]); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=os.path.dirname(os.path.dirname(__file__)))
    assert p.returncode == -9
    with Spool(str(tmp_path)) as s:
        assert len(s) == 100


@pytest.mark.parametrize("limits", [{"max_events": 10}, {"max_bytes": 100}])
def test_full_spool_refuses_new_events_and_keeps_old(tmp_path, limits, caplog):
    with Spool(str(tmp_path), **limits) as s:
        s.put_many(items(10))
        with pytest.raises(SpoolFull) as e:
            s.put(*items(1, 10)[0])
        assert "full" in str(e.value) and "id-10" in str(e.value)
        assert "full" in caplog.text  # said loudly in the log too
        with pytest.raises(SpoolFull):
            s.put_many(items(3, 20))  # all or nothing
        assert [r.event_id for r in s.read(0, 100)] == ["id-{}".format(i) for i in range(10)]
        s.delete(s.first_seq(), s.first_seq())
        s.put(*items(1, 10)[0])  # room again after an acknowledgement
        assert len(s) == 10


def test_one_process_at_a_time(tmp_path):
    with Spool(str(tmp_path)):
        code = "import sys; from reaction.iot.spool import Spool; Spool(sys.argv[1])"
        p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                           cwd=os.path.dirname(os.path.dirname(__file__)))
        assert p.returncode != 0 and "in use by another reaction process" in p.stderr
    Spool(str(tmp_path)).close()  # free again once closed


def test_bad_spool_settings(tmp_path):
    with pytest.raises(ReactionError, match="spool_sync"):
        Spool(str(tmp_path), sync="sometimes")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReactionError, match="cannot create"):
        Spool(str(tmp_path / "file" / "spool"))
