"""Augmentation and soft targets for smile-net training (:mod:`reaction.train`).

All of it works on the uint8 crops that :func:`reaction.preprocess.crop_faces`
cuts, before the shared normalisation, with a caller-owned random state so
that a training run is reproducible.
"""

import cv2
import numpy as np


def augment(crops: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """Random flip, affine jitter and brightness/contrast on uint8 ``N,C,H,W`` crops.

    Jitter is small (+-10 degrees, +-10% scale, +-6% shift): it stands in for
    Haar box wobble and head roll on video without pushing the mouth out of
    the crop (not tuned; there was no time budget for an augmentation sweep).
    """
    n, c, h, w = crops.shape
    out = np.empty_like(crops)
    for i in range(n):
        img = crops[i].transpose(1, 2, 0)
        if rng.rand() < 0.5:
            img = img[:, ::-1]
        angle = rng.uniform(-10, 10)
        scale = rng.uniform(0.9, 1.1)
        m: np.ndarray = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale)
        m[:, 2] += rng.uniform(-0.06, 0.06, 2) * (w, h)
        img = cv2.warpAffine(np.ascontiguousarray(img), m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        alpha, beta = rng.uniform(0.7, 1.3), rng.uniform(-25, 25)
        img = cv2.convertScaleAbs(img, alpha=alpha, beta=beta + (1 - alpha) * img.mean())
        out[i] = img.reshape(h, w, c).transpose(2, 0, 1)
    return out


def mixup(batch: np.ndarray, target: np.ndarray, alpha: float, rng: np.random.RandomState):
    """Blend each sample and its one-hot target with a random partner from the batch.

    The weight is drawn per sample from Beta(alpha, alpha): with small alpha
    most blends stay close to one image, and a wrongly labelled face only
    ever gets part of a target. Mixup is known to make nets fit noisy labels
    less (Zhang et al. 2018), and LFW's labels are noisy.
    """
    lam = rng.beta(alpha, alpha, len(batch)).astype(np.float32)
    partner = rng.permutation(len(batch))
    mixed = lam[:, None, None, None] * batch + (1 - lam[:, None, None, None]) * batch[partner]
    return mixed.astype(np.float32), lam[:, None] * target + (1 - lam[:, None]) * target[partner]


def smoothed_targets(labels: np.ndarray, eps: float, classes: int = 2) -> np.ndarray:
    """One-hot rows with ``eps`` of each row's mass spread evenly over all classes."""
    target = np.full((len(labels), classes), eps / classes, np.float32)
    target[np.arange(len(labels)), labels.astype(int)] += 1.0 - eps
    return target
