"""Face landmarks -> where the crop goes, so that every crop puts the mouth in the same place.

A Haar or YuNet box is loose and drifts with pose: centred on it, the mouth
lands a little higher or lower, larger or smaller, in every crop. With YuNet's
five landmarks (right eye, left eye, nose tip, right and left mouth corner, as
the person faces the camera), the crop is instead the similarity transform
(rotation, uniform scale, shift) that maps them, in the least-squares sense,
onto a fixed template. Training and run time call the same function.

Landmarks are plain ``(5, 2)`` float arrays in image pixels. Where a face has
none (a Haar detection, a predicted box), the template mapped through the box
stands in, which is exactly the box crop: one crop geometry either way.
"""

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from .types import Box, Detection, Track

Landmarks = np.ndarray  # (5, 2): right eye, left eye, nose, right mouth corner, left mouth corner

#: The landmark order of YuNet; a horizontal flip swaps the pairs.
MIRROR = (1, 0, 2, 4, 3)

# A transform whose scale strays this far from the box's, or whose centre leaves
# the box, comes from landmarks on something else (a hand, a second face): the box
# crop is safer. Real faces, turned up to profile, stayed within 1.45x.
MAX_SCALE_RATIO = 1.6


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity transform taking points ``src`` (N, 2) onto ``dst`` (N, 2).

    Umeyama's closed form without reflection: centre both sets, and the
    rotation and scale are those of the complex ratio of their correlations.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - ms, dst - md
    var = float((s**2).sum())
    if var <= 1e-12:
        raise ValueError("landmarks coincide")
    a = float((s[:, 0] * d[:, 0] + s[:, 1] * d[:, 1]).sum()) / var  # scale * cos
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / var  # scale * sin
    rot = np.array([[a, -b], [b, a]])
    return np.hstack([rot, (md - rot @ ms)[:, None]])


def box_matrix(box: Box, width: int, height: int, margin: float) -> np.ndarray:
    """The 2x3 transform of today's box crop: a square of side ``max(w, h) * (1 + margin)`` on the box centre."""
    x, y, w, h = box
    side = max(w, h) * (1.0 + margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    sx, sy = width / side, height / side
    return np.array([[sx, 0.0, width / 2.0 - cx * sx], [0.0, sy, height / 2.0 - cy * sy]], np.float64)


def crop_matrix(
    box: Box,
    landmarks: Optional[Landmarks],
    template: Optional[np.ndarray],
    width: int,
    height: int,
    margin: float,
) -> np.ndarray:
    """The 2x3 image-to-crop transform of one face.

    ``template`` is the (5, 2) landmark layout in crop fractions (0..1), or
    None for a model trained on box crops. The aligned transform is used only
    when it agrees with the box (see ``MAX_SCALE_RATIO``).
    """
    boxed = box_matrix(box, width, height, margin)
    if template is None or landmarks is None:
        return boxed
    try:
        m = similarity(landmarks, template * np.array([width, height], np.float64))
    except ValueError:
        return boxed
    ratio = float(np.hypot(m[0, 0], m[1, 0])) / boxed[0, 0]
    x, y, w, h = box
    cx, cy = np.asarray(landmarks, np.float64).mean(axis=0)
    inside = x <= cx <= x + w and y <= cy <= y + h
    if not inside or not 1.0 / MAX_SCALE_RATIO <= ratio <= MAX_SCALE_RATIO:
        return boxed
    return m


def relative(landmarks: Landmarks, box: Box) -> np.ndarray:
    """Landmarks in box fractions: ``(x - bx) / bw``, ``(y - by) / bh``."""
    x, y, w, h = box
    return (np.asarray(landmarks, np.float64) - np.array([x, y])) / np.array([max(w, 1e-6), max(h, 1e-6)])


def absolute(fractions: np.ndarray, box: Box) -> Landmarks:
    """The inverse of :func:`relative`: box fractions back to pixels on ``box``."""
    x, y, w, h = box
    return np.asarray(fractions, np.float64) * np.array([w, h]) + np.array([x, y])


def mirrored(template: np.ndarray) -> np.ndarray:
    """A (5, 2) crop-fraction layout flipped left to right, its pairs swapped."""
    flipped = np.asarray(template, np.float64)[list(MIRROR)].copy()
    flipped[:, 0] = 1.0 - flipped[:, 0]
    return flipped


def symmetric_template(layouts: Sequence[np.ndarray]) -> np.ndarray:
    """The mean of (5, 2) crop-fraction layouts, made left-right symmetric.

    Training flips crops; on a symmetric template the flip of an aligned
    crop is the aligned crop of the flipped face.
    """
    mean = np.mean(np.asarray(layouts, np.float64), axis=0)
    return (mean + mirrored(mean)) / 2.0


def template_in_crop(fractions_in_box: np.ndarray, margin: float) -> np.ndarray:
    """Where landmarks at box fractions fall in today's box crop (square boxes), in crop fractions."""
    # The crop is the box grown by ``margin`` about its centre.
    return (np.asarray(fractions_in_box, np.float64) - 0.5) / (1.0 + margin) + 0.5


def as_landmarks(values: Sequence[float]) -> Tuple[Tuple[float, float], ...]:
    """Ten numbers ``x0, y0, ..., x4, y4`` as five ``(x, y)`` pairs."""
    v = [float(a) for a in values]
    return tuple((v[2 * i], v[2 * i + 1]) for i in range(5))


class ViewerLandmarks:
    """Each viewer's last landmarks, carried on its box between detections.

    One call per frame, after the tracker: ``marks.follow(tracks,
    detections, visible)``. Landmarks are kept as fractions of
    the viewer's box on the frame they were seen, so on a frame with only a
    predicted box they move and scale with it.
    """

    def __init__(self) -> None:
        self._in_box: Dict[int, np.ndarray] = {}

    def update(self, tracks: Sequence[Track], detections: Optional[Sequence[Detection]]) -> None:
        alive = set()
        for tr in tracks:
            alive.add(tr.viewer_id)
            if detections is not None and tr.detection is not None:
                points = detections[tr.detection].landmarks
                if points is not None:
                    self._in_box[tr.viewer_id] = relative(np.asarray(points, np.float64), tr.box)
        if len(self._in_box) > len(alive):
            self._in_box = {vid: rel for vid, rel in self._in_box.items() if vid in alive}

    def follow(
        self, tracks: Sequence[Track], detections: Optional[Sequence[Detection]], visible: Sequence[Track]
    ) -> Dict[int, Landmarks]:
        """:meth:`update` with this frame's tracks, then :meth:`on` the ``visible`` viewers."""
        self.update(tracks, detections)
        return self.on(visible)

    def on(self, viewers: Sequence[Track]) -> Dict[int, Landmarks]:
        """``{viewer_id: (5, 2) landmarks}`` for the viewers that have been seen with some."""
        return {
            tr.viewer_id: absolute(self._in_box[tr.viewer_id], tr.box) for tr in viewers if tr.viewer_id in self._in_box
        }

    def reset(self) -> None:
        self._in_box = {}
