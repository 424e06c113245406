"""A seated audience made of real LFW faces, with exact ground truth.

``python -m benchmarks.synth_audience --seed S --out DIR [--preset hard]`` writes:

* ``audience.mp4``: the clip (``mp4v``), dark theatre, rows of seats in
  perspective, faces smaller further back;
* ``gt_tracks.csv``: MOTChallenge rows ``frame,id,x,y,w,h,conf,-1,-1,-1``.
  Frames are 1-based as in MOTChallenge (frame 1 is the first decoded frame,
  media time 0). ``conf`` is 1 where at least half of the face is visible and
  0 where it is hidden, turned away or cut by the frame edge: a "don't care"
  box, as in MOT17, which the scorer neither demands nor punishes;
* ``gt_smiles.csv``: ``frame,viewer_id,label``, 1 while the viewer's smiling
  photograph is shown;
* ``gt_laughs.jsonl``: ``{"viewer_id", "start_s", "end_s"}``, end exclusive;
* ``gt_visibility.csv``: ``frame,viewer_id,visibility,facing,state``, one row
  per ``gt_tracks.csv`` row, in the same order: the share of the face that is
  in frame and uncovered (0 while the head is turned away), ``facing`` 0 while
  the head is turned away, and what the viewer is doing (``seated``,
  ``turned_away``, ``leaning_out``, ``changing_seat``, ``swapping``,
  ``leaving``, ``leaning``);
* ``gt_camera.csv`` (only with camera shake): ``frame,dx,dy``, how far the
  whole picture, ground truth included, is shifted on that frame;
* ``gt_distractors.csv`` (only with posters or clutter):
  ``frame,kind,x,y,w,h,visibility``, faces that are NOT viewers (``poster``,
  ``paper``, ``print`` on a shirt), where a face detector would box them, and
  the uncovered share of the box's middle (a head in front may hide one): a
  track there is a false positive;
* ``audience.json``: the spec, the LFW photographs used and the event times.

Everything is drawn from the seed: the same seed gives the same frames.

Presets (``AudienceSpec.preset(name, **overrides)``, ``--preset NAME``):

``classic`` (the default, and every spec with the new options off): 1280x720,
up to 40 viewers in 4 rows. The scripted events (all scaled down for short
test clips): every head sways; one viewer leans until a head in the row in
front hides part of their face; a passer-by walks along the front of a row,
covering each face for about a second; one viewer leaves their seat for 10 s
and comes back; the screen light slowly brightens and darkens; sensor noise on
every frame. Its frames are the same as before the harder options existed.

``hard``: 1920x1080, 40 viewers (``viewers`` up to 120: ``layout="tiers"``
adds rows of smaller faces as needed, with a few empty seats), a back wall
with face posters, and on top of the classic events: several viewers turn
their head away for 1-3 s (the back of the head shows; GT: visibility 0,
conf 0); two lean out of the frame sideways and back; one stands, walks along
the row and sits in an empty seat; two neighbours swap seats (crossing in
front of each other); motion blur on moving faces; patterned shirts (stripes,
checks, dots, a printed face) and papers (programmes, some with a photo) held
by viewers or left on empty seats; a camera shake of a few pixels (GT moves
with the picture). Each option can be switched on or off on its own.
"""
import argparse
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, fields
from typing import Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np

from reaction.types import ReactionError

from .lfw_faces import (FacePatch, Photo, detected_alone, elliptical_alpha, fit_placement, haar, new_cascade, place,
                        placement_box, read_smile_labels, visible_fraction)

ROW_SIZE = (80, 90, 102, 116)  # face size per row at 720 px height, back to front
ROW_Y = (116, 250, 396, 560)  # face centre per row at 720 px height
ROW_WEIGHT = (7, 6, 6, 5)
BODY, WALKER = 250, 251  # pixel owners besides viewer ids
HAIR, PAPER, PRINT = 252, 253, 254  # the back of a turned head; papers held by viewers; faces printed on shirts
NOISE_SIGMA, NOISE_BANK = 4.0, 8
GtRow = Tuple[int, Tuple[float, float, float, float], int, int, float]  # viewer, box, conf, smile, visible

# Layout "tiers": rows scale with the audience. Back-to-front face sizes grow
# by TIER_DEPTH in all, row centres are TIER_GAP face sizes apart, seats
# TIER_PITCH face sizes wide at most; the front row's face centre sits
# TIER_BOTTOM face sizes above the bottom edge and the top WALL of the frame
# is the back wall (posters).
TIER_DEPTH, TIER_GAP, TIER_PITCH, TIER_BOTTOM, WALL = 1.45, 1.45, 1.7, 1.1, 0.2
MAX_VIEWERS = {"classic": 40, "tiers": 120}
STATES = ("seated", "turned_away", "leaning_out", "changing_seat", "swapping", "leaving", "leaning")
PATTERNS = ("stripes", "checks", "dots", "print")

PRESETS = {
    "classic": dict(),
    "hard": dict(width=1920, height=1080, viewers=40, layout="tiers", head_turns=True, lean_outs=True,
                 seat_change=True, seat_swap=True, motion_blur=True, posters=5, clutter=True, shake_px=3.0),
}


@dataclass(frozen=True)
class AudienceSpec:
    """What to generate. ``data`` is the shared data folder (holds ``lfw/``).

    The fields after ``data`` are the harder audience's options, all off by
    default (the classic clip); ``AudienceSpec.preset("hard")`` turns them on.
    ``layout``: ``"classic"`` (4 rows, up to 40 viewers) or ``"tiers"`` (rows
    that scale to 120 viewers, empty seats, a back wall); ``head_turns``: about
    one viewer in six turns their head away for 1-3 s; ``lean_outs``: two
    viewers at row ends lean out of the frame and back; ``seat_change``: one
    viewer walks along the row to an empty seat (tiers only); ``seat_swap``: two
    neighbours swap seats; ``motion_blur``: on moving faces; ``posters``: face
    posters on the back wall (tiers only); ``clutter``: patterned shirts and
    papers; ``shake_px``: camera shake amplitude in pixels at 1080 px height.
    """

    seed: int = 0
    seconds: float = 120.0
    fps: float = 25.0
    width: int = 1280
    height: int = 720
    viewers: int = 24
    data: str = "../shared/data"
    preset_name: str = "classic"
    layout: str = "classic"
    head_turns: bool = False
    lean_outs: bool = False
    seat_change: bool = False
    seat_swap: bool = False
    motion_blur: bool = False
    posters: int = 0
    clutter: bool = False
    shake_px: float = 0.0

    @classmethod
    def preset(cls, name: str, **overrides) -> "AudienceSpec":
        """The named preset (see :data:`PRESETS`), with any field overridden."""
        if name not in PRESETS:
            raise ReactionError("preset must be one of {}, got {!r}".format(", ".join(PRESETS), name))
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ReactionError("unknown AudienceSpec fields: {}".format(", ".join(sorted(unknown))))
        settings = dict(PRESETS[name], preset_name=name)
        settings.update(overrides)
        return cls(**settings)

    @property
    def scripted_extras(self) -> bool:
        """Any of the harder audience's scripted events (they need viewers and time)."""
        return self.head_turns or self.lean_outs or self.seat_change or self.seat_swap

    @property
    def extended(self) -> bool:
        """Rendered by the extended engine (any harder option on)."""
        return (self.layout != "classic" or self.scripted_extras or self.motion_blur or self.posters > 0
                or self.clutter or self.shake_px > 0)

    def validate(self) -> None:
        if self.seconds <= 0 or self.fps <= 0:
            raise ReactionError("--seconds and --fps must be > 0")
        if self.width < 320 or self.height < 180:
            raise ReactionError("--size must be at least 320x180, got {}x{}".format(self.width, self.height))
        if self.layout not in MAX_VIEWERS:
            raise ReactionError("--layout must be one of {}, got {!r}".format(", ".join(MAX_VIEWERS), self.layout))
        if not 1 <= self.viewers <= MAX_VIEWERS[self.layout]:
            raise ReactionError("--viewers must be in 1..{}, got {}".format(MAX_VIEWERS[self.layout], self.viewers))
        if self.posters < 0 or self.shake_px < 0:
            raise ReactionError("--posters and --shake must be >= 0")
        if (self.seat_change or self.posters) and self.layout != "tiers":
            raise ReactionError("seat_change and posters need layout='tiers' (an empty seat, a back wall)")
        if self.scripted_extras and (self.viewers < 10 or self.seconds < 10.0):
            raise ReactionError("head turns, lean-outs, seat changes and swaps need >= 10 viewers and "
                                ">= 10 s, got {} viewers, {:g} s".format(self.viewers, self.seconds))
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
    # Extended engine only:
    hair: Tuple[int, int, int] = (22, 24, 30)
    pattern: Optional[str] = None  # one of PATTERNS (clutter)
    paper: Optional[str] = None  # "text" or "photo": holds a programme (clutter)


@dataclass
class Mark:
    """A face-like thing that is not a viewer, where a face detector would box it."""

    kind: str  # "poster", "paper" or "print"
    box: Tuple[float, float, float, float]  # frame coordinates before camera shake
    owner: int = 0  # its pixels' owner label while uncovered (0: the background: posters, papers on seats)


def row_counts(n: int) -> List[int]:
    counts = [int(n * w / 24.0) for w in ROW_WEIGHT]
    for i in range(n - sum(counts)):
        counts[i % 4] += 1
    return [c for c in counts if c > 0]


def tier_rows(seats: int, width: int, height: int) -> List[Tuple[float, float, int]]:
    """``(face centre y, face size, seat count)`` per row, back to front, exactly ``seats`` seats.

    The fewest rows (at least 4) whose seats, at most TIER_PITCH face sizes
    wide, hold ``seats``; faces are as large as the rows' height allows.
    """
    top = WALL * height
    for n_rows in range(4, 40):
        grow = [TIER_DEPTH ** (r / (n_rows - 1.0)) for r in range(n_rows)]
        gaps = TIER_GAP * sum((grow[r] + grow[r + 1]) / 2.0 for r in range(n_rows - 1))
        back = (height - top) / (TIER_BOTTOM * grow[-1] + 0.75 + gaps)
        sizes = [back * g for g in grow]
        counts = [int(width // (TIER_PITCH * s)) for s in sizes]
        if sum(counts) >= seats:
            break
    else:
        raise ReactionError("{} seats do not fit in {}x{}".format(seats, width, height))
    while sum(counts) > seats:  # thin out the most crowded row (relative to its width)
        r = max(range(n_rows), key=lambda i: (counts[i] * sizes[i], i))
        counts[r] -= 1
    ys = [top + 0.75 * sizes[0]]
    for r in range(n_rows - 1):
        ys.append(ys[-1] + TIER_GAP * (sizes[r] + sizes[r + 1]) / 2.0)
    return [(y, s, c) for y, s, c in zip(ys, sizes, counts) if c > 0]


def _smooth(u: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(1.0, max(0.0, u)))


def _path(t: float, start: float, up: float, move: float, down: float, p0: Tuple[float, float],
          p1: Tuple[float, float], rise: float) -> Tuple[float, float, float]:
    """Stand up at ``p0``, move to ``p1`` standing, sit down: ``(x, y, standing 0..1)``."""
    u = t - start
    if u <= 0:
        return p0[0], p0[1], 0.0
    if u < up:
        k = _smooth(u / up)
        return p0[0], p0[1] - rise * k, k
    if u < up + move:
        w = _smooth((u - up) / move)
        return p0[0] + (p1[0] - p0[0]) * w, p0[1] + (p1[1] - p0[1]) * w - rise, 1.0
    if u < up + move + down:
        k = 1.0 - _smooth((u - up - move) / down)
        return p1[0], p1[1] - rise * k, k
    return p1[0], p1[1], 0.0


def _square_warp(patch: FacePatch, m: np.ndarray) -> FacePatch:
    """``patch`` resampled by the 2x3 affine ``m`` into the same square."""
    side = patch.side
    img = cv2.warpAffine(patch.image, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(patch.alpha[..., 0], m, (side, side), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)[..., None]
    return FacePatch(img, alpha, patch.size, int(np.count_nonzero(alpha > 0.5)))


def motion_blurred(patch: FacePatch, vx: float, vy: float, exposure: float = 0.8) -> FacePatch:
    """``patch`` smeared along its motion ``(vx, vy)`` px/frame, as by an open shutter."""
    length = exposure * math.hypot(vx, vy)
    if length < 1.5:
        return patch
    k = int(math.ceil(length)) | 1
    kernel = np.zeros((k, k), np.float32)
    c = k // 2
    ux, uy = vx / math.hypot(vx, vy), vy / math.hypot(vx, vy)
    for s in np.linspace(-length / 2.0, length / 2.0, 2 * k + 1):
        kernel[min(k - 1, max(0, int(round(c + s * uy)))), min(k - 1, max(0, int(round(c + s * ux))))] += 1.0
    kernel /= kernel.sum()
    img = cv2.filter2D(patch.image, -1, kernel, borderType=cv2.BORDER_REPLICATE)
    alpha = cv2.filter2D(patch.alpha[..., 0], -1, kernel, borderType=cv2.BORDER_CONSTANT)[..., None]
    return FacePatch(img, alpha, patch.size, patch.mask_pixels)


def _paste(canvas: np.ndarray, owner: Optional[np.ndarray], sprite: np.ndarray, mask: np.ndarray,
           x0: int, y0: int, label: int) -> None:
    """Copy ``sprite`` where ``mask`` into ``canvas`` with its top-left at ``(x0, y0)``, clipped."""
    H, W = canvas.shape[:2]
    h, w = mask.shape
    a0, b0, a1, b1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if a1 <= a0 or b1 <= b0:
        return
    m = mask[b0 - y0:b1 - y0, a0 - x0:a1 - x0]
    canvas[b0:b1, a0:a1][m] = sprite[b0 - y0:b1 - y0, a0 - x0:a1 - x0][m]
    if owner is not None:
        owner[b0:b1, a0:a1][m] = label


def _uncovered(owner: np.ndarray, box: Tuple[float, float, float, float], label: int) -> float:
    """Share of the middle of ``box`` (half its side) still owned by ``label``; off the frame counts as covered."""
    x, y, w, h = box
    a0, b0 = int(round(x + w / 4.0)), int(round(y + h / 4.0))
    a1, b1 = int(round(x + 3 * w / 4.0)), int(round(y + 3 * h / 4.0))
    total = max(1, (a1 - a0) * (b1 - b0))
    H, W = owner.shape
    part = owner[max(0, b0):min(H, b1), max(0, a0):min(W, a1)]
    return float(np.count_nonzero(part == label)) / total


def _grey_face(photo: Photo, size: int, contrast: float = 1.25) -> FacePatch:
    """A printed, black-and-white version of ``photo`` at face ``size``."""
    p = photo.patch(size)
    grey = cv2.cvtColor(np.clip(p.image, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
    grey = np.clip((grey - grey.mean()) * contrast + 128.0, 0, 255)
    return FacePatch(np.repeat(grey[..., None], 3, axis=2), p.alpha, p.size, p.mask_pixels)


def _blend(dst: np.ndarray, patch: FacePatch, cx: float, cy: float) -> None:
    """Blend a face patch into a float32 sprite (no owner map)."""
    place_f = np.zeros(dst.shape[:2], np.uint8)
    tmp = np.clip(dst, 0, 255).astype(np.uint8)
    place(tmp, place_f, patch, cx, cy, 1, 1.0)
    dst[...] = tmp


class Audience:
    """The scripted clip; ``render(f)`` draws frame ``f`` (0-based) on demand.

    ``render_truth(f)`` also gives the frame's extra ground truth: camera
    shake, each viewer's visibility, facing and state, and the distractors.
    """

    def __init__(self, spec: AudienceSpec) -> None:
        spec.validate()
        self.spec = spec
        self.ext = spec.extended
        self.n_frames = int(round(spec.seconds * spec.fps))
        self.scale = spec.height / 720.0
        rng = np.random.default_rng(spec.seed)
        self.row_y = [ROW_Y[r] * self.scale for r in range(4)]
        self.row_size = [ROW_SIZE[r] * self.scale for r in range(4)]
        self.empty_seats = []  # type: List[Tuple[int, float, float, int]]  # row, x, y, size
        self._mover_to = None  # type: Optional[Tuple[int, float, float]]  # tiers: viewer, seat x, y
        if spec.layout == "tiers":
            self.viewers = self._seat_tiers(rng)
        else:
            self.viewers = self._seat(rng)
        self.turns, self.lean_outs, self.seat_change, self.swap = [], [], None, None  # type: ignore
        self.busy = {}  # type: Dict[int, List[Tuple[float, float]]]  # viewer: no laughs in these spans (s)
        self._script(rng)
        self.margin = 0
        self.shake_xy = np.zeros((self.n_frames, 2), np.int64)
        self.marks = []  # type: List[Mark]  # static distractors (posters, papers on seats)
        self.posters = []  # type: List[dict]
        if self.ext:
            self._dress()
            self.background = self._background_ext()
        else:
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
                viewers.append(self._cast(rng, len(viewers) + 1, row, x, y, size, order, labels, cascade))
        self._labels, self._unused, self._cascade = labels, order, cascade
        return viewers

    def _cast(self, rng, viewer_id, row, x, y, size, order, labels, cascade) -> Viewer:
        """The next identity in ``order`` with a usable neutral and smiling photograph, seated."""
        while True:
            if not order:
                raise ReactionError("not enough LFW identities with clear smile labels")
            name = order.pop(0)
            neutral, smiling = (
                self._pick(rng, self.spec.data, images, label, size, cascade)
                for label, images in enumerate(labels[name])
            )
            if neutral is not None and smiling is not None:
                break
        return Viewer(
            viewer_id, name, row, x, y, size, neutral, smiling,
            shade=float(rng.uniform(0.72, 0.92)),
            shirt=tuple(int(c) for c in rng.integers(12, 60, 3)),
            sway=(float(rng.uniform(0.03, 0.08) * size), float(rng.uniform(0.01, 0.03) * size),
                  float(rng.uniform(0.07, 0.25)), float(rng.uniform(0, 2 * math.pi))),
        )

    def _seat_tiers(self, rng: np.random.Generator) -> List[Viewer]:
        """Layout "tiers": as many rows as the audience needs, a few seats left empty.

        One empty seat is kept three seats along the middle row from the
        viewer who changes seat (``seat_change``); the others are random,
        never at a row end (row ends are for the lean-outs).
        """
        spec = self.spec
        W = spec.width
        labels = read_smile_labels(spec.data)
        names = sorted(labels)
        order = [names[i] for i in rng.permutation(len(names))]
        cascade = new_cascade()
        n_empty = max(2, int(round(0.08 * spec.viewers)))
        rows = tier_rows(spec.viewers + n_empty, W, spec.height)
        self.row_y = [y for y, _, _ in rows]
        self.row_size = [s for _, s, _ in rows]
        seats = []  # type: List[Tuple[int, int, float, float, int]]
        for r, (ry, rs, count) in enumerate(rows):
            size = int(round(rs))
            pitch = W / float(count)
            offset = 0.25 * pitch if r % 2 else -0.25 * pitch
            for k in range(count):
                x = (k + 0.5) * pitch + offset * (0.5 if count > 1 else 0.0) + rng.uniform(-0.06, 0.06) * pitch
                x = float(np.clip(x, 0.8 * size, W - 0.8 * size))
                seats.append((r, k, x, ry + rng.uniform(-0.04, 0.04) * size, size))
        counts = [c for _, _, c in rows]
        empty = set()  # type: set
        mover = dest = None
        if spec.seat_change:
            mr = len(rows) // 2
            c = counts[mr]
            hop = max(1, min(3, c - 3))
            i = int(rng.integers(1, max(2, c - 1 - hop)))
            i, j = (i, i + hop) if rng.uniform() < 0.5 else (i + hop, i)
            mover, dest, empty = (mr, i), (mr, j), {(mr, j)}
        others = [n for n, (r, k, _, _, _) in enumerate(seats)
                  if 0 < k < counts[r] - 1 and (r, k) not in empty and (r, k) != mover]
        for n in sorted(rng.choice(len(others), size=min(len(others), n_empty - len(empty)), replace=False)):
            empty.add(seats[others[n]][:2])
        viewers = []  # type: List[Viewer]
        for r, k, x, y, size in seats:
            if (r, k) in empty:
                self.empty_seats.append((r, x, y, size))
                continue
            viewers.append(self._cast(rng, len(viewers) + 1, r, x, y, size, order, labels, cascade))
            if (r, k) == mover:
                self._mover_to = (viewers[-1].viewer_id,) + next(
                    (sx, sy) for sr, sk, sx, sy, _ in seats if (sr, sk) == dest)
        self.seats = seats
        self._labels, self._unused, self._cascade = labels, order, cascade
        return viewers

    @staticmethod
    def _pick(rng, data, images, label, size, cascade) -> Optional[Photo]:
        for i in rng.permutation(len(images))[:3]:
            photo = Photo.load(data, images[i], label, cascade)
            if photo is not None and detected_alone(cascade, photo, size):
                return photo
        return None

    def _clutter_photo(self) -> Photo:
        """A photograph of an identity that is not in the audience (never a viewer)."""
        while self._unused:
            name = self._unused.pop(0)
            for images in self._labels[name]:
                for image in images[:2]:
                    photo = Photo.load(self.spec.data, image, 0, self._cascade)
                    if photo is not None:
                        return photo
        raise ReactionError("not enough LFW identities left for posters and clutter")

    # -- script ------------------------------------------------------------
    def _script(self, rng: np.random.Generator) -> None:
        T, fps = self.spec.seconds, self.spec.fps
        f = min(1.0, T / 60.0)  # short clips: same events, compressed
        rows = sorted({v.row for v in self.viewers})
        by_row = {r: [v for v in self.viewers if v.row == r] for r in rows}
        # Leaving: the front-row viewer nearest an edge walks out of frame.
        front = by_row[rows[-1]]
        v = max(front, key=lambda u: abs(u.x - self.spec.width / 2.0))
        side = 1.0 if v.x > self.spec.width / 2.0 else -1.0
        out = (self.spec.width - v.x if side > 0 else v.x) + 1.2 * v.size
        leave = dict(viewer=v.viewer_id, start=0.5 * T, walk=1.5 * f, away=min(10.0, 0.25 * T),
                     dx=side * out, dy=-0.3 * v.size)
        self.busy[v.viewer_id] = [(leave["start"] - 1.0 * f, leave["start"] + 2 * leave["walk"] + leave["away"]
                                   + 1.0 * f)]
        if self.ext:
            self._script_extras(rows, by_row)
        # Leaning: a viewer behind another row drops towards the nearest head in front.
        self.lean = None
        if len(rows) > 1:
            cands = by_row[rows[-2]]
            if self.ext:
                cands = [u for u in cands if u.viewer_id not in self.busy] or cands
            v = cands[int(rng.integers(len(cands)))]
            u = min(by_row[rows[-1]], key=lambda u: abs(u.x - v.x))
            tx = u.x + math.copysign(0.25 * u.size, v.x - u.x)
            ty = u.y - 0.62 * u.size - 0.2 * v.size
            self.lean = dict(viewer=v.viewer_id, start=0.18 * T, ramp=1.5 * f, hold=6.0 * f,
                             dx=tx - v.x, dy=ty - v.y)
        # A passer-by along the front of the second row from the back.
        w_row = rows[min(1, len(rows) - 1)]
        ws = self.row_size[w_row]
        width = 2.2 * ws
        speed = max(width / 1.0, (self.spec.width + 2 * width) / (0.3 * T))
        self.walker = dict(row=w_row, start=0.38 * T, width=width, head=1.15 * ws, speed=speed,
                           y=self.row_y[w_row] - 0.95 * ws)
        self.leave = leave
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
                if any(f0 / fps < b1 and f1 / fps > b0 for b0, b1 in self.busy.get(v.viewer_id, ())):
                    continue
                self.laughs.append((v.viewer_id, f0, f1))
                last_end = f1
        self._laughing = {}  # type: dict
        for vid, f0, f1 in self.laughs:
            self._laughing.setdefault(vid, []).append((f0, f1))

    def _script_extras(self, rows: List[int], by_row: Dict[int, List[Viewer]]) -> None:
        """The harder audience's events, from their own random stream (the classic draws are untouched).

        Each involves viewers no other event uses, and they laugh only outside it.
        """
        spec, T, W = self.spec, self.spec.seconds, self.spec.width
        rh = np.random.default_rng([spec.seed, 17])
        ids = {v.viewer_id: v for v in self.viewers}

        def free(cands: List[Viewer]) -> List[Viewer]:
            return [v for v in cands if v.viewer_id not in self.busy]

        def pitch(row: int) -> float:
            xs = sorted(u.x for u in by_row[row])
            return float(np.median(np.diff(xs))) if len(xs) > 1 else 2.0 * by_row[row][0].size

        if spec.seat_change and self._mover_to is not None:
            vid, tx, ty = self._mover_to
            v = ids[vid]
            walk = max(1.5, abs(tx - v.x) / (0.9 * pitch(v.row)))
            self.seat_change = dict(viewer=vid, start=0.28 * T, up=1.0, walk=walk, down=1.0,
                                    from_x=v.x, from_y=v.y, to_x=tx, to_y=ty, rise=1.8 * v.size)
            sc = self.seat_change
            self.busy[vid] = [(sc["start"] - 0.5, sc["start"] + sc["up"] + sc["walk"] + sc["down"] + 0.5)]
        if spec.seat_swap:  # two free neighbours, in the row in front of the middle one if it has them
            pairs = []
            mid = min(len(rows) - 1, len(rows) // 2 + 1)
            for row in sorted(rows, key=lambda r: (abs(r - rows[mid]), -r)):
                members = sorted(free(by_row[row]), key=lambda u: u.x)
                pairs = [(a, b) for a, b in zip(members, members[1:]) if b.x - a.x < 1.6 * pitch(row)]
                if pairs:
                    break
            if pairs:
                a, b = min(pairs, key=lambda p: abs((p[0].x + p[1].x) / 2.0 - W / 2.0))
                if rh.uniform() < 0.5:
                    a, b = b, a  # the first one passes in front
                self.swap = dict(viewers=[a.viewer_id, b.viewer_id], start=0.58 * T, up=0.8, cross=2.0, down=0.8,
                                 a=(a.x, a.y), b=(b.x, b.y), rise=1.6 * a.size)
                sw = self.swap
                for vid in sw["viewers"]:
                    self.busy[vid] = [(sw["start"] - 0.5, sw["start"] + sw["up"] + sw["cross"] + sw["down"] + 0.5)]
        if spec.lean_outs:
            mid = rows[1:-1] or rows
            for row, side, start in ((mid[0], -1.0, 0.22 * T), (mid[-1], 1.0, 0.66 * T)):
                members = free(by_row[row])
                if not members:
                    continue
                v = min(members, key=lambda u: u.x) if side < 0 else max(members, key=lambda u: u.x)
                edge = v.x if side < 0 else W - v.x
                ev = dict(viewer=v.viewer_id, start=start, ramp=0.6, hold=float(rh.uniform(1.0, 2.0)),
                          dx=side * (edge + 1.0 * v.size), dy=0.1 * v.size)
                self.lean_outs.append(ev)
                self.busy[v.viewer_id] = [(start - 0.5, start + 2 * ev["ramp"] + ev["hold"] + 0.5)]
        if spec.head_turns:
            cands = free(self.viewers)
            n = min(len(cands), max(3, int(round(len(self.viewers) / 6.0))))
            for i in sorted(rh.choice(len(cands), size=n, replace=False)):
                v = cands[int(i)]
                dur = float(rh.uniform(1.0, 3.0))
                start = float(rh.uniform(0.5, T - dur - 0.5))
                self.turns.append(dict(viewer=v.viewer_id, start=start, dur=dur, ramp=0.2,
                                       side=float(rh.choice([-1.0, 1.0]))))
                self.busy[v.viewer_id] = [(start - 0.3, start + dur + 0.3)]

    def _dress(self) -> None:
        """Extended engine: hair, clothing patterns, papers, posters, camera shake."""
        spec, s = self.spec, self.spec.height / 1080.0
        rd = np.random.default_rng([spec.seed, 19])
        hairs = ((18, 20, 26), (28, 38, 58), (40, 58, 88), (80, 110, 140), (110, 112, 118), (30, 30, 34))
        n_paper = max(2, len(self.viewers) // 10) if spec.clutter else 0
        n_pattern = int(round(0.3 * len(self.viewers))) if spec.clutter else 0
        order = rd.permutation(len(self.viewers))
        patterned = {int(i) for i in order[:n_pattern]}
        papered = {int(i) for i in order[n_pattern:n_pattern + n_paper]}
        self._prints = {}  # type: Dict[int, Photo]
        self._paper_photos = {}  # type: Dict[int, Photo]
        for i, v in enumerate(self.viewers):
            v.hair = hairs[int(rd.integers(len(hairs)))]
            if i in patterned:
                v.pattern = PATTERNS[int(rd.integers(len(PATTERNS)))]
                if v.pattern == "print":
                    self._prints[v.viewer_id] = self._clutter_photo()
            if i in papered:
                v.paper = "photo" if rd.uniform() < 0.6 else "text"
                if v.paper == "photo":
                    self._paper_photos[v.viewer_id] = self._clutter_photo()
        self._sprites = {}  # type: dict
        self._hair_cache = {}  # type: dict
        # Camera shake: two slow sines and a little jitter per axis, whole pixels.
        lim = int(math.ceil(1.5 * spec.shake_px * s))
        self.margin = 2 * int(math.ceil(max(lim, 6.0 * s) / 2.0)) + 2
        self.shake_xy = np.zeros((self.n_frames, 2), np.int64)
        if spec.shake_px > 0:
            rs = np.random.default_rng([spec.seed, 31])
            t = np.arange(self.n_frames) / spec.fps
            amp = spec.shake_px * s
            for axis in range(2):
                f1, f2 = rs.uniform(1.5, 3.0), rs.uniform(4.0, 7.0)
                p1, p2 = rs.uniform(0, 2 * math.pi, 2)
                wave = amp * (0.7 * np.sin(2 * math.pi * f1 * t + p1) + 0.5 * np.sin(2 * math.pi * f2 * t + p2))
                wave += rs.normal(0.0, 0.3 * amp, self.n_frames)
                self.shake_xy[:, axis] = np.clip(np.round(wave), -lim, lim).astype(np.int64)
        self._rd = rd

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

    def _background_ext(self) -> np.ndarray:
        """World canvas (frame plus ``margin`` on each side): wall, posters, seat backs, papers on seats."""
        spec, m = self.spec, self.margin
        W, H = spec.width, spec.height
        y = np.arange(H + 2 * m, dtype=np.float32) - m
        ramp = (20.0 - 14.0 * np.clip(y, 0, H - 1) / max(1, H - 1))[:, None, None]
        bg = (np.repeat(np.repeat(ramp, W + 2 * m, axis=1), 3, axis=2) * np.array([1.1, 0.9, 1.0], np.float32))
        if spec.layout == "tiers":
            wall = int(WALL * H) + m
            bg[:wall] = np.array([30, 27, 26], np.float32) * (1.0 - 0.25 * (np.arange(wall) / wall))[:, None, None]
            panel = max(40, int(0.12 * W))
            for x in range(m % panel, W + 2 * m, panel):  # wall panel seams
                bg[:wall, x:x + max(1, int(0.002 * W))] *= 0.6
            bg[wall - max(2, int(0.006 * H)):wall] = (12, 12, 14)  # rail under the wall
        bg = np.clip(bg, 0, 255).astype(np.uint8)
        if spec.layout == "tiers":
            seats = sorted(((r, x, yy, size) for r, _, x, yy, size in self.seats))
        else:
            seats = sorted((v.row, v.x, v.y, v.size) for v in self.viewers)
        for _, x, yy, s in seats:  # seat backs, back rows first
            p0 = (int(x - 0.85 * s) + m, int(yy + 0.1 * s) + m)
            p1 = (int(x + 0.85 * s) + m, int(yy + 2.0 * s) + m)
            cv2.rectangle(bg, p0, p1, (26, 20, 58), -1)
            cv2.rectangle(bg, p0, p1, (14, 10, 30), max(1, int(0.04 * s)))
        if spec.clutter:  # a programme left on two empty seats (not the one a viewer moves to)
            dest = self._mover_to[1:] if self._mover_to else None
            for _, x, yy, s in [e for e in self.empty_seats if e[1:3] != dest][:2]:
                photo = self._clutter_photo()
                sprite, mask, marks = self._paper_sprite(s, photo, self._rd)
                x0, y0 = int(round(x)) - mask.shape[1] // 2, int(round(yy + 0.75 * s)) - mask.shape[0] // 2
                _paste(bg, None, sprite, mask, x0 + m, y0 + m, 0)
                self.marks += [Mark("paper", (bx + x0, by + y0, bw, bh)) for bx, by, bw, bh in marks]
        if spec.posters:
            self._hang_posters(bg)
        return bg

    def _hang_posters(self, bg: np.ndarray) -> None:
        """Framed portraits on the back wall; each is kept only if Haar finds its face."""
        spec, m, H, W = self.spec, self.margin, self.spec.height, self.spec.width
        rp = np.random.default_rng([spec.seed, 37])
        wall = WALL * H
        n = spec.posters
        from reaction.boxes import box_iou

        for i in range(n):
            face = float(rp.uniform(0.052, 0.066)) * H
            for _ in range(8):
                photo = self._clutter_photo()
                sprite, face_box = self._poster_sprite(photo, face, rp)
                ph, pw = sprite.shape[:2]
                cx = (i + 0.5) * W / n + rp.uniform(-0.12, 0.12) * W / n
                x0 = int(np.clip(cx - pw / 2.0, 2, W - pw - 2))
                y0 = int(max(2.0, 0.015 * H + rp.uniform(0, max(0.0, wall - 0.03 * H - ph - 0.015 * H))))
                region = bg[y0 + m:y0 + m + ph, x0 + m:x0 + m + pw]
                # Haar on the poster in its place on the wall, with some wall around it.
                c0, r0 = max(0, x0 + m - pw // 3), max(0, y0 + m - ph // 3)
                test = bg[r0:y0 + m + ph + ph // 3, c0:x0 + m + pw + pw // 3].copy()
                oy, ox = y0 + m - r0, x0 + m - c0
                test[oy:oy + ph, ox:ox + pw] = sprite
                fx, fy, fw, fh = face_box
                want = (fx + ox, fy + oy, fw, fh)
                if any(box_iou(tuple(b), want) >= 0.5 for b in haar(self._cascade, test)):
                    region[...] = sprite
                    box = (fx + x0, fy + y0, fw, fh)
                    self.marks.append(Mark("poster", box))
                    self.posters.append(dict(name=os.path.basename(photo.path), x=x0, y=y0, w=pw, h=ph,
                                             face=[round(v, 2) for v in box]))
                    break

    def _poster_sprite(self, photo: Photo, face: float, rp: np.random.Generator):
        """A framed portrait whose face is ``face`` px: sprite and the face's box in it."""
        x, y, w, _ = photo.box
        k = face / w
        side = int(round(2.0 * face))
        fcx, fcy = side / 2.0, 0.42 * side  # face centre in the picture
        mtx = np.array([[k, 0, fcx - k * (x + w / 2.0)], [0, k, fcy - k * (y + w / 2.0)]], np.float64)
        pic = cv2.warpAffine(photo.image, mtx, (side, side), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
        mat, title = max(2, int(0.08 * face)), int(0.32 * face)
        frame = max(2, int(0.05 * face))
        ph, pw = side + 2 * mat + title + 2 * frame, side + 2 * mat + 2 * frame
        colour = tuple(int(c) for c in rp.integers(20, 200, 3))
        sprite = np.empty((ph, pw, 3), np.uint8)
        sprite[...] = (18, 14, 12)  # frame
        sprite[frame:ph - frame, frame:pw - frame] = colour
        sprite[frame + mat:frame + mat + side, frame + mat:frame + mat + side] = pic
        letters = "".join(chr(int(c)) for c in rp.integers(65, 91, int(rp.integers(4, 9))))
        scale = title / 30.0
        cv2.putText(sprite, letters, (frame + mat, ph - frame - int(0.25 * title)), cv2.FONT_HERSHEY_DUPLEX,
                    scale, (235, 235, 235), max(1, int(2 * scale)), cv2.LINE_AA)
        fx = frame + mat + fcx
        fy = frame + mat + fcy
        return sprite, placement_box(fx, fy, face)

    def _paper_sprite(self, s: float, photo: Optional[Photo], rng: np.random.Generator):
        """A programme about ``s`` wide: sprite, mask and the boxes of any printed face in it."""
        w, h = int(0.85 * s), int(1.1 * s)
        sprite = np.empty((h, w, 3), np.float32)
        sprite[...] = float(rng.uniform(175, 225))
        marks = []
        y = int(0.08 * h)
        if photo is not None:
            face = int(round(0.55 * s))
            cx, cy = w / 2.0, 0.1 * h + 0.55 * face
            _blend(sprite, _grey_face(photo, face), cx, cy)
            marks.append(placement_box(cx, cy, face))
            y = int(cy + 0.75 * face)
        line = max(2, int(0.05 * s))
        while y + line < h - int(0.06 * h):
            x1 = int(w * rng.uniform(0.55, 0.9))
            sprite[y:y + line, int(0.1 * w):x1] = float(rng.uniform(30, 70))
            y += 2 * line
        sprite = np.clip(sprite, 0, 255).astype(np.uint8)
        mask = np.ones((h, w), bool)
        return sprite, mask, marks

    def _held_paper(self, v: Viewer):
        key = ("paper", v.viewer_id)
        if key not in self._sprites:
            rng = np.random.default_rng([self.spec.seed, 41, v.viewer_id])
            sprite, mask, marks = self._paper_sprite(v.size, self._paper_photos.get(v.viewer_id), rng)
            angle = float(rng.uniform(-8, 8))
            h, w = mask.shape
            rot = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
            side = int(math.ceil(math.hypot(w, h))) | 1
            rot[:, 2] += ((side - w) / 2.0, (side - h) / 2.0)
            sprite = cv2.warpAffine(sprite, rot, (side, side), flags=cv2.INTER_LINEAR)
            mask = cv2.warpAffine(mask.astype(np.uint8), rot, (side, side), flags=cv2.INTER_NEAREST) > 0
            moved = []
            for bx, by, bw, bh in marks:
                c = rot @ np.array([bx + bw / 2.0, by + bh / 2.0, 1.0])
                moved.append((c[0] - bw / 2.0 - side / 2.0, c[1] - bh / 2.0 - side / 2.0, bw, bh))
            dx = float(rng.choice([-1.0, 1.0])) * 0.3 * v.size
            self._sprites[key] = (sprite, mask, moved, dx)
        return self._sprites[key]

    def _shirt(self, v: Viewer):
        """The shoulders ellipse with ``v.pattern`` on it: sprite, mask, printed-face boxes (centred)."""
        key = ("shirt", v.viewer_id)
        if key not in self._sprites:
            s = v.size
            ax, ay = int(0.95 * s), int(0.5 * s)
            h, w = 2 * ay + 1, 2 * ax + 1
            mask = np.zeros((h, w), np.uint8)
            cv2.ellipse(mask, (ax, ay), (ax, ay), 0, 0, 360, 1, -1)
            base = np.array(v.shirt, np.float32)
            light = base * 0.4 + float(np.random.default_rng([self.spec.seed, 43, v.viewer_id]).uniform(110, 190))
            sprite = np.empty((h, w, 3), np.float32)
            sprite[...] = base
            yy, xx = np.mgrid[0:h, 0:w]
            marks = []
            if v.pattern == "stripes":
                sprite[(yy // max(2, int(0.08 * s))) % 2 == 0] = light
            elif v.pattern == "checks":
                q = max(2, int(0.2 * s))
                sprite[((yy // q) + (xx // q)) % 2 == 0] = light
            elif v.pattern == "dots":
                q, r = max(4, int(0.22 * s)), max(1, int(0.06 * s))
                sprite[((yy % q - q // 2) ** 2 + (xx % q - q // 2) ** 2) <= r * r] = light
            elif v.pattern == "print":
                face = int(round(0.5 * s))
                cx, cy = ax + 0.05 * s, ay + 0.1 * s
                grey = _grey_face(self._prints[v.viewer_id], face, contrast=1.4)
                _blend(sprite, grey, cx, cy)
                ink = np.zeros((h, w), np.uint8)
                place(np.zeros((h, w, 3), np.uint8), ink, grey, cx, cy, 1, 1.0)
                self._sprites[("ink", v.viewer_id)] = (ink > 0) & (mask > 0)
                marks.append(placement_box(cx - ax, cy - ay, face))
            self._sprites[key] = (np.clip(sprite, 0, 255).astype(np.uint8), mask > 0, marks)
        return self._sprites[key]

    def _hair_patch(self, v: Viewer, patch: FacePatch) -> FacePatch:
        """The back of ``v``'s head, in the same square as their face patch."""
        key = (v.viewer_id, patch.side)
        if key not in self._hair_cache:
            side, s = patch.side, float(v.size)
            rng = np.random.default_rng([self.spec.seed, 23, v.viewer_id])
            strands = cv2.GaussianBlur(rng.normal(0, 1, (side, side)).astype(np.float32), (0, 0),
                                       sigmaX=0.7, sigmaY=max(1.0, 0.08 * s))
            strands /= max(1e-6, float(strands.std()))
            yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) + 0.5
            c = side / 2.0
            r2 = ((xx - c) / (0.62 * s)) ** 2 + ((yy - c) / (0.78 * s)) ** 2
            shade = np.clip(1.0 - 0.45 * r2, 0.35, 1.0) * (1.0 + 0.18 * strands)
            img = np.array(v.hair, np.float32)[None, None, :] * shade[..., None] + 6.0
            alpha = elliptical_alpha(side, 0.98 * s)[..., 0].copy()
            centre = patch.image[int(c - 0.15 * s):int(c + 0.15 * s), int(c - 0.15 * s):int(c + 0.15 * s)]
            skin = centre.reshape(-1, 3).mean(axis=0) * 0.8
            ear = np.zeros((side, side), np.uint8)
            for sgn in (-1, 1):
                cv2.ellipse(ear, (int(c + sgn * 0.6 * s), int(c + 0.08 * s)), (max(1, int(0.09 * s)),
                            max(1, int(0.16 * s))), 0, 0, 360, 1, -1)
            img[ear > 0] = skin
            alpha = np.maximum(alpha, ear.astype(np.float32))
            self._hair_cache[key] = FacePatch(img, alpha[..., None], patch.size, int(np.count_nonzero(alpha > 0.5)))
        return self._hair_cache[key]

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

    def _pose(self, v: Viewer, t: float, f: int) -> Tuple[float, float, float, float, float]:
        """Extended engine: ``(face x, face y, standing 0..1, seat x, seat y)`` before camera shake."""
        x, y, stand = v.x, v.y, 0.0
        sc, sw = self.seat_change, self.swap
        if sc and v.viewer_id == sc["viewer"]:
            x, y, stand = _path(t, sc["start"], sc["up"], sc["walk"], sc["down"], (sc["from_x"], sc["from_y"]),
                                (sc["to_x"], sc["to_y"]), sc["rise"])
        elif sw and v.viewer_id in sw["viewers"]:
            p0, p1 = (sw["a"], sw["b"]) if v.viewer_id == sw["viewers"][0] else (sw["b"], sw["a"])
            x, y, stand = _path(t, sw["start"], sw["up"], sw["cross"], sw["down"], p0, p1, sw["rise"])
        seat_y = y + (sc["rise"] if sc and v.viewer_id == sc["viewer"] else
                      sw["rise"] if sw and v.viewer_id in sw["viewers"] else 0.0) * stand
        dx, dy = self._offset(v, t, f)
        for ev in self.lean_outs:
            if ev["viewer"] == v.viewer_id:
                k = _envelope(t, ev["start"], ev["ramp"], ev["hold"])
                dx, dy = dx + k * ev["dx"], dy + k * ev["dy"]
        return x + dx, y + dy, stand, x + dx, seat_y

    def turned(self, viewer_id: int, t: float) -> Tuple[float, float]:
        """How far the head is turned away (0 facing the camera .. 1 back of the head), and to which side."""
        for ev in self.turns:
            if ev["viewer"] == viewer_id and 0.0 < t - ev["start"] < ev["dur"]:
                return max(1e-3, _envelope(t, ev["start"], ev["ramp"], ev["dur"] - 2 * ev["ramp"])), ev["side"]
        return 0.0, 0.0

    def state(self, viewer_id: int, t: float) -> str:
        """What the viewer is doing at media time ``t`` (one of :data:`STATES`)."""
        if self.turned(viewer_id, t)[0] > 0:
            return "turned_away"
        for ev in self.lean_outs:
            if ev["viewer"] == viewer_id and _envelope(t, ev["start"], ev["ramp"], ev["hold"]) > 0:
                return "leaning_out"
        sc, sw = self.seat_change, self.swap
        if sc and viewer_id == sc["viewer"] and 0 < t - sc["start"] < sc["up"] + sc["walk"] + sc["down"]:
            return "changing_seat"
        if sw and viewer_id in sw["viewers"] and 0 < t - sw["start"] < sw["up"] + sw["cross"] + sw["down"]:
            return "swapping"
        if viewer_id == self.leave["viewer"] and _envelope(t, self.leave["start"], self.leave["walk"],
                                                           self.leave["away"]) > 0:
            return "leaving"
        if self.lean and viewer_id == self.lean["viewer"] and _envelope(t, self.lean["start"], self.lean["ramp"],
                                                                        self.lean["hold"]) > 0:
            return "leaning"
        return "seated"

    def smiling(self, viewer_id: int, f: int) -> bool:
        return any(f0 <= f < f1 for f0, f1 in self._laughing.get(viewer_id, ()))

    def render(self, f: int) -> Tuple[np.ndarray, List[GtRow]]:
        """Frame ``f`` (0-based) as BGR uint8, and its ground truth rows."""
        if self.ext:
            image, rows, _ = self._render_ext(f)
            return image, rows
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

    def render_truth(self, f: int) -> Tuple[np.ndarray, List[GtRow], dict]:
        """Frame ``f``, its GT rows and the rest of its ground truth.

        The dict holds ``shake`` ``(dx, dy)`` (the picture's shift, GT
        included), ``states`` ``{viewer_id: state}``, ``facing``
        ``{viewer_id: 0/1}`` and ``distractors`` ``[(kind, box, visibility)]``
        (faces that are not viewers, frame coordinates, shake included).
        """
        if self.ext:
            return self._render_ext(f)
        image, rows = self.render(f)
        t = f / self.spec.fps
        states = {r[0]: self.state(r[0], t) for r in rows}
        return image, rows, dict(shake=(0, 0), states=states, facing={r[0]: 1 for r in rows}, distractors=[])

    def _render_ext(self, f: int) -> Tuple[np.ndarray, List[GtRow], dict]:
        """The extended engine: the scene on a world canvas with a margin, then the camera's window."""
        spec, m = self.spec, self.margin
        t, dt = f / spec.fps, 1.0 / spec.fps
        H, W = spec.height, spec.width
        canvas = self.background.copy()
        owner = np.zeros(canvas.shape[:2], np.uint8)
        sx, sy = (int(v) for v in self.shake_xy[f])
        placed, marks = [], list(self.marks)
        front = self.swap["viewers"][0] if self.swap else None
        for row in sorted({v.row for v in self.viewers}):
            members = [v for v in self.viewers if v.row == row]
            poses = {v.viewer_id: self._pose(v, t, f) for v in members}
            seated = [v for v in members if poses[v.viewer_id][2] <= 0]
            standing = sorted((v for v in members if poses[v.viewer_id][2] > 0), key=lambda v: v.viewer_id == front)
            for v in seated:
                self._body_ext(canvas, owner, v, poses[v.viewer_id], marks)
            for v in seated:
                self._paper_ext(canvas, owner, v, poses[v.viewer_id], marks)
            for v in seated:
                placed.append(self._face_ext(canvas, owner, v, poses[v.viewer_id], t, dt, f))
            if row == self.walker["row"]:
                self._walker(canvas, owner, t, m)
            for v in standing:
                self._body_ext(canvas, owner, v, poses[v.viewer_id], marks)
                self._paper_ext(canvas, owner, v, poses[v.viewer_id], marks)
                placed.append(self._face_ext(canvas, owner, v, poses[v.viewer_id], t, dt, f))
        window = (slice(m - sy, m - sy + H), slice(m - sx, m - sx + W))
        view, own = canvas[window], owner[window]
        g = 0.92 + 0.28 * math.sin(2 * math.pi * t / self.light["period"] + self.light["phase"])
        view = cv2.multiply(np.ascontiguousarray(view), (g * 1.06, g, g * 0.94, 0.0))
        pos, neg = self._noise[int(np.random.default_rng([spec.seed, 11, f]).integers(NOISE_BANK))]
        view = cv2.subtract(cv2.add(view, pos), neg)
        rows = []  # type: List[GtRow]
        states, facing = {}, {}
        for v, patch, cx, cy, label, away in placed:
            cx, cy = cx + sx, cy + sy
            x, y, w, h = placement_box(cx, cy, v.size)
            x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(float(W), x + w), min(float(H), y + h)
            if x1 <= x0 or y1 <= y0:
                continue  # out of the frame: not present
            inside = (x0, y0, x1, y1) == (x, y, x + w, y + h)
            box = (x, y, w, h) if inside else (x0, y0, x1 - x0, y1 - y0)
            vis = 0.0 if away else min(1.0, visible_fraction(own, patch, cx, cy, v.viewer_id))
            conf = int(inside and vis >= 0.5)
            rows.append((v.viewer_id, box, conf, label, vis))
            states[v.viewer_id] = self.state(v.viewer_id, t)
            facing[v.viewer_id] = int(not away)
        rows.sort()
        distractors = []
        for mk in marks:
            x, y, w, h = mk.box
            x, y = x + sx, y + sy
            x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(float(W), x + w), min(float(H), y + h)
            if x1 > x0 and y1 > y0:
                distractors.append((mk.kind, (x0, y0, x1 - x0, y1 - y0), _uncovered(own, (x, y, w, h), mk.owner)))
        return view, rows, dict(shake=(sx, sy), states=states, facing=facing, distractors=distractors)

    def _body_ext(self, canvas, owner, v: Viewer, pose, marks: List[Mark]) -> None:
        cx, cy, stand, _, seat_y = pose
        m, s = self.margin, v.size
        if stand > 0:  # standing: the torso down to the seat hides what is behind it
            p0 = (int(cx - 0.8 * s) + m, int(cy + 1.2 * s) + m)
            p1 = (int(cx + 0.8 * s) + m, int(seat_y + 2.3 * s) + m)
            cv2.rectangle(canvas, p0, p1, v.shirt, -1)
            cv2.rectangle(owner, p0, p1, BODY, -1)
        self._body(canvas, owner, cx + m, cy + m, s, v.shirt)
        if v.pattern:
            sprite, mask, prints = self._shirt(v)
            X, Y = int(cx + m), int(cy + m + 1.2 * s)
            x0, y0 = X - mask.shape[1] // 2, Y - mask.shape[0] // 2
            _paste(canvas, owner, sprite, mask, x0, y0, BODY)
            if prints:
                ink = self._sprites[("ink", v.viewer_id)]
                _paste(owner, None, np.full(ink.shape, PRINT, np.uint8), ink, x0, y0, PRINT)
            marks += [Mark("print", (bx + X - m, by + Y - m, bw, bh), PRINT) for bx, by, bw, bh in prints]

    def _paper_ext(self, canvas, owner, v: Viewer, pose, marks: List[Mark]) -> None:
        if not v.paper:
            return
        cx, cy = pose[0], pose[1]
        sprite, mask, faces, dx = self._held_paper(v)
        X, Y = int(round(cx + dx)) + self.margin, int(round(cy + 1.3 * v.size)) + self.margin
        _paste(canvas, owner, sprite, mask, X - mask.shape[1] // 2, Y - mask.shape[0] // 2, PAPER)
        marks += [Mark("paper", (bx + X - self.margin, by + Y - self.margin, bw, bh), PAPER)
                  for bx, by, bw, bh in faces]

    def _face_ext(self, canvas, owner, v: Viewer, pose, t: float, dt: float, f: int):
        cx, cy = pose[0], pose[1]
        m = self.margin
        photo = v.smiling if self.smiling(v.viewer_id, f) else v.neutral
        patch = photo.patch(v.size)
        vx = vy = 0.0
        if self.spec.motion_blur:
            px, py = self._pose(v, t - dt, max(0, f - 1))[:2]
            vx, vy = cx - px, cy - py
        k, side = self.turned(v.viewer_id, t)
        if k > 0:
            hair = self._hair_patch(v, patch)
            place(canvas, owner, motion_blurred(hair, vx, vy), cx + m, cy + m, HAIR, v.shade)
            c = math.cos(0.5 * math.pi * k)
            if c > 0.05:  # the face narrows and slides to the side as the head turns
                mid = patch.side / 2.0
                shift = side * (1.0 - c) * 0.42 * v.size
                mtx = np.array([[c, 0, mid - c * mid + shift], [0, 1, 0]], np.float64)
                face = motion_blurred(_square_warp(patch, mtx), vx, vy)
                place(canvas, owner, face, cx + m, cy + m, v.viewer_id, v.shade)
            return v, patch, cx, cy, photo.label, True
        shown = motion_blurred(patch, vx, vy)
        place(canvas, owner, shown, cx + m, cy + m, v.viewer_id, v.shade)
        return v, shown, cx, cy, photo.label, False

    @staticmethod
    def _body(canvas, owner, cx, cy, s, shirt) -> None:
        neck = ((int(cx - 0.2 * s), int(cy + 0.45 * s)), (int(cx + 0.2 * s), int(cy + 0.9 * s)))
        shoulders = ((int(cx), int(cy + 1.2 * s)), (int(0.95 * s), int(0.5 * s)))
        for img, colour in ((canvas, shirt), (owner, BODY)):
            cv2.rectangle(img, neck[0], neck[1], (40, 52, 70) if img is canvas else colour, -1)
            cv2.ellipse(img, shoulders[0], shoulders[1], 0, 0, 360, colour, -1)

    def _walker(self, canvas, owner, t, m: int = 0) -> None:
        wk = self.walker
        x = -wk["width"] + (t - wk["start"]) * wk["speed"]
        if not -wk["width"] < x < self.spec.width + wk["width"]:
            return
        head, y, width = wk["head"], wk["y"], wk["width"]
        if m:
            x, y = x + m, y + m
        for img, colour, hair in ((canvas, (30, 30, 34), (16, 18, 22)), (owner, WALKER, WALKER)):
            cv2.ellipse(img, (int(x), int(y)), (int(0.45 * head), int(0.55 * head)), 0, 0, 360, hair, -1)
            top = int(y + 0.45 * head)
            shoulders = (int(x), top + int(0.35 * head))
            cv2.ellipse(img, shoulders, (int(width / 2), int(0.45 * head)), 0, 0, 360, colour, -1)
            cv2.rectangle(img, (int(x - width / 2), top + int(0.35 * head)),
                          (int(x + width / 2), self.spec.height + 2 * m), colour, -1)

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
    """Haar (pipeline settings) on every ``every``-th frame against the visible GT boxes.

    With distractors (posters, papers, printed shirts), also how many of the
    detections sit on one (``distractor_hits``, IoU >= 0.5).
    """
    from reaction.boxes import box_iou
    from reaction.detector import DetectorConfig, FaceDetector

    detector = FaceDetector(DetectorConfig())
    hits = n_gt = n_det = on_marks = 0
    ious = []
    any_marks = False
    for f in range(0, audience.n_frames, every):
        image, rows, info = audience.render_truth(f)
        boxes = [d.box for d in detector.detect(image)]
        n_det += len(boxes)
        marks = [b for _, b, seen in info["distractors"] if seen >= 0.5]
        any_marks = any_marks or bool(marks)
        on_marks += sum(1 for b in boxes if any(box_iou(b, mk) >= 0.5 for mk in marks))
        for _, gt, conf, _, _ in rows:
            if not conf:
                continue
            n_gt += 1
            best = max((box_iou(gt, b) for b in boxes), default=0.0)
            if best >= 0.5:
                hits += 1
                ious.append(best)
    out = dict(frames=len(range(0, audience.n_frames, every)), recall=hits / max(1, n_gt),
               precision=hits / max(1, n_det), mean_iou=float(np.mean(ious)) if ious else 0.0)
    if any_marks:
        out["distractor_hits"] = on_marks
    return out


def calibrate(audience: Audience) -> dict:
    """Fit the GT box to Haar on every photograph of this audience (see :func:`fit_placement`)."""
    return fit_placement([(p, v.size) for v in audience.viewers for p in (v.neutral, v.smiling)])


def generate(spec, out_dir: str, check_every: int = 25, progress: bool = False) -> dict:
    """Write the clip and its ground truth into ``out_dir``; return the summary.

    ``spec``: an :class:`AudienceSpec`, or a preset name (``"hard"``) for
    that preset's defaults.
    """
    if isinstance(spec, str):
        spec = AudienceSpec.preset(spec)
    audience = Audience(spec)
    os.makedirs(out_dir, exist_ok=True)
    video_path = os.path.join(out_dir, "audience.mp4")
    writer = cv2.VideoWriter(video_path, cv2.VideoWriter_fourcc(*"mp4v"), spec.fps, (spec.width, spec.height))
    if not writer.isOpened():
        raise ReactionError("{}: cannot open video writer".format(video_path))
    shake = spec.shake_px > 0
    marked = bool(spec.posters or spec.clutter)
    extra = []
    with open(os.path.join(out_dir, "gt_tracks.csv"), "w") as tracks, \
            open(os.path.join(out_dir, "gt_smiles.csv"), "w") as smiles, \
            open(os.path.join(out_dir, "gt_visibility.csv"), "w") as visibility:
        if shake:
            extra.append(open(os.path.join(out_dir, "gt_camera.csv"), "w"))
            extra[-1].write("frame,dx,dy\n")
        if marked:
            extra.append(open(os.path.join(out_dir, "gt_distractors.csv"), "w"))
            extra[-1].write("frame,kind,x,y,w,h,visibility\n")
        camera = extra[0] if shake else None
        distractors = extra[-1] if marked else None
        try:
            smiles.write("frame,viewer_id,label\n")
            visibility.write("frame,viewer_id,visibility,facing,state\n")
            for f in range(audience.n_frames):
                image, rows, info = audience.render_truth(f)
                writer.write(image)
                for vid, (x, y, w, h), conf, label, vis in rows:
                    tracks.write("{},{},{:.2f},{:.2f},{:.2f},{:.2f},{},-1,-1,-1\n".format(
                        f + 1, vid, x, y, w, h, conf))
                    smiles.write("{},{},{}\n".format(f + 1, vid, label))
                    visibility.write("{},{},{:.3f},{},{}\n".format(f + 1, vid, min(1.0, vis), info["facing"][vid],
                                                                   info["states"][vid]))
                if camera is not None:
                    camera.write("{},{},{}\n".format(f + 1, *info["shake"]))
                if distractors is not None:
                    for kind, (x, y, w, h), seen in info["distractors"]:
                        distractors.write("{},{},{:.2f},{:.2f},{:.2f},{:.2f},{:.3f}\n".format(
                            f + 1, kind, x, y, w, h, seen))
                if progress and f % 250 == 0:
                    print("frame {}/{}".format(f, audience.n_frames), file=sys.stderr)
        finally:
            for fh in extra:
                fh.close()
    writer.release()
    with open(os.path.join(out_dir, "gt_laughs.jsonl"), "w") as laughs:
        for vid, f0, f1 in audience.laughs:
            laughs.write(json.dumps(dict(viewer_id=vid, start_s=f0 / spec.fps, end_s=f1 / spec.fps)) + "\n")
    events = dict(lean=audience.lean, walker=audience.walker, leave=audience.leave, light=audience.light)
    if audience.ext:
        events.update(turns=audience.turns, lean_outs=audience.lean_outs, seat_change=audience.seat_change,
                      swap=audience.swap, posters=audience.posters,
                      empty_seats=[dict(row=r, x=round(x, 1), y=round(y, 1)) for r, x, y, _ in audience.empty_seats],
                      shake_max_px=int(np.abs(audience.shake_xy).max()) if audience.n_frames else 0)
    summary = dict(
        spec=asdict(spec), frames=audience.n_frames, laughs=len(audience.laughs),
        viewers=[dict(viewer_id=v.viewer_id, name=v.name, row=v.row, size=v.size,
                      neutral=os.path.basename(v.neutral.path), smiling=os.path.basename(v.smiling.path))
                 for v in audience.viewers],
        events=events,
    )
    if check_every:
        summary["detection_check"] = detection_check(audience, check_every)
    with open(os.path.join(out_dir, "audience.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


EVENT_FLAGS = ("head_turns", "lean_outs", "seat_change", "seat_swap", "motion_blur", "clutter")


def spec_from_args(args: argparse.Namespace) -> AudienceSpec:
    """The spec for parsed CLI arguments: the preset, with what was given on the command line."""
    overrides = dict(seed=args.seed, data=args.data)
    for key in ("seconds", "fps", "viewers", "layout", "posters") + EVENT_FLAGS:
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.shake is not None:
        overrides["shake_px"] = args.shake
    if args.size is not None:
        try:
            overrides["width"], overrides["height"] = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise ReactionError("--size must look like 1280x720, got {}".format(args.size)) from None
    return AudienceSpec.preset(args.preset, **overrides)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.synth_audience", description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="classic", choices=sorted(PRESETS),
                   help="classic: 1280x720, 24 viewers, the original clip; hard: 1920x1080, 40 viewers, "
                        "every harder event (options below override the preset)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder (required unless --calibrate)")
    p.add_argument("--data", default="../shared/data", help="shared data folder holding lfw/")
    p.add_argument("--seconds", type=float, help="clip length (default 120)")
    p.add_argument("--fps", type=float, help="default 25")
    p.add_argument("--size", help="WIDTHxHEIGHT (classic 1280x720, hard 1920x1080)")
    p.add_argument("--viewers", type=int, help="classic 24 (1..40), hard 40 (1..120 with --layout tiers)")
    p.add_argument("--layout", choices=sorted(MAX_VIEWERS), help="classic: 4 rows; tiers: rows scale to 120")
    p.add_argument("--posters", type=int, help="face posters on the back wall (tiers)")
    p.add_argument("--shake", type=float, metavar="PX", help="camera shake amplitude, px at 1080 p")
    for flag in EVENT_FLAGS:  # --head-turns / --no-head-turns ... (argparse.BooleanOptionalAction needs 3.9)
        name = flag.replace("_", "-")
        p.add_argument("--" + name, dest=flag, action="store_true", default=None, help="switch {} on".format(name))
        p.add_argument("--no-" + name, dest=flag, action="store_false", default=None, help=argparse.SUPPRESS)
    p.add_argument("--calibrate", action="store_true", help="fit the GT box offset/scale and exit")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = spec_from_args(args)
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
