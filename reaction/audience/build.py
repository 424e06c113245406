"""Every output of ``reaction report``: laughs_per_second.csv, moments.csv, scenes.csv, report.json, report.html.

Screenings stream through one at a time (see :class:`RunFolders` and the
store's equivalent); what stays in memory is per film second and per scene,
plus one small raster picture per screening.
"""

import csv
import json
import math
import os
from dataclasses import asdict
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..types import ReactionError
from . import plots
from .inputs import RunSpec, Scene, Screening, load_run, timecode
from .stats import (
    CurveAccumulator,
    Quality,
    permutation_p,
    quality,
    scene_rows,
    scene_table,
    screening_matrices,
    smooth,
    top_moments,
)


class RunFolders:
    """Screenings from ``reaction analyze`` output folders."""

    def __init__(self, specs: Sequence[RunSpec]) -> None:
        if not specs:
            raise ReactionError("no runs given")
        self.specs = list(specs)

    def screenings(self) -> List[Tuple[str, str]]:
        return [(s.screening, s.group) for s in self.specs]

    def film_end(self) -> float:
        """The latest film time any recording reaches."""
        end = 0.0
        for spec in self.specs:
            path = os.path.join(spec.path, "summary.json")
            media = None
            if os.path.isfile(path):
                try:
                    with open(path) as f:
                        media = json.load(f).get("media_s")
                except ValueError:
                    media = None
            if media is None:
                media = load_run(spec).media_s
            end = max(end, float(media) - spec.offset_s)
        return end

    def load(self) -> Iterator[Screening]:
        for spec in self.specs:
            yield load_run(spec)


def _f(x: Optional[float], digits: int = 4) -> str:
    return "" if x is None or not math.isfinite(x) else ("%.*f" % (digits, x))


def _write_csv(path: str, header: List[str], rows: List[List]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def make_report(
    source,
    out_dir: str,
    scenes: Optional[Sequence[Scene]] = None,
    title: str = "Audience report",
    groups: Optional[Dict[str, List[str]]] = None,
    n_moments: int = 10,
    seed: int = 0,
    norms: Optional[List[float]] = None,
) -> Dict:
    """Pool ``source``'s screenings into the report in ``out_dir``; returns what report.json holds."""
    scenes = list(scenes or [])
    groups = groups or {}
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise ReactionError("{}: cannot write the report ({})".format(out_dir, e.strerror)) from None
    film_s = max([source.film_end()] + [sc.end_s for sc in scenes])
    n = max(1, int(math.ceil(film_s)))
    total = CurveAccumulator(n, seed=seed)
    group_of = {sid: name for name, members in groups.items() for sid in members}
    by_group = {name: CurveAccumulator(n, seed=seed + 1 + i) for i, name in enumerate(groups)}
    rows_by_group: Dict[str, List[np.ndarray]] = {name: [] for name in groups}
    all_rows: List[np.ndarray] = []
    qualities: List[Quality] = []
    rasters: List[Tuple[str, str]] = []
    for s in source.load():
        viewers, present, laughing = screening_matrices(s, n)
        total.add(present, laughing)
        if s.id in group_of:
            by_group[group_of[s.id]].add(present, laughing)
        qualities.append(quality(s, present, film_s))
        # Viewers are numbered in the raster and the outputs, never named: ids stay in the run folders.
        rasters.append((s.id, plots.raster_png(s.laughs, viewers, s.offset_s, n, scenes, s.presence)))
        if scenes:
            rows = scene_rows(s, scenes)
            all_rows.append(rows)
            if s.id in group_of:
                rows_by_group[group_of[s.id]].append(rows)
        del present, laughing
    curve = total.curve()
    moments = top_moments(curve, total, n_moments)
    for m in moments:
        m["timecode"] = timecode(m["second"])
    scene_out: List[Dict] = []
    if scenes:
        scene_out = scene_table(np.concatenate(all_rows), scenes, seed=seed)
        if norms is not None:
            for row in scene_out:
                rate = row["laughs_per_viewer_minute"]
                row["norm_percentile"] = (
                    None if rate is None or not norms else 100.0 * float(np.mean(np.asarray(norms) <= rate))
                )
    comparison = None
    if len(groups) == 2:
        comparison = _compare(groups, by_group, rows_by_group, scenes, scene_out, seed)
    result = {
        "title": title,
        "film_s": film_s,
        "screenings": len(qualities),
        "viewers": total.viewers,
        "smoothing_s": 5,
        "interval": "95% Poisson bootstrap over viewers, 200 replicates, percentile",
        "seconds": _seconds(curve, total),
        "moments": moments,
        "scenes": scene_out,
        "comparison": comparison,
        "quality": [asdict(q) for q in qualities],
    }
    _write_outputs(out_dir, result)
    from .page import render

    images = {"curve": plots.curve_png(curve, scenes, moments)}
    if comparison is not None:
        c = comparison
        images["difference"] = plots.difference_png(
            np.array(c["difference"], dtype=float),
            np.array(c["low"], dtype=float),
            np.array(c["high"], dtype=float),
            (c["groups"][0], c["groups"][1]),
            scenes,
        )
    with open(os.path.join(out_dir, "report.html"), "w", encoding="utf-8") as f:
        f.write(render(result, images, rasters))
    return result


def _nan_none(a: np.ndarray) -> List[Optional[float]]:
    return [None if not np.isfinite(x) else round(float(x), 5) for x in a]


def _seconds(curve: Dict[str, np.ndarray], acc: CurveAccumulator) -> Dict[str, List]:
    return {
        "screenings": acc.screenings.tolist(),
        "viewers_present": acc.present.tolist(),
        "viewers_laughing": acc.laughing.tolist(),
        "share": _nan_none(curve["share"]),
        "smoothed_share": _nan_none(curve["smoothed"]),
        "low": _nan_none(curve["low"]),
        "high": _nan_none(curve["high"]),
    }


def _compare(groups, by_group, rows_by_group, scenes, scene_out, seed) -> Dict:
    (na, a), (nb, b) = list(by_group.items())
    ca, cb = a.curve(), b.curve()
    window = 5
    boot = (smooth(a.boot_laughing, window) / np.maximum(smooth(a.boot_present, window), 1e-12)) - (
        smooth(b.boot_laughing, window) / np.maximum(smooth(b.boot_present, window), 1e-12)
    )
    valid = (smooth(a.present, window) > 0) & (smooth(b.present, window) > 0)
    low = np.where(valid, np.percentile(boot, 2.5, axis=0), np.nan)
    high = np.where(valid, np.percentile(boot, 97.5, axis=0), np.nan)
    out: Dict = {
        "groups": [na, nb],
        "members": {na: groups[na], nb: groups[nb]},
        "difference": _nan_none(ca["smoothed"] - cb["smoothed"]),
        "low": _nan_none(low),
        "high": _nan_none(high),
        "scenes": [],
    }
    if scenes and rows_by_group[na] and rows_by_group[nb]:
        ra, rb = np.concatenate(rows_by_group[na]), np.concatenate(rows_by_group[nb])
        ta, tb = scene_table(ra, scenes, seed=seed), scene_table(rb, scenes, seed=seed)
        p = permutation_p(ra, rb, seed=seed)
        for k, sc in enumerate(scenes):
            x, y = ta[k]["laughs_per_viewer_minute"], tb[k]["laughs_per_viewer_minute"]
            out["scenes"].append(
                {
                    "title": sc.title,
                    na: x,
                    nb: y,
                    "difference": None if x is None or y is None else x - y,
                    "p_value": None if not np.isfinite(p[k]) else float(p[k]),
                }
            )
    return out


def _write_outputs(out_dir: str, r: Dict) -> None:
    sec = r["seconds"]
    _write_csv(
        os.path.join(out_dir, "laughs_per_second.csv"),
        [
            "second",
            "timecode",
            "screenings",
            "viewers_present",
            "viewers_laughing",
            "share",
            "smoothed_share",
            "low_95",
            "high_95",
        ],
        [
            [
                i,
                timecode(i),
                sec["screenings"][i],
                sec["viewers_present"][i],
                sec["viewers_laughing"][i],
                _f(sec["share"][i]),
                _f(sec["smoothed_share"][i]),
                _f(sec["low"][i]),
                _f(sec["high"][i]),
            ]
            for i in range(len(sec["share"]))
        ],
    )
    _write_csv(
        os.path.join(out_dir, "moments.csv"),
        [
            "rank",
            "timecode",
            "second",
            "peak_share",
            "low_95",
            "high_95",
            "viewers_laughing",
            "viewers_present",
            "screenings_laughing",
        ],
        [
            [
                m["rank"],
                m["timecode"],
                m["second"],
                _f(m["peak_share"]),
                _f(m["low"]),
                _f(m["high"]),
                m["viewers_laughing"],
                m["viewers_present"],
                m["screenings_laughing"],
            ]
            for m in r["moments"]
        ],
    )
    if r["scenes"]:
        cols = [
            "rank",
            "title",
            "start_s",
            "end_s",
            "viewer_minutes",
            "laughs_per_viewer_minute",
            "laughs_per_viewer_minute_low",
            "laughs_per_viewer_minute_high",
            "share_laughed",
            "share_laughed_low",
            "share_laughed_high",
            "mean_laugh_s",
            "mean_laugh_s_low",
            "mean_laugh_s_high",
        ]
        if "norm_percentile" in r["scenes"][0]:
            cols.append("norm_percentile")
        _write_csv(
            os.path.join(out_dir, "scenes.csv"),
            cols,
            [[row[c] if isinstance(row[c], (str, int)) else _f(row[c]) for c in cols] for row in r["scenes"]],
        )
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(r, f, indent=1, allow_nan=False)
        f.write("\n")
