"""Real face tracks (LTFT) replayed as detections: our tracker beside norfair and motpy.

``python -m benchmarks.tracking_ltft`` runs the 8 sequences of
``/work/shared/data/tracking/ltft`` (the LTFT annotations; no video) and
writes ``benchmarks/results/tracking-ltft.md`` and ``tracking-ltft.json``.

Protocol (fixed seeds, identical detections for every tracker):

* detections are the ``face == 1`` ground-truth boxes of each frame, each
  dropped with probability 10%, the rest jittered by Gaussian noise with std
  3% of the box width (x, w) or height (y, h), identities removed and the
  order shuffled; one random stream per sequence, seeded by ``--seed`` and
  the sequence name, so a sequence's detections do not depend on which other
  sequences run;
* the frame time is ``frame / fps`` with the fps of the data README's table;
* scoring is :func:`benchmarks.scoring.score_tracking` (``motmetrics``, IoU
  >= 0.5) against the same ``face == 1`` boxes, unperturbed; ``face == 0``
  boxes (a person is there, the face is not visible) are ignore regions: a
  prediction matched to one, after a joint assignment with the real boxes,
  is dropped (neither a hit nor a false positive);
* our tracker runs with its default :class:`~reaction.tracker.TrackerConfig`
  and reports its confirmed tracks (coasting ones included); norfair and
  motpy run with the LTFT recommended settings of :mod:`benchmarks.peers` and
  each point of a small grid; the best grid point is chosen per sequence by
  IDF1 (then MOTA), which flatters the peers.

``--trackers reaction`` re-runs only our tracker and keeps the other rows of
the existing JSON, as long as they were made under the same protocol.
"""
import argparse
import ast
import datetime
import json
import os
import sys
import zlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from reaction.tracker import TrackerConfig
from reaction.types import Detection, ReactionError

from . import peers, scoring
from .throughput import machine_description, results_path

DATA = os.environ.get("REACTION_LTFT", "/work/shared/data/tracking/ltft")
# fps per sequence, from /work/shared/data/tracking/README.md.
FPS = {"choke2": 30.0, "bengal": 25.0, "sidewalk": 24.0, "street": 30.0, "shibuya": 25.0,
       "terminal_2": 30.0, "terminal_3": 30.0, "terminal_4": 30.0}
DROPOUT, JITTER, IOU = 0.10, 0.03, 0.5
TRACKERS = ("reaction", "norfair", "motpy")
# Issue targets for our tracker (default config) against norfair's best grid point.
MARGIN, MIN_AHEAD = 0.05, 6
# Memories of the identity oracle (seconds); 15 s is our max_lost_s.
ORACLE_MEMORY = (0.5, 2.0, 15.0, float("inf"))


@dataclass
class LtftSequence:
    """One annotation file. ``gt`` is 1-based ``{frame: [(track id, box, face)]}`` (scoring's convention)."""

    name: str
    fps: float
    n_frames: int
    gt: Dict[int, scoring.GtFrame]


def load_sequence(path: str, fps: Optional[float] = None) -> LtftSequence:
    """Parse an LTFT file: the frame count, then ``FRAME K`` and K groups ``id x y w h face conf``."""
    name = os.path.splitext(os.path.basename(path))[0]
    try:
        with open(path) as f:
            lines = [line.split() for line in f]
    except OSError as e:
        raise ReactionError("{}: {}".format(path, e.strerror)) from None
    if not lines or len(lines[0]) != 1:
        raise ReactionError("{}:1: expected the frame count".format(path))
    n_frames = int(lines[0][0])
    gt = {}  # type: Dict[int, scoring.GtFrame]
    for n, fields in enumerate(lines[1:], 2):
        if not fields:
            continue
        try:
            frame, k = int(fields[0]), int(fields[1])
            if len(fields) != 2 + 7 * k or not 0 <= frame < n_frames:
                raise ValueError
            rows = []
            for j in range(2, 2 + 7 * k, 7):
                tid, box, face = int(fields[j]), tuple(float(v) for v in fields[j + 1:j + 5]), int(fields[j + 5])
                rows.append((tid, box, face))
        except (ValueError, IndexError):
            raise ReactionError("{}:{}: not `FRAME K` and K groups of 7 fields".format(path, n)) from None
        if rows:
            gt[frame + 1] = rows
    if fps is None:
        fps = FPS.get(name)
        if fps is None:
            raise ReactionError("{}: unknown sequence, give its fps".format(path))
    return LtftSequence(name, float(fps), n_frames, gt)


def clean_detections(seq: LtftSequence) -> List[List[Detection]]:
    """The ``face == 1`` boxes of every frame, unperturbed, in file order."""
    return [[Detection(box=b) for _, b, face in seq.gt.get(f + 1, []) if face] for f in range(seq.n_frames)]


def perturb(seq: LtftSequence, seed: int = 0, dropout: float = DROPOUT,
            jitter: float = JITTER) -> List[List[Detection]]:
    """The protocol's detections: dropout, size-relative jitter, shuffled order."""
    return [[d for _, d in frame] for frame in perturb_with_ids(seq, seed, dropout, jitter)]


def perturb_with_ids(seq: LtftSequence, seed: int = 0, dropout: float = DROPOUT,
                     jitter: float = JITTER) -> List[List[Tuple[int, Detection]]]:
    """:func:`perturb`'s detections (the same random stream), each with its GT track id."""
    rng = np.random.default_rng([seed, zlib.crc32(seq.name.encode())])
    out = []
    for f in range(seq.n_frames):
        frame = []
        for tid, (x, y, w, h), face in seq.gt.get(f + 1, []):
            if not face:
                continue
            keep = rng.random() >= dropout
            nx, ny, nw, nh = rng.normal(0.0, jitter, 4)  # drawn for dropped boxes too: one stream per box
            if keep:
                box = (x + nx * w, y + ny * h, max(1.0, w + nw * w), max(1.0, h + nh * h))
                frame.append((tid, Detection(box=box)))
        out.append([frame[i] for i in rng.permutation(len(frame))])
    return out


def memory_label(memory_s: float) -> str:
    return "memory {:g} s".format(memory_s) if memory_s < float("inf") else "no memory limit"


def oracle(seq: LtftSequence, seed: int, memory_s: float) -> scoring.TrackingScore:
    """An upper bound for a tracker without appearance: the protocol's detections with their true
    identity, reported as they are, except that a person unseen for longer than ``memory_s`` comes
    back under a new id (what a tracker that remembers a lost face ``memory_s`` seconds can do at best).
    """
    ids, last, pred = {}, {}, {}  # type: Dict[int, int], Dict[int, int], Dict[int, scoring.PredFrame]
    made = 0
    for f, frame in enumerate(perturb_with_ids(seq, seed), 1):
        rows = []
        for tid, d in frame:
            if tid not in ids or (f - last[tid]) / seq.fps > memory_s:
                made += 1
                ids[tid] = made
            last[tid] = f
            rows.append((ids[tid], d.box))
        pred[f] = rows
    return score(seq, pred)


def frame_times(seq: LtftSequence) -> List[float]:
    return [f / seq.fps for f in range(seq.n_frames)]


def run_one(tracker: str, kwargs: dict, seq: LtftSequence, dets: Sequence[List[Detection]],
            times: Sequence[float]) -> dict:
    """Run one tracker setting on one sequence; scores and mean ms per update."""
    fn = peers.runner(tracker)
    if tracker == "motpy":
        kwargs = dict(kwargs, fps=seq.fps)
    pred, cost = fn(dets, times, **kwargs)
    s = score(seq, pred)
    return dict(sequence=seq.name, tracker=tracker, kwargs={k: v for k, v in kwargs.items() if k != "fps"},
                idf1=s.idf1, mota=s.mota, idsw=s.id_switches, frag=s.fragmentations, fp=s.false_positives,
                fn=s.misses, precision=s.precision, recall=s.recall, gt_boxes=s.gt_boxes,
                ms=1000.0 * float(np.mean(cost)) if cost else 0.0)


def score(seq: LtftSequence, pred: Dict[int, scoring.PredFrame]) -> scoring.TrackingScore:
    # score_tracking treats a GT row with "conf" 0 as don't-care: here face == 0.
    return scoring.score_tracking(seq.gt, pred, iou_threshold=IOU)


def jobs(trackers: Sequence[str], do_grid: bool, ours: Optional[dict] = None) -> List[Tuple[str, str, dict]]:
    """(tracker, setting label, kwargs) to run on every sequence; ``ours``: TrackerConfig overrides."""
    out = []  # type: List[Tuple[str, str, dict]]
    for name in trackers:
        if name == "reaction":
            if ours:
                out.append((name, ",".join("{}={}".format(k, v) for k, v in sorted(ours.items())),
                            dict(config=TrackerConfig(**ours))))
            else:
                out.append((name, "default", {}))
            continue
        out.append((name, "recommended", dict(peers.LTFT_RECOMMENDED[name])))
        if do_grid:
            out += [(name, "grid", kw) for kw in peers.ltft_grid(name)]
    return out


def protocol(seed: int) -> dict:
    return dict(seed=seed, dropout=DROPOUT, jitter=JITTER, iou=IOU, ignore="face==0 matched predictions dropped")


def best_rows(rows: List[dict], tracker: str, seq: str) -> Tuple[Optional[dict], Optional[dict]]:
    """(recommended row, best grid row by IDF1 then MOTA) of a peer on one sequence."""
    mine = [r for r in rows if r["tracker"] == tracker and r["sequence"] == seq]
    rec = next((r for r in mine if r["setting"] == "recommended"), None)
    tried = [r for r in mine if r["setting"] == "grid"]
    best = max(tried, key=lambda r: (r["idf1"], r["mota"])) if tried else None
    return rec, best


def _cell(r: Optional[dict]) -> str:
    return "{:.3f} / {}".format(r["idf1"], r["idsw"]) if r else "-"


def targets(rows: List[dict], names: Sequence[str]) -> List[Tuple[str, bool, str]]:
    """The issue's targets for our default tracker against norfair, where both ran."""
    ours = {r["sequence"]: r for r in rows if r["tracker"] == "reaction" and r["setting"] == "default"}
    pairs = [(ours[s], best_rows(rows, "norfair", s)) for s in names if s in ours]
    pairs = [(o, rec, best) for o, (rec, best) in pairs if rec and best]
    if not pairs:
        return []
    ahead = sum(o["idf1"] >= best["idf1"] + MARGIN for o, _, best in pairs)
    below = [o["sequence"] for o, _, best in pairs if o["idf1"] < best["idf1"]]
    more_sw = [o["sequence"] for o, rec, best in pairs if o["idsw"] >= min(rec["idsw"], best["idsw"])]
    need = min(MIN_AHEAD, len(pairs)) if len(pairs) < len(FPS) else MIN_AHEAD
    return [
        ("IDF1 >= norfair best + {} on >= {} of {} sequences".format(MARGIN, need, len(pairs)), ahead >= need,
         "{} of {}".format(ahead, len(pairs))),
        ("IDF1 never below norfair best", not below, ", ".join(below) or "none below"),
        ("fewer ID switches than norfair (recommended and best) on every sequence", not more_sw,
         ", ".join(more_sw) or "all fewer"),
    ]


def write_report(path: str, argv: List[str], seed: int, names: List[str], rows: List[dict],
                 started: str) -> str:
    lines = ["# Face tracking on LTFT ground truth", "",
             "Written by `python -m benchmarks.tracking_ltft{}` on {}; do not edit by hand.".format(
                 "".join(" " + a for a in argv), started), ""]
    lines += machine_description() + [""]
    lines += ["## Protocol", "",
              "The 8 LTFT sequences (`{}`: annotations only, the boxes LTFT's own detector found). Per frame "
              "the `face == 1` boxes are fed to each tracker as detections: {:.0%} dropped at random, the rest "
              "jittered (Gaussian, std {:.0%} of the box width on x and w, of its height on y and h), "
              "identities removed, order shuffled; seed {} (one stream per sequence). Frame time = frame / "
              "fps (README table). Scored with `motmetrics` at IoU {} against the unperturbed `face == 1` "
              "boxes; `face == 0` boxes are ignore regions: a prediction matched to one (joint assignment "
              "with the real boxes) is dropped, neither hit nor false positive. As the data README says, the "
              "GT has gaps wherever LTFT's detector missed, so a coasting box there is a false positive.".format(
                  DATA, DROPOUT, JITTER, seed, IOU), "",
              "Trackers: ours is `ViewerTracker(TrackerConfig())` (the default, as the pipeline uses it), "
              "confirmed tracks reported. norfair recommended: `{}`; grid `{}`. motpy recommended: `{}`; grid "
              "`{}`. The best grid point is picked per sequence by IDF1 (then MOTA), with hindsight; the "
              "recommended point is in the grid.".format(
                  json.dumps(peers.LTFT_RECOMMENDED["norfair"]), json.dumps(peers.LTFT_GRIDS["norfair"]),
                  json.dumps(peers.LTFT_RECOMMENDED["motpy"]), json.dumps(peers.LTFT_GRIDS["motpy"])), ""]
    others = sorted({r["tracker"] for r in rows} - set(TRACKERS) - {"oracle"})
    cols = [(t, "default") for t in others] + [("reaction", "default")]
    cols += [("norfair", "recommended"), ("norfair", "best"), ("motpy", "recommended"), ("motpy", "best")]
    earlier = sorted({(r["tracker"], r.get("date", "?")) for r in rows if r.get("date") != started})
    if earlier:
        lines += ["Rows kept from earlier runs under the same protocol (`--trackers` re-runs only the named "
                  "trackers): " + "; ".join("{} ({})".format(t, d) for t, d in earlier) + ".", ""]
    lines += ["## Summary: IDF1 / ID switches", "",
              "| sequence | " + " | ".join(t if s == "default" else t + " " + s for t, s in cols)
              + " |", "|---" * (len(cols) + 1) + "|"]

    def pick(t: str, s: str, seq: str) -> Optional[dict]:
        if s in ("recommended", "best"):
            rec, best = best_rows(rows, t, seq)
            return rec if s == "recommended" else best
        return next((r for r in rows if r["tracker"] == t and r["sequence"] == seq), None)

    for seq in names:
        lines.append("| {} | {} |".format(seq, " | ".join(_cell(pick(t, s, seq)) for t, s in cols)))
    lines += ["", "## Every figure", "",
              "| sequence | tracker | setting | IDF1 | MOTA | ID sw | frag | FP | FN | GT boxes | ms/frame |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for seq in names:
        for t, s in cols:
            r = pick(t, s, seq)
            if r is None:
                continue
            label = s if s != "best" else "best: `{}`".format(json.dumps(
                {k: v for k, v in r["kwargs"].items() if k in peers.LTFT_GRIDS.get(t, {})}))
            lines.append("| {} | {} | {} | {:.3f} | {:.3f} | {} | {} | {} | {} | {} | {:.2f} |".format(
                seq, t, label, r["idf1"], r["mota"], r["idsw"], r["frag"], r["fp"], r["fn"], r["gt_boxes"],
                r["ms"]))
    oracle_rows = [r for r in rows if r["tracker"] == "oracle"]
    if oracle_rows:
        settings = [memory_label(m) for m in ORACLE_MEMORY]
        lines += ["", "## Identity oracle (a bound without appearance features): IDF1 / ID switches", "",
                  "The protocol's detections with their true identity, reported as they are, except that a "
                  "person unseen for longer than the memory comes back under a new id: what a tracker that "
                  "never confuses two people but remembers a vanished face for that long could score (it "
                  "reports no coasting box, so a tracker can beat it by up to the ~10% dropped boxes). Our "
                  "`max_lost_s` is 15 s; `memory 0.5 s` is about what norfair's `hit_counter_max` of 15 "
                  "frames allows.", "",
                  "| sequence | " + " | ".join(settings) + " |", "|---" * (len(settings) + 1) + "|"]
        for seq in names:
            cells = [_cell(next((r for r in oracle_rows if r["sequence"] == seq and r["setting"] == st), None))
                     for st in settings]
            lines.append("| {} | {} |".format(seq, " | ".join(cells)))
    checks = targets(rows, names)
    if checks:
        lines += ["", "## Targets (our default tracker against norfair)", "",
                  "| target | met | value |", "|---|---|---|"]
        lines += ["| {} | {} | {} |".format(n, "yes" if ok else "**no**", v) for n, ok, v in checks]
    grid_rows = [r for r in rows if r["setting"] == "grid"]
    if grid_rows:
        lines += ["", "<details><summary>Every grid point (IDF1 / ID switches)</summary>", "",
                  "| tracker | setting | " + " | ".join(names) + " |", "|---" * (len(names) + 2) + "|"]
        settings = []  # type: List[Tuple[str, str]]
        for r in grid_rows:
            key = (r["tracker"], json.dumps({k: v for k, v in r["kwargs"].items()
                                             if k in peers.LTFT_GRIDS[r["tracker"]]}, sort_keys=True))
            if key not in settings:
                settings.append(key)
        for t, kw in settings:
            cells = []
            for seq in names:
                r = next((r for r in grid_rows if r["tracker"] == t and r["sequence"] == seq and json.dumps(
                    {k: v for k, v in r["kwargs"].items() if k in peers.LTFT_GRIDS[t]}, sort_keys=True) == kw),
                         None)
                cells.append(_cell(r))
            lines.append("| {} | `{}` | {} |".format(t, kw, " | ".join(cells)))
        lines += ["", "</details>"]
    text = "\n".join(lines) + "\n"
    with open(path, "w") as f:
        f.write(text)
    return text


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m benchmarks.tracking_ltft", description=__doc__.split("\n")[0])
    p.add_argument("--data", default=DATA, help="folder with the LTFT .txt files")
    p.add_argument("--sequences", default=",".join(FPS), help="comma-separated (default: all 8)")
    p.add_argument("--trackers", default=",".join(TRACKERS),
                   help="comma-separated subset of {}; rows of the others are kept from the JSON".format(
                       ",".join(TRACKERS)))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-grid", action="store_true", help="peers at recommended settings only")
    p.add_argument("--label", help="store our tracker's rows as 'reaction (LABEL)', e.g. 'before', beside the "
                   "default rows (a baseline to compare a change with)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="a TrackerConfig override for our tracker (a Python literal; repeatable; needs --label)")
    p.add_argument("--no-oracle", action="store_true", help="skip the identity-oracle bound")
    p.add_argument("--out", default=results_path("tracking-ltft.md"), help="markdown; the JSON goes beside it")
    args = p.parse_args(argv)
    from tqdm import tqdm

    names = [s for s in args.sequences.split(",") if s]
    trackers = [t for t in args.trackers.split(",") if t]
    bad = [s for s in names if s not in FPS] + [t for t in trackers if t not in TRACKERS]
    if bad:
        p.error("unknown: {}".format(", ".join(bad)))
    ours = {}
    for item in args.set:
        field, _, value = item.partition("=")
        if field not in TrackerConfig.__dataclass_fields__ or not value:
            p.error("--set {}: not FIELD=VALUE with a TrackerConfig field".format(item))
        ours[field] = ast.literal_eval(value)
    if ours and not args.label:
        p.error("--set needs --label: the unlabelled rows are the default TrackerConfig")
    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    json_path = os.path.splitext(args.out)[0] + ".json"
    stored = {t: t for t in trackers}
    if not args.no_oracle:
        stored["oracle"] = "oracle"
    if args.label:
        stored["reaction"] = "reaction ({})".format(args.label)
    rows = []  # type: List[dict]
    if os.path.isfile(json_path):
        with open(json_path) as f:
            saved = json.load(f)
        if saved.get("protocol") == protocol(args.seed):
            redone = {(t, s) for t in stored.values() for s in names}
            rows = [r for r in saved["rows"] if (r["tracker"], r["sequence"]) not in redone]
    seqs = [load_sequence(os.path.join(args.data, n + ".txt")) for n in names]
    todo = jobs(trackers, not args.no_grid, ours)
    memories = () if args.no_oracle else ORACLE_MEMORY
    with tqdm(total=len(seqs) * (len(todo) + len(memories)), unit="run", file=sys.stderr) as bar:
        for seq in seqs:
            for memory in memories:
                bar.set_postfix_str("{} oracle {:g} s".format(seq.name, memory))
                s = oracle(seq, args.seed, memory)
                rows.append(dict(sequence=seq.name, tracker="oracle", setting=memory_label(memory),
                                 kwargs=dict(memory_s=memory if memory < float("inf") else None),
                                 idf1=s.idf1, mota=s.mota, idsw=s.id_switches, frag=s.fragmentations,
                                 fp=s.false_positives, fn=s.misses, precision=s.precision, recall=s.recall,
                                 gt_boxes=s.gt_boxes, ms=0.0, date=started))
                bar.update()
            dets, times = perturb(seq, args.seed), frame_times(seq)
            done = {}  # type: Dict[str, dict]
            for tracker, setting, kwargs in todo:
                bar.set_postfix_str("{} {} {}".format(seq.name, tracker, setting))
                key = json.dumps([tracker, kwargs], sort_keys=True, default=repr)  # recommended is in the grid
                if key not in done:
                    done[key] = run_one(tracker, kwargs, seq, dets, times)
                row = dict(done[key], setting=setting, tracker=stored[tracker], date=started)
                if "config" in kwargs:
                    row["kwargs"] = dict(ours)
                rows.append(row)
                bar.update()
    with open(json_path, "w") as f:
        json.dump(dict(command="python -m benchmarks.tracking_ltft " + " ".join(argv), date=started,
                       protocol=protocol(args.seed), rows=rows), f, indent=1)
    shown = [s for s in FPS if any(r["sequence"] == s for r in rows)]
    text = write_report(args.out, argv, args.seed, shown, rows, started)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
