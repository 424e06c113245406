"""Choose smile-net's run-time threshold: laugh F1 on the labelled real clips and a synthetic audience.

``python -m benchmarks.smile_threshold --model DIR --synthetic SYN [--thresholds 0.3,0.4,...]``
runs the whole pipeline (``--profile``, default balanced) once per threshold
on the two real clips of ``benchmarks/ground_truth/`` and on the synthetic
audience in ``SYN`` (``python -m benchmarks.synth_audience --preset hard``),
with the model's ``smile-net.json`` threshold set to each value in a scratch
copy of the model folder. Per threshold it reports laugh P/R/F1 per clip,
the real clips pooled (events counted together), the synthetic audience, and
per-frame smile accuracy (a call is P >= threshold).

The threshold chosen (:func:`choose`) has the best synthetic laugh F1 among
those whose pooled real-clip laugh F1 is within one event of the best, ties
to the better real-clip per-frame accuracy. ``--write`` stores it in
``DIR/smile-net.json``. Writes ``benchmarks/results/smile-threshold-<name>.md``
and its JSON.
"""

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
from typing import Dict, List, Optional

from reaction.preprocess import InputSpec, model_paths
from reaction.smile import DEFAULT_MODEL_DIR

from . import accuracy, real_clips, scoring
from .throughput import machine_description

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_THRESHOLDS = "0.3,0.35,0.4,0.45,0.5,0.55,0.6,0.65,0.7"


def model_copy(model_dir: str, threshold: float, scratch: str) -> str:
    """A folder holding ``model_dir``'s weights with its spec's threshold set to ``threshold``."""
    out = os.path.join(scratch, "t{:.3f}".format(threshold))
    os.makedirs(out, exist_ok=True)
    symbol, params, spec_path = model_paths(model_dir)
    for path in (symbol, params):
        shutil.copy(path, out)
    spec = InputSpec.load(spec_path)
    InputSpec(**{**spec.__dict__, "threshold": threshold}).save(os.path.join(out, os.path.basename(spec_path)))
    return out


def real_clip_figures(model_dir: str, profile: str, videos: str) -> Dict[str, dict]:
    out = {}
    for name, (file, _, fps) in real_clips.CLIPS.items():
        gt, segments, shots = real_clips.load_gt(name)
        pred, p_smile, events, _ = real_clips.run_pipeline(os.path.join(videos, file), profile, model_dir)
        r = real_clips.score_clip(gt, segments, shots, fps, pred, events, p_smile)
        out[name] = dict(laughs=r["laughs"], smile=r["smile"]["accuracy"], pairs=r["smile"]["pairs"],
                         smile_frames=r["smile"]["by_label"].get("smile", {}).get("accuracy"),
                         neutral_frames=r["smile"]["by_label"].get("neutral", {}).get("accuracy"),
                         auc=r["smile"]["auc"], best_accuracy=r["smile"]["best_accuracy"])
    return out


def synthetic_figures(model_dir: str, profile: str, syn: str) -> dict:
    gt = scoring.read_gt_tracks(os.path.join(syn, "gt_tracks.csv"))
    with open(os.path.join(syn, "audience.json")) as f:
        fps = float(json.load(f)["spec"]["fps"])
    r = accuracy.score_pipeline(syn, gt, fps, accuracy.run_pipeline(os.path.join(syn, "audience.mp4"), profile,
                                                                     model_dir))
    lg = r["laughs"]
    return dict(laughs=dict(precision=lg.precision, recall=lg.recall, f1=lg.f1), smile=r["smile_raw"],
                idf1=r["tracking"].idf1)


def pooled(clips: Dict[str, dict]) -> dict:
    """Laugh P/R/F1 with every real clip's events and segments counted together."""
    hit = sum(c["laughs"]["matched"] for c in clips.values())
    judged = sum(c["laughs"]["judged"] for c in clips.values())
    truth = sum(c["laughs"]["truth"] for c in clips.values())
    p = hit / judged if judged else 0.0
    r = hit / truth if truth else 0.0
    pairs = sum(c["pairs"] for c in clips.values())
    acc = sum(c["smile"] * c["pairs"] for c in clips.values()) / pairs if pairs else 0.0
    return dict(precision=p, recall=r, f1=2 * p * r / (p + r) if p + r else 0.0, smile=acc)


def one_event(row: dict) -> float:
    """How far one more (or one fewer) matched laugh moves a row's pooled real-clip F1.

    F1 is ``2 * hit / (judged + truth)``, so one event is ``2 / (judged + truth)``.
    """
    judged = sum(c["laughs"]["judged"] for c in row["clips"].values())
    truth = sum(c["laughs"]["truth"] for c in row["clips"].values())
    return 2.0 / (judged + truth) if judged + truth else 0.0


def choose(rows: List[dict]) -> dict:
    """The threshold with the best synthetic laugh F1 among those within one event of the best real F1.

    The real clips hold few laughs (9 on the two shared clips): there, one
    event moves F1 by about 0.1, and a pick made on that difference alone
    follows noise (it ran to the edge of the grid, 0.15). So real F1 only
    rules out thresholds more than one event worse than the best; the
    synthetic audience (116 laughs) and then per-frame accuracy on the real
    frames choose among the rest.
    """
    top = max(rows, key=lambda r: r["real"]["f1"])
    near = [r for r in rows if r["real"]["f1"] >= top["real"]["f1"] - one_event(top) - 1e-9]
    return max(near, key=lambda r: (round(r["synthetic"]["laughs"]["f1"], 4), r["real"]["smile"]))


def write_report(path: str, argv: List[str], model_dir: str, rows: List[dict], best: dict) -> None:
    lines = ["# smile-net run-time threshold: {}".format(os.path.basename(os.path.normpath(model_dir))), "",
             "Written by `python -m benchmarks.smile_threshold {}` on {}; do not edit by hand.".format(
                 " ".join(argv), datetime.date.today().isoformat()), ""]
    lines += machine_description() + [""]
    lines += ["Laugh F1 per clip and pooled over the real clips (events counted together); smile acc.: per-frame "
              "accuracy of P >= threshold on the labelled frames where a track matched the person "
              "(real clips pooled). Chosen: best synthetic laugh F1 among the thresholds whose real pooled "
              "laugh F1 is within one event of the best, then the best real smile acc.", "",
              "| threshold | hamilton F1 | covent-garden F1 | real P | real R | real F1 | real smile acc. "
              "| hamilton acc. | covent acc. | synthetic F1 | synthetic smile acc. |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["clips"]
        mark = " (chosen)" if r is best else ""
        lines.append("| {:.2f}{} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.3f} "
                     "| {:.3f} |".format(r["threshold"], mark, c["hamilton"]["laughs"]["f1"],
                                         c["covent-garden"]["laughs"]["f1"], r["real"]["precision"],
                                         r["real"]["recall"], r["real"]["f1"], r["real"]["smile"],
                                         c["hamilton"]["smile"], c["covent-garden"]["smile"],
                                         r["synthetic"]["laughs"]["f1"], r["synthetic"]["smile"]))
    # The run-time threshold shifts P(smile) monotonically, so the ranking is the model's own.
    c = best["clips"]
    lines += ["", "Per-frame ranking, the same at every threshold: " + "; ".join(
        "{} AUC {:.3f}, at its own best threshold accuracy {:.3f}".format(name, c[name]["auc"] or 0.0,
                                                                          c[name]["best_accuracy"] or 0.0)
        for name in sorted(c)) + ". No run-time threshold can beat the latter."]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m benchmarks.smile_threshold", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL_DIR, help="model folder (default: the packaged one)")
    ap.add_argument("--synthetic", required=True, help="a benchmarks.synth_audience output folder")
    ap.add_argument("--profile", default="balanced")
    ap.add_argument("--videos", default=real_clips.DEFAULT_VIDEOS, help="folder holding the two real clips")
    ap.add_argument("--thresholds", default=DEFAULT_THRESHOLDS, help="comma-separated P(smile) thresholds")
    ap.add_argument("--write", action="store_true", help="store the chosen threshold in MODEL/smile-net.json")
    ap.add_argument("--out", help="report path (default benchmarks/results/smile-threshold-<model>.md)")
    args = ap.parse_args(argv)
    for path in (args.model, args.synthetic, args.videos):
        if not os.path.isdir(path):
            print("{}: folder not found".format(path), file=sys.stderr)
            return 2
    try:
        thresholds = [float(t) for t in args.thresholds.split(",")]
    except ValueError:
        print("--thresholds: expected numbers, got {!r}".format(args.thresholds), file=sys.stderr)
        return 2
    name = os.path.basename(os.path.normpath(args.model))
    out = args.out or os.path.join(HERE, "results", "smile-threshold-{}.md".format(name))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for t in thresholds:
            folder = model_copy(args.model, t, scratch)
            clips = real_clip_figures(folder, args.profile, args.videos)
            rows.append(dict(threshold=t, clips=clips, real=pooled(clips),
                             synthetic=synthetic_figures(folder, args.profile, args.synthetic)))
            r = rows[-1]
            print("threshold {:.2f}: real laugh F1 {:.3f}, smile acc {:.3f}; synthetic laugh F1 {:.3f}".format(
                t, r["real"]["f1"], r["real"]["smile"], r["synthetic"]["laughs"]["f1"]), file=sys.stderr)
    best = choose(rows)
    write_report(out, argv, args.model, rows, best)
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump(dict(command="python -m benchmarks.smile_threshold " + " ".join(argv), rows=rows,
                       chosen=best["threshold"]), f, indent=1)
    if args.write:
        spec_path = model_paths(args.model)[2]
        spec = InputSpec.load(spec_path)
        InputSpec(**{**spec.__dict__, "threshold": best["threshold"]}).save(spec_path)
    print("chosen threshold {:.2f}; wrote {}".format(best["threshold"], out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
