"""The whole path once: analyze --iot-config on the sample clip, collect, report --db = report from the run folder."""
import json
import signal
import subprocess
import sys

from helpers import ROOT
from mosquitto import config_dict
from test_collect import start_collect, wait_for

from reaction.audience.store import Store
from reaction.cli import main


def test_analyze_collect_report_agree_with_the_run_folder_report(broker, tmp_path, sample_clip):
    cfg = config_dict(broker, str(tmp_path / "spool"), client_id="pub-path", device_id="cam-1")
    cfg_path = tmp_path / "iot.json"
    cfg_path.write_text(json.dumps(cfg))
    db = str(tmp_path / "screenings.sqlite")
    collect = start_collect(str(cfg_path), db, "collect-path")
    try:
        run = tmp_path / "run"
        proc = subprocess.run([sys.executable, "-m", "reaction", "analyze", sample_clip, "--out", str(run),
                               "--iot-config", str(cfg_path), "--screening-id", "matinee", "--film-id", "hamilton",
                               "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        n = sum(1 for line in (run / "events.jsonl").read_text().splitlines() if line.strip())
        assert n > 0
        wait_for(db, n, timeout=30)
    finally:
        collect.send_signal(signal.SIGTERM)
        collect.communicate(timeout=30)
    scenes = tmp_path / "scenes.csv"
    scenes.write_text("0,4,First\n4,9.2,Second\n")
    assert main(["report", str(run), "--out", str(tmp_path / "from-run"), "--scenes", str(scenes)]) == 0
    assert main(["report", "--db", db, "--film", "hamilton", "--out", str(tmp_path / "from-db"),
                 "--scenes", str(scenes)]) == 0
    for name in ("laughs_per_second.csv", "moments.csv"):
        a = (tmp_path / "from-run" / name).read_text()
        b = (tmp_path / "from-db" / name).read_text()
        assert a == b, name
    a = json.loads((tmp_path / "from-run" / "report.json").read_text())
    b = json.loads((tmp_path / "from-db" / "report.json").read_text())
    assert a["seconds"] == b["seconds"] and a["viewers"] == b["viewers"] and a["film_s"] == b["film_s"]
    assert sum(a["seconds"]["viewers_laughing"]) > 0
    from_db = [{k: v for k, v in row.items() if k != "norm_percentile"} for row in b["scenes"]]
    assert a["scenes"] == from_db
    # Norms: each scene's laugh rate as a percentile among the stored scenes of other films.
    Store(db).save_scene_rates("other-film", [{"title": str(r), "laughs_per_viewer_minute": r} for r in (0.0, 1e9)])
    assert main(["report", "--db", db, "--film", "hamilton", "--out", str(tmp_path / "normed"),
                 "--scenes", str(scenes)]) == 0
    normed = json.loads((tmp_path / "normed" / "report.json").read_text())["scenes"]
    for row in normed:
        assert row["norm_percentile"] == (100.0 if row["laughs_per_viewer_minute"] >= 1e9 else 50.0)
