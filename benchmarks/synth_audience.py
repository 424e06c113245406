"""A seated audience made of real LFW faces, with exact ground truth.

``python -m benchmarks.synth_audience --seed S --out DIR`` writes:

* ``audience.mp4``: the clip (``mp4v``), dark theatre, rows of seats in
  perspective, faces smaller further back;
* ``gt_tracks.csv``: MOTChallenge rows ``frame,id,x,y,w,h,conf,-1,-1,-1``.
  Frames are 1-based as in MOTChallenge (frame 1 is the first decoded frame,
  media time 0). ``conf`` is 1 where at least half of the face is visible and
  0 where it is hidden or cut by the frame edge: a "don't care" box, as in
  MOT17, which the scorer neither demands nor punishes;
* ``gt_smiles.csv``: ``frame,viewer_id,label``, 1 while the viewer's smiling
  photograph is shown;
* ``gt_laughs.jsonl``: ``{"viewer_id", "start_s", "end_s"}``, end exclusive;
* ``audience.json``: the seed, the LFW photographs used and the event times.

Everything is drawn from the seed: the same seed gives the same frames.
The scripted events (all scaled down for short test clips): every head sways;
one viewer leans until a head in the row in front hides part of their face;
a passer-by walks along the front of a row, covering each face for about a
second; one viewer leaves their seat for 10 s and comes back; the screen light
slowly brightens and darkens; sensor noise on every frame.
"""
import argparse
import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from typing import Iterator, List, Optional, Tuple

import cv2
import numpy as np

from reaction.types import ReactionError

from .lfw_faces import (Photo, detected_alone, fit_placement, new_cascade, place, placement_box, read_smile_labels,
                        visible_fraction)

ROW_SIZE = (80, 90, 102, 116)  # face size per row at 720 px height, back to front
ROW_Y = (116, 250, 396, 560)  # face centre per row at 720 px height
ROW_WEIGHT = (7, 6, 6, 5)
BODY, WALKER = 250, 251  # pixel owners besides viewer ids
NOISE_SIGMA, NOISE_BANK = 4.0, 8
GtRow = Tuple[int, Tuple[float, float, float, float], int, int, float]  # viewer, box, conf, smile, visible


@dataclass(frozen=True)
class AudienceSpec:
    """What to generate. ``data`` is the shared data folder (holds ``lfw/``)."""

    seed: int = 0
    seconds: float = 120.0
    fps: float = 25.0
    width: int = 1280
    height: int = 720
    viewers: int = 24
    data: str = "../shared/data"

    def validate(self) -> None:
        if self.seconds <= 0 or self.fps <= 0:
            raise ReactionError("--seconds and --fps must be > 0")
        if self.width < 320 or self.height < 180:
            raise ReactionError("--size must be at least 320x180, got {}x{}".format(self.width, self.height))
        if not 1 <= self.viewers <= 40:
            raise ReactionError("--viewers must be in 1..40, got {}".format(self.viewers))
        if not os.path.isdir(os.path.join(self.data, "lfw", "images")):
            raise ReactionError("{}: no lfw/images inside (check --data)".format(self.data))


@dataclass
class Viewer:
    viewer_id: int
    name: str
    row: int
    x: float
    y: float
    size: int
    neutral: Photo
    smiling: Photo
    shade: float
    shirt: Tuple[int, int, int]
    sway: Tuple[float, float, float, float]  # x amplitude, y amplitude, frequency Hz, phase


def row_counts(n: int) -> List[int]:
    counts = [int(n * w / 24.0) for w in ROW_WEIGHT]
    for i in range(n - sum(counts)):
        counts[i % 4] += 1
    return [c for c in counts if c > 0]


class Audience:
    """The scripted clip; ``render(f)`` draws frame ``f`` (0-based) on demand."""

    def __init__(self, spec: AudienceSpec) -> None:
        spec.validate()
        self.spec = spec
        self.n_frames = int(round(spec.seconds * spec.fps))
        self.scale = spec.height / 720.0
        rng = np.random.default_rng(spec.seed)
        self.viewers = self._seat(rng)
        self._script(rng)
        self.background = self._background()
        noise_rng = np.random.default_rng([spec.seed, 7])
        shape = (spec.height, spec.width, 3)
        bank = [noise_rng.normal(0.0, NOISE_SIGMA, shape) for _ in range(NOISE_BANK)]
        # Saturating add of the positive part and subtract of the negative part
        # is exact, and several times cheaper than int16 arithmetic per frame.
        self._noise = [(np.clip(b, 0, 255).astype(np.uint8), np.clip(-b, 0, 255).astype(np.uint8)) for b in bank]

    # -- casting -----------------------------------------------------------
    def _seat(self, rng: np.random.Generator) -> List[Viewer]:
        spec, s = self.spec, self.scale
        labels = read_smile_labels(spec.data)
        names = sorted(labels)
        order = [names[i] for i in rng.permutation(len(names))]
        cascade = new_cascade()
        viewers = []  # type: List[Viewer]
        counts = row_counts(spec.viewers)
        first_row = 4 - len(counts)  # few viewers: use the front rows
        for r_i, count in enumerate(counts):
            row = first_row + r_i
            size = int(round(ROW_SIZE[row] * s))
            pitch = spec.width / float(count)
            offset = 0.25 * pitch if row % 2 else -0.25 * pitch  # stagger rows
            for k in range(count):
                x = (k + 0.5) * pitch + offset * (0.5 if count > 1 else 0.0)
                x += rng.uniform(-0.06, 0.06) * pitch
                x = float(np.clip(x, 0.8 * size, spec.width - 0.8 * size))
                y = ROW_Y[row] * s + rng.uniform(-0.04, 0.04) * size
                while True:
                    if not order:
                        raise ReactionError("not enough LFW identities with clear smile labels")
                    name = order.pop(0)
                    neutral, smiling = (
                        self._pick(rng, spec.data, images, label, size, cascade)
                        for label, images in enumerate(labels[name])
                    )
                    if neutral is not None and smiling is not None:
                        break
                viewers.append(Viewer(
                    len(viewers) + 1, name, row, x, y, size, neutral, smiling,
                    shade=float(rng.uniform(0.72, 0.92)),
                    shirt=tuple(int(c) for c in rng.integers(12, 60, 3)),
                    sway=(float(rng.uniform(0.03, 0.08) * size), float(rng.uniform(0.01, 0.03) * size),
                          float(rng.uniform(0.07, 0.25)), float(rng.uniform(0, 2 * math.pi))),
                ))
        return viewers

    @staticmethod
    def _pick(rng, data, images, label, size, cascade) -> Optional[Photo]:
        for i in rng.permutation(len(images))[:3]:
            photo = Photo.load(data, images[i], label, cascade)
            if photo is not None and detected_alone(cascade, photo, size):
                return photo
        return None

    # -- script ------------------------------------------------------------
    def _script(self, rng: np.random.Generator) -> None:
        T, fps = self.spec.seconds, self.spec.fps
        f = min(1.0, T / 60.0)  # short clips: same events, compressed
        rows = sorted({v.row for v in self.viewers})
        by_row = {r: [v for v in self.viewers if v.row == r] for r in rows}
        # Leaning: a viewer behind another row drops towards the nearest head in front.
        self.lean = None
        if len(rows) > 1:
            v = by_row[rows[-2]][int(rng.integers(len(by_row[rows[-2]])))]
            u = min(by_row[rows[-1]], key=lambda u: abs(u.x - v.x))
            tx = u.x + math.copysign(0.25 * u.size, v.x - u.x)
            ty = u.y - 0.62 * u.size - 0.2 * v.size
            self.lean = dict(viewer=v.viewer_id, start=0.18 * T, ramp=1.5 * f, hold=6.0 * f,
                             dx=tx - v.x, dy=ty - v.y)
        # A passer-by along the front of the second row from the back.
        w_row = rows[min(1, len(rows) - 1)]
        ws = ROW_SIZE[w_row] * self.scale
        width = 2.2 * ws
        speed = max(width / 1.0, (self.spec.width + 2 * width) / (0.3 * T))
        self.walker = dict(row=w_row, start=0.38 * T, width=width, head=1.15 * ws, speed=speed,
                           y=ROW_Y[w_row] * self.scale - 0.95 * ws)
        # Leaving: the front-row viewer nearest an edge walks out of frame.
        front = by_row[rows[-1]]
        v = max(front, key=lambda u: abs(u.x - self.spec.width / 2.0))
        side = 1.0 if v.x > self.spec.width / 2.0 else -1.0
        out = (self.spec.width - v.x if side > 0 else v.x) + 1.2 * v.size
        self.leave = dict(viewer=v.viewer_id, start=0.5 * T, walk=1.5 * f, away=min(10.0, 0.25 * T),
                          dx=side * out, dy=-0.3 * v.size)
        lv = self.leave
        busy = (lv["start"] - 1.0 * f, lv["start"] + 2 * lv["walk"] + lv["away"] + 1.0 * f)
        self.light = dict(period=min(40.0, T), phase=float(rng.uniform(0, 2 * math.pi)))
        # Jokes: most of the room laughs a little after each punchline.
        jokes, t = [], min(3.0, 0.15 * T)
        while t < T - 2.5 * f:
            jokes.append(t)
            t += rng.uniform(8.0, 14.0) * f
        self.laughs = []  # type: List[Tuple[int, int, int]]  # viewer, first frame, end frame (excl.)
        for v in self.viewers:
            last_end = -1
            for joke in jokes:
                if rng.uniform() > 0.65:
                    continue
                start = joke + rng.uniform(0.2, 1.2) * f
                dur = max(0.6, rng.uniform(1.6, 4.5) * f)
                f0, f1 = int(round(start * fps)), int(round(min(start + dur, T - 0.5 * f) * fps))
                if f1 - f0 < 0.5 * fps or f0 <= last_end + int(1.5 * fps * f):
                    continue
                if v.viewer_id == lv["viewer"] and f0 / fps < busy[1] and f1 / fps > busy[0]:
                    continue
                self.laughs.append((v.viewer_id, f0, f1))
                last_end = f1
        self._laughing = {}  # type: dict
        for vid, f0, f1 in self.laughs:
            self._laughing.setdefault(vid, []).append((f0, f1))

    # -- drawing -----------------------------------------------------------
    def _background(self) -> np.ndarray:
        W, H = self.spec.width, self.spec.height
        ramp = np.linspace(20, 6, H, dtype=np.float32)[:, None, None]
        bg = np.repeat(np.repeat(ramp, W, axis=1), 3, axis=2) * np.array([1.1, 0.9, 1.0], np.float32)
        bg = bg.astype(np.uint8)
        for v in sorted(self.viewers, key=lambda v: v.row):  # seat backs, back rows first
            s = v.size
            p0 = (int(v.x - 0.85 * s), int(v.y + 0.1 * s))
            p1 = (int(v.x + 0.85 * s), int(v.y + 2.0 * s))
            cv2.rectangle(bg, p0, p1, (26, 20, 58), -1)
            cv2.rectangle(bg, p0, p1, (14, 10, 30), max(1, int(0.04 * s)))
        return bg

    def _offset(self, v: Viewer, t: float, f: int) -> Tuple[float, float]:
        ax, ay, hz, ph = v.sway
        dx = ax * math.sin(2 * math.pi * hz * t + ph)
        dy = ay * math.sin(2 * math.pi * hz * 1.7 * t + 2 * ph)
        if self.lean and v.viewer_id == self.lean["viewer"]:
            k = _envelope(t, self.lean["start"], self.lean["ramp"], self.lean["hold"])
            dx, dy = dx + k * self.lean["dx"], dy + k * self.lean["dy"]
        if v.viewer_id == self.leave["viewer"]:
            lv = self.leave
            k = _envelope(t, lv["start"], lv["walk"], lv["away"])
            dx, dy = dx + k * lv["dx"], dy + min(1.0, 3 * k) * lv["dy"]
        if self.smiling(v.viewer_id, f):
            dy += 0.025 * v.size * math.sin(2 * math.pi * 2.5 * t)  # laughing shakes the head
        return dx, dy

    def smiling(self, viewer_id: int, f: int) -> bool:
        return any(f0 <= f < f1 for f0, f1 in self._laughing.get(viewer_id, ()))

    def render(self, f: int) -> Tuple[np.ndarray, List[GtRow]]:
        """Frame ``f`` (0-based) as BGR uint8, and its ground truth rows."""
        t = f / self.spec.fps
        H, W = self.spec.height, self.spec.width
        canvas = self.background.copy()
        owner = np.zeros((H, W), np.uint8)
        placed = []
        for row in sorted({v.row for v in self.viewers}):
            members = [v for v in self.viewers if v.row == row]
            centres = [self._offset(v, t, f) for v in members]
            for v, (dx, dy) in zip(members, centres):
                self._body(canvas, owner, v.x + dx, v.y + dy, v.size, v.shirt)
            for v, (dx, dy) in zip(members, centres):
                photo = v.smiling if self.smiling(v.viewer_id, f) else v.neutral
                patch = photo.patch(v.size)
                cx, cy = v.x + dx, v.y + dy
                place(canvas, owner, patch, cx, cy, v.viewer_id, v.shade)
                placed.append((v, patch, cx, cy, photo.label))
            if row == self.walker["row"]:
                self._walker(canvas, owner, t)
        g = 0.92 + 0.28 * math.sin(2 * math.pi * t / self.light["period"] + self.light["phase"])
        canvas = cv2.multiply(canvas, (g * 1.06, g, g * 0.94, 0.0))
        pos, neg = self._noise[int(np.random.default_rng([self.spec.seed, 11, f]).integers(NOISE_BANK))]
        canvas = cv2.subtract(cv2.add(canvas, pos), neg)
        rows = []  # type: List[GtRow]
        for v, patch, cx, cy, label in placed:
            x, y, w, h = placement_box(cx, cy, v.size)
            x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(float(W), x + w), min(float(H), y + h)
            if x1 <= x0 or y1 <= y0:
                continue  # out of the frame: not present
            inside = (x0, y0, x1, y1) == (x, y, x + w, y + h)
            box = (x, y, w, h) if inside else (x0, y0, x1 - x0, y1 - y0)
            vis = visible_fraction(owner, patch, cx, cy, v.viewer_id)
            conf = int(inside and vis >= 0.5)
            rows.append((v.viewer_id, box, conf, label, vis))
        rows.sort()
        return canvas, rows

    @staticmethod
    def _body(canvas, owner, cx, cy, s, shirt) -> None:
        neck = ((int(cx - 0.2 * s), int(cy + 0.45 * s)), (int(cx + 0.2 * s), int(cy + 0.9 * s)))
        shoulders = ((int(cx), int(cy + 1.2 * s)), (int(0.95 * s), int(0.5 * s)))
        for img, colour in ((canvas, shirt), (owner, BODY)):
            cv2.rectangle(img, neck[0], neck[1], (40, 52, 70) if img is canvas else colour, -1)
            cv2.ellipse(img, shoulders[0], shoulders[1], 0, 0, 360, colour, -1)

    def _walker(self, canvas, owner, t) -> None:
        wk = self.walker
        x = -wk["width"] + (t - wk["start"]) * wk["speed"]
        if not -wk["width"] < x < self.spec.width + wk["width"]:
            return
        head, y, width = wk["head"], wk["y"], wk["width"]
        for img, colour, hair in ((canvas, (30, 30, 34), (16, 18, 22)), (owner, WALKER, WALKER)):
            cv2.ellipse(img, (int(x), int(y)), (int(0.45 * head), int(0.55 * head)), 0, 0, 360, hair, -1)
            top = int(y + 0.45 * head)
            shoulders = (int(x), top + int(0.35 * head))
            cv2.ellipse(img, shoulders, (int(width / 2), int(0.45 * head)), 0, 0, 360, colour, -1)
            cv2.rectangle(img, (int(x - width / 2), top + int(0.35 * head)),
                          (int(x + width / 2), self.spec.height), colour, -1)

    def frames(self) -> Iterator[Tuple[np.ndarray, List[GtRow]]]:
        for f in range(self.n_frames):
            yield self.render(f)


def _envelope(t: float, start: float, ramp: float, hold: float) -> float:
    """0 before ``start``, smooth rise over ``ramp``, 1 for ``hold``, smooth fall."""
    u = t - start
    if u <= 0 or u >= 2 * ramp + hold:
        return 0.0
    if u < ramp:
        k = u / ramp
    elif u < ramp + hold:
        return 1.0
    else:
        k = (2 * ramp + hold - u) / ramp
    return 0.5 - 0.5 * math.cos(math.pi * k)


def detection_check(audience: Audience, every: int = 25) -> dict:
    """Haar (pipeline settings) on every ``every``-th frame against the visible GT boxes."""
    from reaction.boxes import box_iou
    from reaction.detector import DetectorConfig, FaceDetector

    detector = FaceDetector(DetectorConfig())
    hits = n_gt = n_det = 0
    ious = []
    for f in range(0, audience.n_frames, every):
        image, rows = audience.render(f)
        boxes = [d.box for d in detector.detect(image)]
        n_det += len(boxes)
        for _, gt, conf, _, _ in rows:
            if not conf:
                continue
            n_gt += 1
            best = max((box_iou(gt, b) for b in boxes), default=0.0)
            if best >= 0.5:
                hits += 1
                ious.append(best)
    return dict(frames=len(range(0, audience.n_frames, every)), recall=hits / max(1, n_gt),
                precision=hits / max(1, n_det), mean_iou=float(np.mean(ious)) if ious else 0.0)


def calibrate(audience: Audience) -> dict:
    """Fit the GT box to Haar on every photograph of this audience (see :func:`fit_placement`)."""
    return fit_placement([(p, v.size) for v in audience.viewers for p in (v.neutral, v.smiling)])


def generate(spec: AudienceSpec, out_dir: str, check_every: int = 25, progress: bool = False) -> dict:
    """Write the clip and its ground truth into ``out_dir``; return the summary."""
    audience = Audience(spec)
    os.makedirs(out_dir, exist_ok=True)
    video_path = os.path.join(out_dir, "audience.mp4")
    writer = cv2.VideoWriter(video_path, cv2.VideoWriter_fourcc(*"mp4v"), spec.fps, (spec.width, spec.height))
    if not writer.isOpened():
        raise ReactionError("{}: cannot open video writer".format(video_path))
    with open(os.path.join(out_dir, "gt_tracks.csv"), "w") as tracks, \
            open(os.path.join(out_dir, "gt_smiles.csv"), "w") as smiles:
        smiles.write("frame,viewer_id,label\n")
        for f, (image, rows) in enumerate(audience.frames()):
            writer.write(image)
            for vid, (x, y, w, h), conf, label, _ in rows:
                tracks.write("{},{},{:.2f},{:.2f},{:.2f},{:.2f},{},-1,-1,-1\n".format(f + 1, vid, x, y, w, h, conf))
                smiles.write("{},{},{}\n".format(f + 1, vid, label))
            if progress and f % 250 == 0:
                print("frame {}/{}".format(f, audience.n_frames), file=sys.stderr)
    writer.release()
    with open(os.path.join(out_dir, "gt_laughs.jsonl"), "w") as laughs:
        for vid, f0, f1 in audience.laughs:
            laughs.write(json.dumps(dict(viewer_id=vid, start_s=f0 / spec.fps, end_s=f1 / spec.fps)) + "\n")
    summary = dict(
        spec=asdict(spec), frames=audience.n_frames, laughs=len(audience.laughs),
        viewers=[dict(viewer_id=v.viewer_id, name=v.name, row=v.row, size=v.size,
                      neutral=os.path.basename(v.neutral.path), smiling=os.path.basename(v.smiling.path))
                 for v in audience.viewers],
        events=dict(lean=audience.lean, walker=audience.walker, leave=audience.leave, light=audience.light),
    )
    if check_every:
        summary["detection_check"] = detection_check(audience, check_every)
    with open(os.path.join(out_dir, "audience.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.synth_audience", description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder (required unless --calibrate)")
    p.add_argument("--data", default="../shared/data", help="shared data folder holding lfw/")
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
    p.add_argument("--viewers", type=int, default=24)
    p.add_argument("--calibrate", action="store_true", help="fit the GT box offset/scale and exit")
    args = p.parse_args(argv)
    try:
        try:
            width, height = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise ReactionError("--size must look like 1280x720, got {}".format(args.size))
        spec = AudienceSpec(args.seed, args.seconds, args.fps, width, height, args.viewers, args.data)
        if args.calibrate:
            print(json.dumps(calibrate(Audience(spec))))
            return 0
        if not args.out:
            raise ReactionError("--out is required")
        summary = generate(spec, args.out, progress=True)
    except ReactionError as e:
        print("error: {}".format(e), file=sys.stderr)
        return 2
    print(json.dumps(dict(out=args.out, frames=summary["frames"], laughs=summary["laughs"],
                          detection_check=summary.get("detection_check"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
