"""Run folders as ``reaction analyze`` writes them, made from known intervals and laughs."""
import csv
import json
import os


def write_run(path, presence, laughs, media_s=None, shift=0.0, skipped=0):
    """presence / laughs: viewer id -> [(start_s, end_s)], recording time before ``shift`` is added."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "presence.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["viewer_id", "start_s", "end_s"])
        for vid, spans in presence.items():
            for a, b in spans:
                w.writerow([vid, "%.3f" % (a + shift), "%.3f" % (b + shift)])
    with open(os.path.join(path, "events.jsonl"), "w") as f:
        for vid, spans in laughs.items():
            for a, b in spans:
                f.write(json.dumps({"viewer_id": vid, "start_s": a + shift, "end_s": b + shift, "peak": 0.9,
                                    "mean": 0.8, "n_frames": 10}) + "\n")
    end = media_s if media_s is not None else max(b for spans in presence.values() for _, b in spans)
    with open(os.path.join(path, "summary.json"), "w") as f:
        json.dump({"media_s": end + shift, "skipped_frames": skipped, "viewers": {}, "events": 0}, f)
    return str(path)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
