"""Analysis outputs: tracks.csv, smiles.csv, presence.csv and summary.json.

``presence.csv`` (``viewer_id,start_s,end_s``) holds each viewer's on-screen
intervals (reaction/onscreen.py): the denominators of ``reaction report``.

Frames are numbered from 1 in both CSV files, as MOTChallenge tools expect.
Times are media seconds, rounded to the millisecond.
The CSV rows are written as frames arrive, so memory does not grow with the
length of the screening; only per-viewer and per-second counters are kept.
"""

import csv
import json
import math
import os
from typing import Dict, List, Set, Tuple

from .onscreen import OnScreen
from .types import FrameResult, LaughEvent, ReactionError

FLUSH_EVERY = 25  # frames between flushes of the CSV files


class ScreeningReport:
    """Writes per-frame rows as they come and the summary at the end."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        try:
            os.makedirs(out_dir, exist_ok=True)
            self._tracks_f = open(os.path.join(out_dir, "tracks.csv"), "w", newline="")
            self._smiles_f = open(os.path.join(out_dir, "smiles.csv"), "w", newline="")
        except OSError as e:
            raise ReactionError("{}: cannot write outputs ({})".format(out_dir, e.strerror)) from e
        self._tracks = csv.writer(self._tracks_f)
        self._smiles = csv.writer(self._smiles_f)
        self._smiles.writerow(["frame", "time_s", "viewer_id", "p_smile"])
        self._frames_seen: Dict[int, int] = {}
        self._first_s: Dict[int, float] = {}
        self._last_s: Dict[int, float] = {}
        self._visible_by_second: Dict[int, Set[int]] = {}
        self._times: List[float] = []
        self._onscreen: OnScreen[int] = OnScreen()
        self._last_frame_s = 0.0
        self.frames = 0

    def add(self, result: FrameResult) -> None:
        frame_no = result.index + 1
        for tr in result.tracks:
            if not tr.confirmed:
                continue
            x, y, w, h = tr.box
            conf = result.p_smile.get(tr.viewer_id, 1.0)
            self._tracks.writerow(
                [frame_no, tr.viewer_id, "%.2f" % x, "%.2f" % y, "%.2f" % w, "%.2f" % h, "%.4f" % conf, -1, -1, -1]
            )
        for vid, p in sorted(result.p_smile.items()):
            self._smiles.writerow([frame_no, "%.3f" % result.time_s, vid, "%.4f" % p])
            self._frames_seen[vid] = self._frames_seen.get(vid, 0) + 1
            self._first_s.setdefault(vid, result.time_s)
            self._last_s[vid] = result.time_s
            self._visible_by_second.setdefault(int(math.floor(result.time_s)), set()).add(vid)
            self._onscreen.see(vid, result.time_s, self.frame_period() or 0.04)
        self._last_frame_s = result.time_s
        if len(self._times) < 2:
            self._times.append(result.time_s)
        self.frames += 1
        if self.frames % FLUSH_EVERY == 0:
            # A run that is killed outright still leaves its rows up to the last second or so.
            self._tracks_f.flush()
            self._smiles_f.flush()

    def presence(self) -> List[Tuple[int, float, float]]:
        """Every on-screen interval so far, the open ones closed at their last frame."""
        period = self.frame_period() or 0.04
        rows = self._onscreen.closed + [(vid, s[0], s[1] + period) for vid, s in self._onscreen.open.items()]
        return sorted(rows, key=lambda r: (r[1], r[0]))

    def frame_period(self) -> float:
        if len(self._times) == 2 and self._times[1] > self._times[0]:
            return self._times[1] - self._times[0]
        return 0.0

    def summary(self, events: List[LaughEvent], extra: Dict) -> Dict:
        period = self.frame_period()
        viewers = {}
        for vid in sorted(self._frames_seen):
            mine = [e for e in events if e.viewer_id == vid]
            viewers[str(vid)] = {
                "laughs": len(mine),
                "laugh_s": round(sum(e.end_s - e.start_s for e in mine), 3),
                "on_screen_s": round(self._frames_seen[vid] * period, 3),
                "first_seen_s": round(self._first_s[vid], 3),
                "last_seen_s": round(self._last_s[vid], 3),
            }
        # Laughing in second s means a laugh event of that viewer overlaps [s, s + 1).
        share = []
        for sec in sorted(self._visible_by_second):
            visible = self._visible_by_second[sec]
            laughing = {
                e.viewer_id for e in events if e.viewer_id in visible and e.start_s < sec + 1 and e.end_s >= sec
            }
            share.append(
                {
                    "second": sec,
                    "visible": len(visible),
                    "laughing": len(laughing),
                    "share": round(len(laughing) / len(visible), 4),
                }
            )
        out = dict(extra)
        out.update({"viewers": viewers, "audience": share, "events": len(events)})
        out["media_s"] = round(self._last_frame_s + period, 3) if self.frames else 0.0
        return out

    def close(self, events: List[LaughEvent], extra: Dict) -> Dict:
        """Flush the CSVs and write ``summary.json``; returns the summary."""
        self._tracks_f.close()
        self._smiles_f.close()
        summary = self.summary(events, extra)
        with open(os.path.join(self.out_dir, "presence.csv"), "w", newline="") as f:
            rows = csv.writer(f)
            rows.writerow(["viewer_id", "start_s", "end_s"])
            for vid, start, end in self.presence():
                rows.writerow([vid, "%.3f" % start, "%.3f" % end])
        with open(os.path.join(self.out_dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
        return summary
