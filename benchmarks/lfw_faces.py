"""Real LFW faces prepared for compositing into a synthetic audience.

A viewer is an LFW identity with at least one photograph that both label sets
call clearly smiling and one they call clearly neutral. "Clearly" means the
Amazon Rekognition smile flag (seed-rekognition lists) and the independent
muxspace emotion label agree: smile=1 with ``happiness``, smile=0 with
``neutral``. The two sets disagree on about a fifth of the images, and a
photograph they disagree on would make the smile ground truth a coin toss.

Each photograph is cut around the box Haar itself finds on the 250x250
original and blended in with a soft elliptical mask. Placing a face by its own
Haar box means the neutral and the smiling photograph of a viewer land on the
same box, so switching photographs is a change of expression, not a jump.
"""
import csv
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from reaction.types import Box, ReactionError

CASCADE = "haarcascade_frontalface_alt.xml"

# How Haar's box on a composited face sits relative to the placement box
# (the photo's own Haar box scaled to ``size`` and centred on the seat).
# Fitted by ``python -m benchmarks.synth_audience --calibrate`` (median over
# every photograph of the default seed-0 audience, each rendered alone at its
# seat size on the dark background): centre offset in face sizes, width ratio.
GT_DX, GT_DY, GT_SCALE = 0.006, 0.005, 1.038

CROP = 1.6  # patch side, in Haar box widths: face plus some hair and cheek
MASK_A, MASK_B, MASK_DY, FEATHER = 0.62, 0.78, 0.05, 0.15  # in face sizes


def read_smile_labels(data_root: str) -> Dict[str, Tuple[List[str], List[str]]]:
    """``{identity: ([neutral image names], [smiling image names])}``.

    Only images both label sets cover and agree on are listed; identities
    lacking either kind are left out.
    """
    labels = os.path.join(data_root, "lfw", "labels")
    rek_files = [os.path.join(labels, "seed-rekognition-{}.lst".format(s)) for s in ("train", "val")]
    mux_file = os.path.join(labels, "muxspace-emotion.csv")
    for path in rek_files + [mux_file]:
        if not os.path.isfile(path):
            raise ReactionError("{}: LFW label file not found (check --data)".format(path))
    rek = {}  # type: Dict[str, int]
    for path in rek_files:
        with open(path) as f:
            for line in f:
                cols = [c.strip() for c in line.split("\t")]
                if len(cols) >= 10 and cols[1] in ("0", "1"):
                    rek[os.path.basename(cols[9])] = int(cols[1])
    with open(mux_file, newline="") as f:
        mux = {row["image"]: row["emotion"] for row in csv.DictReader(f)}
    by_name = {}  # type: Dict[str, Tuple[List[str], List[str]]]
    for image in sorted(rek):
        emotion = mux.get(image)
        smile = rek[image]
        if (smile, emotion) not in ((0, "neutral"), (1, "happiness")):
            continue
        name = image.rsplit("_", 1)[0]
        by_name.setdefault(name, ([], []))[smile].append(image)
    return {n: v for n, v in by_name.items() if v[0] and v[1]}


def new_cascade() -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, CASCADE))
    if cascade.empty():
        raise ReactionError("{}: OpenCV cascade missing".format(CASCADE))
    return cascade


def haar(cascade: cv2.CascadeClassifier, image: np.ndarray, min_size: int = 20) -> np.ndarray:
    """Haar boxes ``(N, 4)`` the way :class:`reaction.detector.FaceDetector` runs it."""
    grey = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    found = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
    return np.asarray(found, dtype=np.float64).reshape(-1, 4)


@dataclass
class FacePatch:
    """One photograph scaled for one seat: BGR float32 patch and alpha.

    The patch is ``side x side``; the photo's Haar box, scaled to ``size``,
    sits at its centre.
    """

    image: np.ndarray
    alpha: np.ndarray  # side x side x 1, float32 in [0, 1]
    size: int
    mask_pixels: int  # alpha > 0.5: what counts as "the face" for visibility

    @property
    def side(self) -> int:
        return self.image.shape[0]



def elliptical_alpha(side: int, size: float) -> np.ndarray:
    """Soft head-shaped mask; slightly lower than the box centre to keep the chin."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) + 0.5
    c = side / 2.0
    r = np.sqrt(((xx - c) / (MASK_A * size)) ** 2 + ((yy - c - MASK_DY * size) / (MASK_B * size)) ** 2)
    return np.clip((1.0 - r) / FEATHER, 0.0, 1.0)[..., None]


class Photo:
    """An LFW photograph with its own Haar box; makes patches at any face size."""

    def __init__(self, path: str, image: np.ndarray, box: Box, label: int) -> None:
        self.path = path
        self.image = image
        self.box = box
        self.label = label  # 1 smiling, 0 neutral
        self._cache = {}  # type: Dict[int, FacePatch]

    @classmethod
    def load(cls, data_root: str, image_name: str, label: int,
             cascade: cv2.CascadeClassifier) -> Optional["Photo"]:
        """The photo, or ``None`` if Haar does not find exactly one central face."""
        name = image_name.rsplit("_", 1)[0]
        path = os.path.join(data_root, "lfw", "images", name, image_name)
        image = cv2.imread(path)
        if image is None:
            return None
        boxes = haar(cascade, image, min_size=60)
        if len(boxes) != 1:
            return None
        x, y, w, h = boxes[0]
        cx, cy = x + w / 2.0, y + h / 2.0
        half = CROP * w / 2.0
        if min(cx - half, cy - half) < 0 or max(cx + half, cy + half) > image.shape[0]:
            return None  # the crop would run off the photograph
        return cls(path, image, (x, y, w, h), label)

    def patch(self, size: int) -> FacePatch:
        cached = self._cache.get(size)
        if cached is not None:
            return cached
        x, y, w, _ = self.box
        cx, cy = x + w / 2.0, y + w / 2.0
        side = int(round(CROP * size)) | 1  # odd, so the centre is a pixel
        k = size / w
        # Affine resample around the Haar centre: sub-pixel exact, one call.
        m = np.array([[k, 0, side / 2.0 - k * cx], [0, k, side / 2.0 - k * cy]], dtype=np.float64)
        interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
        img = cv2.warpAffine(self.image, m, (side, side), flags=interp, borderMode=cv2.BORDER_REPLICATE)
        alpha = elliptical_alpha(side, size)
        patch = FacePatch(img.astype(np.float32), alpha, size, int(np.count_nonzero(alpha > 0.5)))
        self._cache[size] = patch
        return patch


def place(canvas: np.ndarray, labels: np.ndarray, patch: FacePatch, cx: float, cy: float,
          label: int, shade: float) -> None:
    """Blend ``patch`` into the uint8 canvas centred at ``(cx, cy)``.

    ``labels`` records who owns each pixel: ``label`` where alpha > 0.5, so
    later drawing (a row nearer the camera, a passer-by) overwrites it and
    visibility can be counted exactly.
    """
    side = patch.side
    x0, y0 = int(round(cx)) - side // 2, int(round(cy)) - side // 2
    H, W = canvas.shape[:2]
    a0, b0 = max(0, x0), max(0, y0)
    a1, b1 = min(W, x0 + side), min(H, y0 + side)
    if a1 <= a0 or b1 <= b0:
        return
    px, py = a0 - x0, b0 - y0
    img = patch.image[py:py + b1 - b0, px:px + a1 - a0]
    alpha = patch.alpha[py:py + b1 - b0, px:px + a1 - a0]
    region = canvas[b0:b1, a0:a1].astype(np.float32)
    region += alpha * (img * shade - region)
    canvas[b0:b1, a0:a1] = (region + 0.5).astype(np.uint8)
    labels[b0:b1, a0:a1][alpha[..., 0] > 0.5] = label


def visible_fraction(labels: np.ndarray, patch: FacePatch, cx: float, cy: float, label: int) -> float:
    """Share of the face mask that is in frame and not covered by anything drawn later."""
    side = patch.side
    x0, y0 = int(round(cx)) - side // 2, int(round(cy)) - side // 2
    H, W = labels.shape[:2]
    a0, b0 = max(0, x0), max(0, y0)
    a1, b1 = min(W, x0 + side), min(H, y0 + side)
    total = patch.mask_pixels
    if a1 <= a0 or b1 <= b0 or total == 0:
        return 0.0
    return float(np.count_nonzero(labels[b0:b1, a0:a1] == label)) / total


def placement_box(cx: float, cy: float, size: float) -> Box:
    """The box Haar draws around a face placed at ``(cx, cy)`` with ``size``."""
    w = GT_SCALE * size
    return (cx + GT_DX * size - w / 2.0, cy + GT_DY * size - w / 2.0, w, w)


def _alone(photo: Photo, size: int) -> Tuple[np.ndarray, float]:
    """The photo drawn alone, centred, on the theatre's dark background."""
    patch = photo.patch(size)
    side = patch.side * 2
    canvas = np.full((side, side, 3), 22, np.uint8)
    place(canvas, np.zeros((side, side), np.uint8), patch, side / 2.0, side / 2.0, 1, 0.85)
    return canvas, side / 2.0


def detected_alone(cascade: cv2.CascadeClassifier, photo: Photo, size: int) -> bool:
    """Haar finds this photograph at this size, where the GT box says it is."""
    from reaction.boxes import box_iou

    canvas, c = _alone(photo, size)
    gt = placement_box(c, c, size)
    return any(box_iou(tuple(b), gt) >= 0.6 for b in haar(cascade, canvas))


def fit_placement(photos: List[Tuple[Photo, int]]) -> dict:
    """Where Haar puts its box on composited faces, relative to the placement.

    Each (photo, size) is drawn alone; the detected box's centre offset and
    width ratio, in face sizes, are reported as medians against the
    uncorrected placement, beside the ``GT_*`` constants in use.
    """
    cascade = new_cascade()
    fits = []
    for photo, size in photos:
        canvas, c = _alone(photo, size)
        for x, y, w, h in haar(cascade, canvas):
            fits.append(((x + w / 2 - c) / size, (y + h / 2 - c) / size, w / size))
    fit = np.median(np.array(fits), axis=0) if fits else np.zeros(3)
    return dict(photos=len(photos), detections=len(fits), dx=round(float(fit[0]), 3),
                dy=round(float(fit[1]), 3), scale=round(float(fit[2]), 3),
                in_use=dict(dx=GT_DX, dy=GT_DY, scale=GT_SCALE))
