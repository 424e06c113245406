"""Smile data sets on disk -> labelled face crops, through the run-time detector and cropper.

Every crop is made the way the pipeline makes it on video: the library's own
Haar :class:`~reaction.detector.FaceDetector` finds the box, and
:func:`reaction.preprocess.crop_faces` cuts it. Boxes and crops are cached as
``.npz`` files so repeated runs skip detection and JPEG decoding.

Sets (paths relative to the shared data folder):

* SMILEsmileD ``smiles/smilesmiled/{positives,negatives}``: split by a fixed
  hash of the file name into train and a held-out part.
* GENKI-4K ``smiles/genki4k/{train,test}/{smile,neutral}``: ``test`` is only
  ever evaluated on.
* LFW ``lfw/images`` with ``lfw/labels/seed-rekognition-{train,val}.lst``
  (the original DeepLens project's lists) or ``lfw/labels/muxspace-emotion.csv``
  (happiness = smile, neutral = not; other emotions are dropped).
"""

import logging
import os
import zlib
from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Optional, Sequence, Union, cast

import numpy as np

from ..detector import DetectorConfig, FaceDetector
from ..preprocess import InputSpec, crop_faces
from ..types import Box, ReactionError
from .cache import TIGHT_PAD, TIGHT_UPSCALE, atomic_save, digest, image_ids, prepare_tight, read_image

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
MIN_FACE_FRACTION = {True: 0.5, False: 0.3}  # of the image side; tight crops ~100%, LFW ~45%
HELDOUT_PERCENT = 15  # SMILEsmileD held-out share


@dataclass(frozen=True)
class Sample:
    """One labelled image. ``label`` is 1 for smile, 0 for not."""

    path: str
    label: int


@dataclass
class CropSet:
    """Crops of one set, ready for training or evaluation.

    ``crops`` are raw uint8 pixels in the spec's layout (``N, C, H, W``);
    :func:`normalise` turns them into the network input exactly as
    :func:`crop_faces` does. ``detected`` is False where Haar found no face
    and the set's fallback box was used.
    """

    name: str
    paths: List[str]
    labels: np.ndarray
    crops: np.ndarray
    boxes: np.ndarray
    detected: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)


def _require_dir(path: str, what: str) -> str:
    if not os.path.isdir(path):
        raise ReactionError("{}: {} folder not found".format(path, what))
    return path


def _image_files(folder: str) -> List[str]:
    _require_dir(folder, "class")
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS))
    if not files:
        raise ReactionError("{}: class folder has no images".format(folder))
    return [os.path.join(folder, f) for f in files]


def _folder_pair(pos: str, neg: str) -> List[Sample]:
    return [Sample(p, 1) for p in _image_files(pos)] + [Sample(p, 0) for p in _image_files(neg)]


def class_folders(root: str) -> List[Sample]:
    """Samples of ``root/smile`` (label 1) and ``root/neutral`` (label 0)."""
    _require_dir(root, "data")
    return _folder_pair(os.path.join(root, "smile"), os.path.join(root, "neutral"))


def _is_heldout(path: str) -> bool:
    # crc32 of the base name: stable across machines and Python runs.
    return zlib.crc32(os.path.basename(path).encode()) % 100 < HELDOUT_PERCENT


def smilesmiled(data_dir: str, part: str = "train") -> List[Sample]:
    """SMILEsmileD samples; ``part`` is ``"train"``, ``"heldout"`` or ``"all"``."""
    root = _require_dir(os.path.join(data_dir, "smiles", "smilesmiled"), "SMILEsmileD")
    samples = _folder_pair(os.path.join(root, "positives"), os.path.join(root, "negatives"))
    if part == "all":
        return samples
    if part not in ("train", "heldout"):
        raise ReactionError("SMILEsmileD part must be train, heldout or all, got {}".format(part))
    return [s for s in samples if _is_heldout(s.path) == (part == "heldout")]


def genki(data_dir: str, split: str = "train") -> List[Sample]:
    """GENKI-4K ``train`` or ``test`` samples."""
    if split not in ("train", "test"):
        raise ReactionError("GENKI-4K split must be train or test, got {}".format(split))
    root = _require_dir(os.path.join(data_dir, "smiles", "genki4k", split), "GENKI-4K " + split)
    return class_folders(root)


def _lfw_image(images: str, base: str) -> str:
    person = base.rsplit("_", 1)[0]
    return os.path.join(images, person, base)


def lfw_rekognition(data_dir: str, split: str = "train") -> List[Sample]:
    """LFW with the original project's Rekognition smile labels (``.lst``)."""
    if split not in ("train", "val"):
        raise ReactionError("LFW rekognition split must be train or val, got {}".format(split))
    images = _require_dir(os.path.join(data_dir, "lfw", "images"), "LFW images")
    lst = os.path.join(data_dir, "lfw", "labels", "seed-rekognition-{}.lst".format(split))
    if not os.path.isfile(lst):
        raise ReactionError("{}: label file not found".format(lst))
    samples = []
    with open(lst) as f:
        for n, line in enumerate(f, 1):
            cols = [c.strip() for c in line.split("\t")]
            if len(cols) < 3:
                continue
            try:
                label = int(cols[1])
            except ValueError:
                raise ReactionError("{}:{}: smile column is not 0/1".format(lst, n)) from None
            path = _lfw_image(images, os.path.basename(cols[-1]))
            if not os.path.isfile(path):
                raise ReactionError("{}:{}: image {} does not exist".format(lst, n, path))
            samples.append(Sample(path, label))
    if not samples:
        raise ReactionError("{}: no labelled rows".format(lst))
    return samples


def lfw_muxspace(data_dir: str, only: Optional[Sequence[str]] = None) -> List[Sample]:
    """LFW with muxspace labels: happiness -> 1, neutral -> 0, others dropped.

    ``only``: keep just these image paths (e.g. the rekognition val images,
    which no model here trains on).
    """
    images = _require_dir(os.path.join(data_dir, "lfw", "images"), "LFW images")
    csv = os.path.join(data_dir, "lfw", "labels", "muxspace-emotion.csv")
    if not os.path.isfile(csv):
        raise ReactionError("{}: label file not found".format(csv))
    keep = set(only) if only is not None else None
    samples = []
    with open(csv) as f:
        for n, line in enumerate(f, 1):
            parts = line.strip().split(",")
            if n == 1 or len(parts) != 2 or parts[1] not in ("happiness", "neutral"):
                continue
            path = _lfw_image(images, parts[0])
            if keep is not None and path not in keep:
                continue
            if not os.path.isfile(path):
                raise ReactionError("{}:{}: image {} does not exist".format(csv, n, path))
            samples.append(Sample(path, int(parts[1] == "happiness")))
    return samples


def load_set(data_dir: str, name: str) -> List[Sample]:
    """Samples of a named set, e.g. ``genki-test`` or ``lfw-rekognition-val``."""
    if name.startswith("smilesmiled-"):
        return smilesmiled(data_dir, name.split("-", 1)[1])
    if name.startswith("genki-"):
        return genki(data_dir, name.split("-", 1)[1])
    if name.startswith("lfw-rekognition-"):
        return lfw_rekognition(data_dir, name.rsplit("-", 1)[1])
    if name == "lfw-muxspace-val":
        return lfw_muxspace(data_dir, [s.path for s in lfw_rekognition(data_dir, "val")])
    if name == "lfw-muxspace":
        return lfw_muxspace(data_dir)
    raise ReactionError("unknown data set {}".format(name))


def is_tight(name: str) -> bool:
    """Sets whose images are already tight face crops (no context for Haar)."""
    return name.startswith(("smilesmiled", "genki"))


def detect_face(detector: FaceDetector, image: np.ndarray, tight: bool) -> Optional[Box]:
    """The main face box in image coordinates, or None.

    Tight crops are padded and upscaled for the cascade (boxes mapped back).
    With several faces, the one nearest the image centre wins: every set
    here is centred on its subject.
    """
    h, w = image.shape[:2]
    work, pad, up = prepare_tight(image) if tight else (image, 0, 1.0)
    # Faces here fill most of the image: skipping small scales is 5-10x
    # faster and removes small false positives that could sit nearer the centre.
    found = detector.detect(work, size_band=(MIN_FACE_FRACTION[tight] * up * min(h, w), None))
    if not found:
        return None
    cx, cy = w / 2.0, h / 2.0
    boxes = [(b[0] / up - pad, b[1] / up - pad, b[2] / up, b[3] / up) for b in (d.box for d in found)]
    return min(boxes, key=lambda b: (b[0] + b[2] / 2 - cx) ** 2 + (b[1] + b[3] / 2 - cy) ** 2)


def detect_set(
    name: str,
    samples: Sequence[Sample],
    cache_dir: str,
    config: DetectorConfig = DetectorConfig(),
    root: Optional[str] = None,
) -> Dict[str, np.ndarray]:
    """Boxes for every readable sample (cached). Unreadable images are skipped with a warning.

    The cache is keyed on the images' paths below ``root`` (the data folder)
    and sizes, and on the detector settings.

    Where Haar finds nothing, the fallback box is the median of this set's
    detected boxes relative to the image size (the sets are aligned, so the
    median is a good guess); ``detected`` marks which is which.
    """
    # Only what changes whole-image detection keys the cache (min/max size are
    # overridden by the size band here).
    knobs = (config.cascade, config.scale_factor, config.min_neighbors, config.detect_width)
    key = digest(
        name,
        image_ids([s.path for s in samples], root),
        knobs,
        TIGHT_PAD,
        TIGHT_UPSCALE,
        sorted(MIN_FACE_FRACTION.items()),
    )
    path = os.path.join(cache_dir, "boxes-{}-{}.npz".format(name, key))
    if os.path.isfile(path):
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    detector = FaceDetector(config)
    keep, boxes, detected, sizes = [], [], [], []
    bad = 0
    for i, s in enumerate(samples):
        image = read_image(s.path)
        if image is None:
            bad += 1
            continue
        box = detect_face(detector, image, is_tight(name))
        keep.append(i)
        sizes.append(image.shape[:2])
        detected.append(box is not None)
        boxes.append(box if box is not None else (0.0, 0.0, 0.0, 0.0))
        if (i + 1) % 2000 == 0:
            log.info("%s: detected %d/%d", name, i + 1, len(samples))
    if bad:
        log.warning("%s: %d unreadable image(s) skipped", name, bad)
    if not keep:
        raise ReactionError("{}: no readable images".format(name))
    boxes_a = np.asarray(boxes, np.float64)
    det_a = np.asarray(detected, bool)
    hw = np.asarray(sizes, np.float64)
    rel = boxes_a[det_a] / np.concatenate([hw[det_a, ::-1], hw[det_a, ::-1]], axis=1)
    fallback = np.median(rel, axis=0) if len(rel) else np.array([0.1, 0.1, 0.8, 0.8])
    for i in np.flatnonzero(~det_a):
        boxes_a[i] = fallback * np.array([hw[i, 1], hw[i, 0], hw[i, 1], hw[i, 0]])
    labels = np.array([samples[i].label for i in keep], np.int64)
    out: Dict[str, np.ndarray] = dict(
        index=np.asarray(keep, np.int64),
        boxes=boxes_a,
        detected=det_a,
        labels=labels,
        fallback=fallback,
        unreadable=np.asarray(bad, np.int64),  # 0-d, as np.load gives it back
    )
    os.makedirs(cache_dir, exist_ok=True)
    atomic_save(path, lambda f: np.savez(f, **out))
    log.info(
        "%s: %d images, Haar found %d, fallback %d, unreadable %d", name, len(keep), det_a.sum(), (~det_a).sum(), bad
    )
    return out


def raw_spec(spec: InputSpec) -> InputSpec:
    """The same crop geometry without normalisation: crops come out as exact pixel values."""
    return replace(spec, mean=0.0, scale=1.0)


def normalise(crops: np.ndarray, spec: InputSpec) -> np.ndarray:
    """uint8 crops -> network input, with the same float32 ops as :func:`crop_faces`."""
    out = crops.astype(np.float32)
    out -= spec.mean
    out *= spec.scale
    return out


def smile_probabilities(
    score: Callable[[np.ndarray], np.ndarray], crops: np.ndarray, spec: InputSpec, batch: int = 4096
) -> np.ndarray:
    """P(smile) for uint8 crops cut with ``raw_spec(spec)``.

    ``score`` maps a normalised ``(N, C, H, W)`` float32 batch to P(smile),
    shape ``(N,)``: a trained model's :meth:`SmileNet.predict_batch`, or a
    Gluon net under training. Batches bound the float32 copy of a data set.
    """
    out = [score(normalise(crops[i : i + batch], spec)) for i in range(0, len(crops), batch)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def raw_crop(
    image: np.ndarray, box: Union[Box, np.ndarray], spec: InputSpec, landmarks: Optional[np.ndarray] = None
) -> np.ndarray:
    """One ``C, H, W`` uint8 crop: ``crop_faces`` without normalisation (exact integers).

    ``box`` is ``(x, y, w, h)``, or a row of the ``boxes`` array of :func:`detect_set`;
    ``landmarks`` is ``(5, 2)``, or None (or NaN) for the box crop.
    """
    marks = None if landmarks is None or not np.isfinite(landmarks).all() else landmarks
    return crop_faces(image, [cast(Box, tuple(box))], raw_spec(spec), [marks])[0].astype(np.uint8)


def build_crops(
    data_dir: str,
    name: str,
    spec: InputSpec,
    cache_dir: str,
    config: DetectorConfig = DetectorConfig(),
) -> CropSet:
    """Detect (cached) and crop (cached) one named set with ``crop_faces``, aligned if ``spec`` says so."""
    samples = load_set(data_dir, name)
    found = detect_set(name, samples, cache_dir, config, root=data_dir)
    paths = [samples[i].path for i in found["index"]]
    marks = None
    if spec.template is not None:
        from .landmarks import landmarks_for_set  # YuNet: only aligned models need it

        marks = landmarks_for_set(name, paths, found["boxes"], is_tight(name), cache_dir, data_dir)
    key = digest(
        name,
        image_ids(paths, data_dir),
        raw_spec(spec).to_json(),
        found["boxes"].tolist(),
        None if marks is None else np.nan_to_num(np.round(marks, 3), nan=-1).tolist(),
    )
    path = os.path.join(cache_dir, "crops-{}-{}.npy".format(name, key))
    if os.path.isfile(path):
        crops = np.load(path)
    else:
        crops = np.empty((len(paths), spec.n_channels, spec.height, spec.width), np.uint8)
        for i, p in enumerate(paths):
            image = read_image(p)
            if image is None:  # it was readable when its box was found and cached
                raise ReactionError("{}: no longer readable (its face box is cached in {})".format(p, cache_dir))
            crops[i] = raw_crop(image, found["boxes"][i], spec, None if marks is None else marks[i])
        atomic_save(path, lambda f: np.save(f, crops))
    return CropSet(name, paths, found["labels"], crops, found["boxes"], found["detected"])
