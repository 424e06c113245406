"""Box geometry, in one place: IoU and the merging of overlapping boxes.

Boxes are ``(x, y, w, h)`` in pixels, as everywhere in the package.
"""

from typing import List, Sequence

import numpy as np

from .types import Box


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` arrays of boxes: shape ``(N, M)``."""
    ax0, ay0 = a[:, None, 0], a[:, None, 1]
    ax1, ay1 = ax0 + a[:, None, 2], ay0 + a[:, None, 3]
    bx0, by0 = b[None, :, 0], b[None, :, 1]
    bx1, by1 = bx0 + b[None, :, 2], by0 + b[None, :, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = (a[:, None, 2] * a[:, None, 3]) + (b[None, :, 2] * b[None, :, 3]) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def box_iou(a: Box, b: Box) -> float:
    """IoU of two boxes."""
    return float(iou_matrix(np.array([a], float), np.array([b], float))[0, 0])


def merge_boxes(boxes: Sequence[Box], iou_threshold: float = 0.3) -> List[Box]:
    """Drop boxes that overlap an earlier, larger one by ``iou_threshold`` or more.

    Detector regions overlap, so one face can be found twice.
    """
    order = sorted(boxes, key=lambda b: -b[2] * b[3])
    if not order:
        return []
    array = np.array(order, float)
    iou = iou_matrix(array, array)
    kept: List[int] = []
    for i in range(len(order)):
        if all(iou[i, k] < iou_threshold for k in kept):
            kept.append(i)
    return [order[i] for i in kept]
