"""Face crops for smile-net, shared by training and run time.

The model's input contract lives in ``models/smile-net.json`` beside the
weights, and is read into :class:`InputSpec`. :func:`crop_faces` is the single
function that turns frame + boxes into the network's input tensor; training
calls it too, so what the model sees in training is what it sees on video.
"""

import json
import os
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from .align import Landmarks, crop_matrix
from .types import Box, ReactionError


@dataclass(frozen=True)
class InputSpec:
    """How a face box becomes one network input.

    Attributes:
        width, height: network input size in pixels.
        channels: ``"grey"``, ``"bgr"`` or ``"rgb"``.
        mean, scale: ``x = (pixel - mean) * scale`` per channel.
        margin: the square crop side is ``max(w, h) * (1 + margin)``, centred
            on the box, so the mouth and chin are never cut off.
        classes: class names in output order; ``"smile"`` must be present.
        template: where the five face landmarks go in the crop, ``(5, 2)``
            crop fractions, for a model trained on aligned crops; None for
            box crops (:mod:`reaction.align`).
        threshold: the P(smile) at which the product calls a face smiling,
            chosen on video; :class:`~reaction.smile.SmileNet` shifts the
            model's logit so that this reads as 0.5 downstream.
    """

    width: int = 48
    height: int = 48
    channels: str = "grey"
    mean: float = 127.5
    scale: float = 1.0 / 127.5
    margin: float = 0.1
    classes: Tuple[str, ...] = ("neutral", "smile")
    template: Optional[Tuple[Tuple[float, float], ...]] = None
    threshold: float = 0.5

    @property
    def template_array(self) -> Optional[np.ndarray]:
        return None if self.template is None else np.asarray(self.template, np.float64)

    @property
    def n_channels(self) -> int:
        return 1 if self.channels == "grey" else 3

    @property
    def smile_index(self) -> int:
        return self.classes.index("smile")

    def to_json(self) -> dict:
        out = {
            "input_size": [self.width, self.height],
            "channels": self.channels,
            "mean": self.mean,
            "scale": self.scale,
            "margin": self.margin,
            "classes": list(self.classes),
            "layout": "NCHW",
        }
        if self.template is not None:
            out["align_template"] = [[round(x, 5), round(y, 5)] for x, y in self.template]
        if self.threshold != 0.5:
            out["threshold"] = self.threshold
        return out

    @classmethod
    def load(cls, path: str) -> "InputSpec":
        try:
            with open(path) as f:
                raw = json.load(f)
            w, h = raw["input_size"]
            spec = cls(
                width=int(w),
                height=int(h),
                channels=str(raw["channels"]),
                mean=float(raw["mean"]),
                scale=float(raw["scale"]),
                margin=float(raw.get("margin", 0.0)),
                classes=tuple(raw["classes"]),
                template=_template(raw.get("align_template")),
                threshold=float(raw.get("threshold", 0.5)),
            )
        except FileNotFoundError:
            raise ReactionError("{}: model spec file not found".format(path)) from None
        except (ValueError, KeyError, TypeError) as e:
            raise ReactionError("{}: malformed model spec ({})".format(path, e)) from e
        if spec.channels not in ("grey", "bgr", "rgb") or "smile" not in spec.classes:
            raise ReactionError("{}: unsupported channels or no 'smile' class".format(path))
        if not 0.0 < spec.threshold < 1.0:
            raise ReactionError("{}: threshold {} is not between 0 and 1".format(path, spec.threshold))
        return spec

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            json.dump(self.to_json(), f, indent=2)
            f.write("\n")


def _template(raw) -> Optional[Tuple[Tuple[float, float], ...]]:
    if raw is None:
        return None
    points = tuple((float(x), float(y)) for x, y in raw)
    if len(points) != 5:
        raise ValueError("align_template needs 5 points, has {}".format(len(points)))
    return points


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Normalise a grey, BGR or BGRA uint8 image to 3-channel BGR.

    Returns the input itself when it is already BGR, so the hot path pays
    nothing for the common case.
    """
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise ReactionError("frame is empty or not an array")
    if image.dtype != np.uint8:
        raise ReactionError("frame dtype {} is not uint8".format(image.dtype))
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    raise ReactionError("frame shape {} is not grey, BGR or BGRA".format(image.shape))


def _crop_one(image: np.ndarray, box: Box, landmarks: Optional[Landmarks], spec: InputSpec) -> np.ndarray:
    # One affine warp crops, aligns, scales and pads (edge replicate) in a single pass.
    m = crop_matrix(box, landmarks, spec.template_array, spec.width, spec.height, spec.margin)
    shrinking = float(np.hypot(m[0, 0], m[1, 0])) < 1.0
    return cv2.warpAffine(
        image,
        m,
        (spec.width, spec.height),
        flags=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def crop_faces(
    image: np.ndarray,
    boxes: Sequence[Box],
    spec: InputSpec,
    landmarks: Optional[Sequence[Optional[Landmarks]]] = None,
) -> np.ndarray:
    """Crop every box of one frame into an ``(N, C, H, W)`` float32 batch.

    ``image`` is grey, BGR or BGRA uint8. Boxes may extend past the frame.
    ``landmarks`` (one ``(5, 2)`` array or None per box) align the crops of a
    model with a template; other models ignore them.
    """
    out = np.empty((len(boxes), spec.n_channels, spec.height, spec.width), np.float32)
    if not boxes:
        return out
    marks = list(landmarks) if landmarks is not None else [None] * len(boxes)
    if len(marks) != len(boxes):
        raise ReactionError("{} landmark sets for {} boxes".format(len(marks), len(boxes)))
    if spec.channels == "grey":
        grey = image if image.ndim == 2 else None
        for i, box in enumerate(boxes):
            if grey is not None:
                patch = _crop_one(grey, box, marks[i], spec)
            else:
                # Crop in colour then convert: far cheaper than converting the frame.
                patch = _crop_one(image, box, marks[i], spec)
                patch = cv2.cvtColor(patch, cv2.COLOR_BGRA2GRAY if patch.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
            out[i, 0] = patch
    else:
        bgr = as_bgr(image)
        for i, box in enumerate(boxes):
            patch = _crop_one(bgr, box, marks[i], spec)
            if spec.channels == "rgb":
                patch = patch[:, :, ::-1]
            out[i] = patch.transpose(2, 0, 1)
    out -= spec.mean
    out *= spec.scale
    return out


def model_paths(model_dir: str, prefix: str = "smile-net") -> Tuple[str, str, str]:
    """Symbol, params and spec paths of a model in ``model_dir``."""
    return (
        os.path.join(model_dir, prefix + "-symbol.json"),
        os.path.join(model_dir, prefix + "-0000.params"),
        os.path.join(model_dir, prefix + ".json"),
    )
