"""The whole pipeline on the two shared real clips, scored against hand-checked ground truth.

``python -m benchmarks.real_clips [--profile balanced] [--videos DIR]`` runs
:class:`reaction.pipeline.ReactionPipeline` with the profile on
``hamilton-audience-640x360.mp4`` and ``covent-garden-walkers-1080p.mp4``
and scores it against ``benchmarks/ground_truth/`` (see its README.md):

* tracking with ``motmetrics`` at IoU 0.5 (IDF1, MOTA, ID switches, recall,
  precision); ignore boxes are removed as MOTChallenge removes distractors: a
  prediction matched to one is dropped (neither hit nor false positive), and
  a missed ignore box is no miss;
* viewers reported (distinct confirmed track ids) against people present
  (GT identities with at least one scored box), per shot;
* each predicted track's fate: ``person`` (matched a GT identity on most of
  its frames), ``ignored`` (on ignore boxes most) or ``phantom`` (on nobody
  most), and laugh events on phantoms;
* laugh events against the smile segments: an event on a ``person`` track is
  a hit when it overlaps in time a smile segment of the GT identity its
  track matched (one event per segment, :func:`benchmarks.scoring.score_laughs`);
  an event on a phantom, or overlapping only neutral segments, is a false
  positive; an event on an ``ignored`` track or wholly in unlabelled time is
  left out, as it cannot be judged;
* per-frame smile accuracy (P(smile) >= 0.5 against the label) on labelled
  frames where a prediction matched the GT identity.

Writes ``benchmarks/results/real-clips.md`` and ``real-clips.json``.
"""
import argparse
import csv
import datetime
import json
import os
import sys
from dataclasses import asdict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from reaction.boxes import iou_matrix

from . import scoring
from .scoring import GtFrame, Interval, PredFrame

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GT_DIR = os.path.join(HERE, "ground_truth")
DEFAULT_VIDEOS = os.path.join(os.environ.get("REACTION_DATA", os.path.join(ROOT, "..", "shared", "data")), "videos")

# name: (video file, frames, fps)
CLIPS = {
    "hamilton": ("hamilton-audience-640x360.mp4", 275, 29.97),
    "covent-garden": ("covent-garden-walkers-1080p.mp4", 105, 25.0),
}
# An event overlapping a smile segment at all is a hit (one event per segment).
MIN_OVERLAP_TIOU = 1e-9


# -- ground truth -------------------------------------------------------------

def read_tracks(path: str) -> Dict[int, GtFrame]:
    """``{frame: [(id, box, conf)]}`` from ``frame,id,x,y,w,h,ignore`` (conf 0 = ignore)."""
    out = {}  # type: Dict[int, GtFrame]
    with open(path, newline="") as f:
        for n, r in enumerate(csv.DictReader(f), 2):
            try:
                frame, vid, ign = int(r["frame"]), int(r["id"]), int(r["ignore"])
                box = tuple(float(r[k]) for k in ("x", "y", "w", "h"))
            except (KeyError, ValueError, TypeError):
                raise ValueError("{}:{}: needs frame,id,x,y,w,h,ignore".format(path, n)) from None
            if ign not in (0, 1) or box[2] <= 0 or box[3] <= 0:
                raise ValueError("{}:{}: bad row {}".format(path, n, r))
            out.setdefault(frame, []).append((vid, box, 0 if ign else 1))
    return out


def read_segments(path: str) -> List[Tuple[int, int, int, str]]:
    """``[(id, first_frame, last_frame, label)]``, label ``smile`` or ``neutral``."""
    out = []
    with open(path, newline="") as f:
        for n, r in enumerate(csv.DictReader(f), 2):
            try:
                seg = (int(r["id"]), int(r["first_frame"]), int(r["last_frame"]), r["label"].strip())
            except (KeyError, ValueError, TypeError, AttributeError):
                raise ValueError("{}:{}: needs id,first_frame,last_frame,label".format(path, n)) from None
            if seg[3] not in ("smile", "neutral") or seg[2] < seg[1]:
                raise ValueError("{}:{}: bad segment {}".format(path, n, r))
            out.append(seg)
    return out


def read_shots(path: str) -> List[Tuple[int, int]]:
    with open(path, newline="") as f:
        return [(int(r["first_frame"]), int(r["last_frame"])) for r in csv.DictReader(f)]


def frame_labels(segments: Sequence[Tuple[int, int, int, str]]) -> Dict[Tuple[int, int], int]:
    """``{(frame, id): 1 smile / 0 neutral}``."""
    out = {}
    for vid, a, b, label in segments:
        for f in range(a, b + 1):
            out[(f, vid)] = int(label == "smile")
    return out


def smile_intervals(segments: Sequence[Tuple[int, int, int, str]], fps: float,
                    label: str = "smile") -> List[Interval]:
    """Segments as ``(id, start_s, end_s)``, frame f spanning ``[(f-1)/fps, f/fps)``."""
    return [(vid, (a - 1) / fps, b / fps) for vid, a, b, lab in segments if lab == label]


def load_gt(name: str, gt_dir: str = GT_DIR):
    gt = read_tracks(os.path.join(gt_dir, name + ".tracks.csv"))
    segments = read_segments(os.path.join(gt_dir, name + ".smiles.csv"))
    shots_path = os.path.join(gt_dir, name + ".shots.csv")
    shots = read_shots(shots_path) if os.path.isfile(shots_path) else [(1, CLIPS[name][1])]
    return gt, segments, shots


# -- scoring ------------------------------------------------------------------

def score_clip(gt: Mapping[int, GtFrame], segments: Sequence[Tuple[int, int, int, str]],
               shots: Sequence[Tuple[int, int]], fps: float, pred: Mapping[int, PredFrame],
               events: Sequence[Interval], p_smile: Mapping[Tuple[int, int], float]) -> dict:
    """Every figure for one clip, from the run's per-frame confirmed tracks,
    laugh events ``(track id, start_s, end_s)`` and P(smile) ``{(frame, track): P}`` (a call: P >= 0.5)."""
    s = scoring.score_tracking(gt, pred)
    ignored = scoring.ignored_predictions(gt, pred)
    fates = scoring.track_fates(pred, s.matches, ignored)

    # Viewers against people, per shot.
    per_shot = []
    for k, (a, b) in enumerate(shots, 1):
        people = {vid for f in range(a, b + 1) for vid, _, c in gt.get(f, []) if c}
        ignore_only = {vid for f in range(a, b + 1) for vid, _, c in gt.get(f, []) if not c} - people
        # A track's fate within this shot only: one carried over a cut is judged on each side.
        in_shot = {f: pred[f] for f in range(a, b + 1) if f in pred}
        shot_fates = scoring.track_fates(in_shot, s.matches, ignored)
        tracks = set(shot_fates)
        kinds = {kind: sorted(t for t in tracks if shot_fates[t].kind == kind)
                 for kind in ("person", "ignored", "phantom")}
        # A person is found when some track's most frequent match in the shot is that person.
        found = {f.gt_id for f in shot_fates.values() if f.gt_id is not None}
        per_shot.append(dict(shot=k, frames=[a, b], people=len(people), ignored_faces=len(ignore_only),
                             viewers=len(tracks), person_tracks=len(kinds["person"]),
                             ignored_tracks=len(kinds["ignored"]), phantom_tracks=len(kinds["phantom"]),
                             people_found=len(found & people)))

    # Laughs.
    labels = frame_labels(segments)
    truth = smile_intervals(segments, fps)
    neutral = smile_intervals(segments, fps, "neutral")
    mapped = scoring.map_events(events, s.matches, fps)
    judged, left_out, on_phantoms, neutral_fp = [], [], [], 0
    event_rows = []
    for (tid, start, end), (vid, _, _) in zip(events, mapped):
        fate = fates.get(tid)
        kind = fate.kind if fate is not None else "phantom"
        row = dict(track=tid, start_s=round(start, 3), end_s=round(end, 3), kind=kind, gt_id=None, judged="fp")
        if kind == "ignored":
            left_out.append((vid, start, end))
            row["judged"] = "left out (ignored face)"
        elif kind == "phantom" or vid < 0:
            on_phantoms.append((tid, start, end))
            judged.append((-1, start, end))
        else:
            row["gt_id"] = vid
            overlap_smile = any(v == vid and scoring.temporal_iou((start, end), (a, b)) > 0 for v, a, b in truth)
            overlap_neutral = any(v == vid and scoring.temporal_iou((start, end), (a, b)) > 0 for v, a, b in neutral)
            if overlap_smile or overlap_neutral:
                judged.append((vid, start, end))
                row["judged"] = "smile" if overlap_smile else "fp (neutral)"
                neutral_fp += int(not overlap_smile)
            else:
                left_out.append((vid, start, end))
                row["judged"] = "left out (unlabelled)"
        event_rows.append(row)
    laughs = scoring.score_laughs(truth, judged, min_tiou=MIN_OVERLAP_TIOU)
    laughs_03 = scoring.score_laughs(truth, judged, min_tiou=0.3)
    for row in event_rows:
        if row["judged"] == "smile":
            row["judged"] = "hit or duplicate"

    acc, pairs = scoring.smile_accuracy(s.matches, labels, p_smile)
    ranking = scoring.smile_ranking(scoring.smile_pairs(s.matches, labels, p_smile))
    by_label = {}
    for lab, name in ((1, "smile"), (0, "neutral")):
        sub = {k: v for k, v in labels.items() if v == lab}
        a, n = scoring.smile_accuracy(s.matches, sub, p_smile)
        by_label[name] = dict(accuracy=a, pairs=n)

    care = sum(1 for g in gt.values() for _, _, c in g if c)
    return dict(
        tracking=dict(idf1=s.idf1, mota=s.mota, id_switches=s.id_switches, fragmentations=s.fragmentations,
                      recall=s.recall, precision=s.precision, false_positives=s.false_positives,
                      misses=s.misses, gt_boxes=s.gt_boxes, care_boxes=care,
                      dropped_on_ignore=sum(len(v) for v in ignored.values())),
        shots=per_shot,
        viewers=len(fates), people=len({vid for g in gt.values() for vid, _, c in g if c}),
        tracks=[dict(asdict(f), kind=f.kind, mean_box=[round(v, 1) for v in f.mean_box],
                     unmatched_near=_near_misses(gt, pred, s.matches, ignored, tid))
                for tid, f in sorted(fates.items())],
        phantoms=sorted(t for t, f in fates.items() if f.kind == "phantom"),
        shot_phantoms=sum(sh["phantom_tracks"] for sh in per_shot),
        laughs=dict(precision=laughs.precision, recall=laughs.recall, f1=laughs.f1, matched=laughs.matched,
                    judged=laughs.predicted, truth=laughs.truth, events=len(events), on_phantoms=len(on_phantoms),
                    on_neutral=neutral_fp, left_out=len(left_out), onset_delay_s=laughs.onset_delay_s,
                    f1_tiou_0_3=laughs_03.f1),
        events=event_rows,
        smile=dict(accuracy=acc, pairs=pairs, by_label=by_label, auc=ranking["auc"],
                   best_accuracy=ranking["best_accuracy"]),
    )


def _near_misses(gt, pred, matches, ignored, tid: int) -> Optional[dict]:
    """On a track's unmatched frames: the GT identity its box overlaps most often, and the
    median IoU with it (a drifting box on a real face, rather than a box on nothing)."""
    votes = {}  # type: Dict[int, List[float]]
    for f, p in pred.items():
        for t, box in p:
            if t != tid or matches.get(f, {}).get(t) is not None or t in ignored.get(f, ()):
                continue
            g = gt.get(f, [])
            if not g:
                continue
            iou = iou_matrix(np.array([box], dtype=np.float64), np.array([b for _, b, _ in g], dtype=np.float64))[0]
            k = int(np.argmax(iou))
            if iou[k] > 0:
                votes.setdefault(g[k][0], []).append(float(iou[k]))
    if not votes:
        return None
    vid = max(sorted(votes), key=lambda v: len(votes[v]))
    return dict(gt_id=vid, frames=len(votes[vid]), median_iou=round(float(np.median(votes[vid])), 2))


# -- running ------------------------------------------------------------------

def run_pipeline(video: str, profile: str, model_dir: Optional[str] = None, detector: Optional[str] = None,
                 settings: Optional[Dict[str, object]] = None):
    """Per-frame confirmed tracks, smile calls, events and timing from the whole pipeline."""
    import time

    from reaction.pipeline import ReactionPipeline, profile_config
    from reaction.sources import open_source

    overrides: Dict[str, object] = {"model_dir": model_dir} if model_dir else {}
    if detector:
        overrides["kind"] = detector
    overrides.update(settings or {})
    pipe = ReactionPipeline(profile_config(profile, **overrides))
    pred, p_smile = {}, {}
    t0 = time.perf_counter()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        def tqdm(x, **_):
            return x
    source = open_source(video)
    total = getattr(source, "frame_count", None) or None
    for r in tqdm(pipe.run(source), total=total, desc=os.path.basename(video), leave=False, file=sys.stderr):
        f = r.index + 1
        pred[f] = [(t.viewer_id, tuple(float(v) for v in t.box)) for t in r.tracks if t.confirmed]
        for vid, p in r.p_smile.items():
            p_smile[(f, vid)] = float(p)
    wall = time.perf_counter() - t0
    events = [(e.viewer_id, e.start_s, e.end_s) for e in pipe.events]
    return pred, p_smile, events, dict(frames=pipe.frames, wall_s=wall, stage_ms=pipe.stage_ms())


def gt_summary(gt: Mapping[int, GtFrame], segments) -> dict:
    ids = {vid for g in gt.values() for vid, _, _ in g}
    care_ids = {vid for g in gt.values() for vid, _, c in g if c}
    return dict(identities=len(ids), scored_identities=len(care_ids),
                boxes=sum(len(g) for g in gt.values()),
                ignored_boxes=sum(1 for g in gt.values() for _, _, c in g if not c),
                smile_segments=sum(1 for s in segments if s[3] == "smile"),
                neutral_segments=sum(1 for s in segments if s[3] == "neutral"),
                labelled_frames=len(frame_labels(segments)))


def _f(v, digits=3) -> str:
    if v is None:
        return "n/a"
    return "{:.{}f}".format(v, digits) if isinstance(v, float) else str(v)


def write_report(path: str, argv: Sequence[str], profile: str, results: Dict[str, dict]) -> None:
    from .accuracy import profile_settings
    from .throughput import machine_description

    lines = ["# The whole pipeline on the real clips", "",
             "Written by `python -m benchmarks.real_clips {}` on {}; do not edit by hand.".format(
                 " ".join(argv), datetime.date.today().isoformat()), ""]
    lines += machine_description() + [""]
    lines += ["Profile `{}`: {}.".format(profile, profile_settings(profile)), "",
              "Ground truth: `benchmarks/ground_truth/` (YuNet draft, every identity checked by eye; see its "
              "README.md). Scores at IoU 0.5 with `motmetrics`; predictions on ignore boxes (faces below the "
              "profile's smallest, turned away, blurred or occluded) are dropped, not counted.", "",
              "| clip | GT ids | boxes (ignored) | MOTA | IDF1 | ID sw | recall | precision | FP | FN "
              "| viewers / people | phantoms (per shot) | laugh P | laugh R | laugh F1 | smile acc (pairs) | fps |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        t, lg, g, sm, info = r["tracking"], r["laughs"], r["gt"], r["smile"], r["info"]
        lines.append("| {} | {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} ({}) "
                     "| {:.1f} |".format(
                         name, g["identities"], g["boxes"], g["ignored_boxes"], _f(t["mota"]), _f(t["idf1"]),
                         t["id_switches"], _f(t["recall"]), _f(t["precision"]), t["false_positives"], t["misses"],
                         r["viewers"], r["people"], "{} ({})".format(len(r["phantoms"]), r["shot_phantoms"]),
                         _f(lg["precision"]), _f(lg["recall"]),
                         _f(lg["f1"]), _f(sm["accuracy"]), sm["pairs"], info["frames"] / max(info["wall_s"], 1e-9)))
    lines += ["", "Viewers: distinct confirmed track ids. People: GT identities with at least one scored box. "
              "Phantom: a track on no GT face for most of its frames (in brackets: counted per shot, so a "
              "track carried over a cut onto nobody counts in that shot). Laugh P/R/F1: an event is a hit when "
              "it overlaps a smile segment of the GT identity its track matched (one per segment); events on "
              "phantoms or only on neutral segments are false positives; events on ignored faces or wholly "
              "in unlabelled time are left out (counts below). Smile accuracy: P(smile) >= 0.5 against the "
              "label, on labelled frames where a track matched the identity."]
    for name, r in results.items():
        t, lg, sm = r["tracking"], r["laughs"], r["smile"]
        lines += ["", "## {}".format(name), "",
                  "{} frames, {:.1f} s wall; stage ms/frame: {}.".format(
                      r["info"]["frames"], r["info"]["wall_s"],
                      ", ".join("{} {:.1f}".format(k, v) for k, v in r["info"]["stage_ms"].items())), "",
                  "Tracking: {} scored GT boxes, {} predictions dropped on ignore boxes, {} fragmentations.".format(
                      t["gt_boxes"], t["dropped_on_ignore"], t["fragmentations"]), "",
                  "| shot | frames | people | ignored-only faces | viewers | on a person | on an ignored face "
                  "| phantoms | people found |", "|---|---|---|---|---|---|---|---|---|"]
        for s in r["shots"]:
            lines.append("| {shot} | {a}-{b} | {people} | {ignored_faces} | {viewers} | {person_tracks} | "
                         "{ignored_tracks} | {phantom_tracks} | {people_found} |".format(
                             a=s["frames"][0], b=s["frames"][1], **s))
        lines += ["", "Tracks (kind over the whole clip; \"near\": the GT face its box overlaps on its unmatched "
                  "frames, how often, and the median IoU there):", "",
                  "| track | frames | matched | on ignore | on nobody | GT id | kind | near | mean box (x, y, w, h) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for tr in r["tracks"]:
            near = tr["unmatched_near"]
            lines.append("| {track_id} | {first_frame}-{last_frame} ({frames}) | {matched} | {on_ignore} | {u} | "
                         "{g} | {kind} | {n} | {box} |".format(u=tr["frames"] - tr["matched"] - tr["on_ignore"],
                                                              n="-" if near is None else "{} x{} IoU {}".format(
                                                                  near["gt_id"], near["frames"], near["median_iou"]),
                                                         g=tr["gt_id"] if tr["gt_id"] is not None else "-",
                                                         box=", ".join("{:.0f}".format(v) for v in tr["mean_box"]),
                                                         **{k: tr[k] for k in ("track_id", "first_frame",
                                                                               "last_frame", "frames", "matched",
                                                                               "on_ignore", "kind")}))
        lines += ["", "Laughs: {} events; {} judged, {} hits of {} smile segments (F1 at tIoU >= 0.3: {}); "
                  "{} on phantoms, {} on neutral segments only, {} left out. Smile accuracy {} over {} pairs "
                  "(smile frames {} over {}, neutral {} over {}); ranking: AUC {}, and the threshold best for "
                  "this clip alone would reach {}.".format(
                      lg["events"], lg["judged"], lg["matched"], lg["truth"], _f(lg["f1_tiou_0_3"]),
                      lg["on_phantoms"], lg["on_neutral"], lg["left_out"], _f(sm["accuracy"]), sm["pairs"],
                      _f(sm["by_label"]["smile"]["accuracy"]), sm["by_label"]["smile"]["pairs"],
                      _f(sm["by_label"]["neutral"]["accuracy"]), sm["by_label"]["neutral"]["pairs"],
                      _f(sm.get("auc")), _f(sm.get("best_accuracy")))]
        if r["events"]:
            lines += ["", "| event track | start s | end s | track kind | GT id | judged |",
                      "|---|---|---|---|---|---|"]
            for e in r["events"]:
                lines.append("| {track} | {start_s} | {end_s} | {kind} | {g} | {judged} |".format(
                    g=e["gt_id"] if e["gt_id"] is not None else "-", **{k: e[k] for k in ("track", "start_s",
                                                                                          "end_s", "kind",
                                                                                          "judged")}))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def parse_settings(items: Sequence[str]) -> Dict[str, object]:
    """``["full_scan_every=10"]`` -> ``{"full_scan_every": 10}``."""
    import ast

    out: Dict[str, object] = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key.strip()] = ast.literal_eval(value.strip())
    return out


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="balanced")
    ap.add_argument("--videos", default=DEFAULT_VIDEOS, help="folder holding the two clips")
    ap.add_argument("--gt", default=GT_DIR, help="ground-truth folder")
    ap.add_argument("--model-dir", help="smile-net folder (default: the packaged one)")
    ap.add_argument("--detector", choices=("haar", "yunet"), help="face detector (default: the profile's)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a PipelineConfig or DetectorConfig field (a Python literal), for levers")
    ap.add_argument("--clip", choices=sorted(CLIPS), action="append", help="only this clip (repeatable)")
    ap.add_argument("--out", help="report path (default benchmarks/results/real-clips.md; the JSON beside it)")
    args = ap.parse_args(argv)
    out = args.out or os.path.join(HERE, "results", "real-clips.md")
    if "--profile" not in argv:
        argv = ["--profile", args.profile] + list(argv)
    results = {}
    for name in [c for c in CLIPS if c in (args.clip or CLIPS)]:
        file, n_frames, fps = CLIPS[name]
        video = os.path.join(args.videos, file)
        if not os.path.isfile(video):
            print("{}: not found (set --videos or REACTION_DATA)".format(video), file=sys.stderr)
            return 2
        gt, segments, shots = load_gt(name, args.gt)
        pred, p_smile, events, info = run_pipeline(video, args.profile, args.model_dir, args.detector,
                                                   parse_settings(args.set))
        r = score_clip(gt, segments, shots, fps, pred, events, p_smile)
        r["gt"] = gt_summary(gt, segments)
        r["info"] = info
        results[name] = r
    write_report(out, argv, args.profile, results)
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump(dict(command="python -m benchmarks.real_clips " + " ".join(argv),
                       date=datetime.date.today().isoformat(), profile=args.profile, clips=results), f, indent=1)
    print("{:<14} {:>6} {:>6} {:>5} {:>6} {:>6} {:>9} {:>8} {:>7} {:>7} {:>7} {:>7}".format(
        "clip", "IDF1", "MOTA", "IDsw", "recall", "prec", "viewers", "phantoms", "laughP", "laughR", "laughF1",
        "smile"))
    for name, r in results.items():
        t, lg = r["tracking"], r["laughs"]
        print("{:<14} {:>6.3f} {:>6.3f} {:>5d} {:>6.3f} {:>6.3f} {:>5d}/{:<3d} {:>8} {:>7.3f} {:>7.3f} {:>7.3f} "
              "{:>7.3f}".format(name, t["idf1"], t["mota"], t["id_switches"], t["recall"], t["precision"],
                                r["viewers"], r["people"], "{} ({})".format(len(r["phantoms"]), r["shot_phantoms"]),
                                lg["precision"], lg["recall"], lg["f1"], r["smile"]["accuracy"]))
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
