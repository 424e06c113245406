"""Face detection: OpenCV's shipped Haar cascades (the default), or YuNet.

Both strategies have one call, ``detector.detect(image)``, with the same
options, and are looked up by name: ``make_detector(config)`` reads
``config.kind`` ("haar" or "yunet").
"""

import os
import threading
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .boxes import merge_boxes
from .types import Box, ConfigError, Detection, ReactionError

DEFAULT_CASCADE = "haarcascade_frontalface_alt.xml"


def cascade_path(name: str = DEFAULT_CASCADE) -> str:
    """Path of a cascade: a file path, or a name in ``cv2.data.haarcascades``.

    The DeepLens package ships the XML beside the code; ``REACTION_CASCADE_DIR``
    points there when ``cv2.data`` is absent (older device OpenCV builds).
    """
    if os.path.isfile(name):
        return name
    dirs = [os.environ.get("REACTION_CASCADE_DIR", "")]
    data = getattr(cv2, "data", None)
    if data is not None:
        dirs.append(data.haarcascades)
    dirs.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cascades"))
    for d in dirs:
        if d and os.path.isfile(os.path.join(d, name)):
            return os.path.join(d, name)
    raise ReactionError("cascade {} not found".format(name))


@dataclass(frozen=True)
class DetectorConfig:
    """Haar parameters. Sizes are in full-frame pixels.

    ``detect_width`` is the width the frame is shrunk to before the cascade
    runs (``None``: full resolution). Boxes are mapped back to full frame.
    """

    kind: str = "haar"  # or "yunet": see DETECTORS
    cascade: str = DEFAULT_CASCADE
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size: int = 20
    max_size: Optional[int] = None
    detect_width: Optional[int] = None
    # Inside a region around a known viewer a face is expected, so fewer
    # overlapping hits are needed: on the sample clip, 5 re-finds 89% of the
    # faces in their regions, 3 93%, 2 95%.
    region_min_neighbors: int = 2
    # Smallest face, in pixels, a region is shrunk to before re-detection.
    # The cascade's window is 20x20, and its boxes depend on the scale it finds
    # a face at: with the pipeline's band (smallest face 0.8x the viewer), 46
    # px puts the viewer at 58 px, where region boxes agree with full-scan
    # boxes on the synthetic audience (size ratio 1.00, IoU 0.96). With the
    # viewer at 49 px they came out 4% larger, at 42 px 6% (IoU 0.88), and
    # the smile net, trained on full-scan boxes, lost up to 3 points of
    # per-frame accuracy on such boxes.
    region_face_px: float = 46.0

    # YuNet only: the score a face needs (YuNet's own demo uses 0.6... 0.9).
    yunet_score: float = 0.6

    def validate(self) -> None:
        if self.kind not in DETECTORS:
            raise ConfigError(
                "DetectorConfig", "kind must be one of {}, got {!r}".format(", ".join(sorted(DETECTORS)), self.kind)
            )
        if not self.scale_factor > 1.0:
            raise ConfigError("DetectorConfig", "scale_factor must be > 1.0, got {}".format(self.scale_factor))
        if self.min_neighbors < 0:
            raise ConfigError("DetectorConfig", "min_neighbors must be >= 0, got {}".format(self.min_neighbors))
        if self.min_size < 1:
            raise ConfigError("DetectorConfig", "min_size must be >= 1, got {}".format(self.min_size))
        if self.max_size is not None and self.max_size < self.min_size:
            raise ConfigError(
                "DetectorConfig", "max_size must be >= min_size, got {} and {}".format(self.max_size, self.min_size)
            )
        if self.region_face_px < 20:
            raise ConfigError(
                "DetectorConfig",
                "region_face_px must be >= 20 (the cascade window), got {}".format(self.region_face_px),
            )
        if self.detect_width is not None and self.detect_width < 32:
            raise ConfigError("DetectorConfig", "detect_width must be >= 32, got {}".format(self.detect_width))


def _check_frame(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise ReactionError("frame has shape {}".format(getattr(image, "shape", None)))


def _shrunk(image: np.ndarray, width: Optional[int]) -> Tuple[np.ndarray, float]:
    """``image`` shrunk to ``width`` if it is wider, and the factor back to full frame."""
    if width is None or width >= image.shape[1]:
        return image, 1.0
    factor = image.shape[1] / float(width)
    height = int(round(image.shape[0] / factor))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), factor


def _region_patches(
    image: np.ndarray, regions: Sequence[Box], lo: float, scale: Callable[[int, int], float]
) -> Iterator[Tuple[np.ndarray, int, int, float]]:
    """``(patch, x0, y0, s)`` per region: cut from the full frame, clipped to it, shrunk by ``s``.

    ``scale(width, height)`` gives the shrink factor of a clipped region (at most 1 is used);
    a region smaller than the smallest face ``lo`` is skipped.
    """
    fh, fw = image.shape[:2]
    for rx, ry, rw, rh in regions:
        x0, y0 = max(0, int(rx)), max(0, int(ry))
        x1, y1 = min(fw, int(rx + rw) + 1), min(fh, int(ry + rh) + 1)
        if x1 - x0 < lo or y1 - y0 < lo:
            continue
        patch = image[y0:y1, x0:x1]
        s = min(1.0, scale(x1 - x0, y1 - y0))
        if s < 1.0:
            patch = cv2.resize(
                patch, (max(1, int((x1 - x0) * s)), max(1, int((y1 - y0) * s))), interpolation=cv2.INTER_AREA
            )
        yield patch, x0, y0, s


class FaceDetector:
    """Finds frontal faces. One call: ``detector.detect(image)``."""

    def __init__(self, config: DetectorConfig = DetectorConfig()) -> None:
        config.validate()
        self.config = config
        self._path = cascade_path(config.cascade)
        self._local = threading.local()
        self._cascade()  # fail now, not on the first frame

    def _cascade(self) -> "cv2.CascadeClassifier":
        # A CascadeClassifier is not safe to share between threads, and the
        # pipeline scans whole frames on a worker while re-detecting regions here.
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = cv2.CascadeClassifier(self._path)
            if cascade.empty():
                raise ReactionError("{}: not a valid Haar cascade".format(self._path))
            self._local.cascade = cascade
        return cascade

    def grey_for_detection(self, image: np.ndarray) -> Tuple[np.ndarray, float]:
        """Grey, possibly shrunk, image for the cascade, and the factor back to full frame."""
        code = None
        if image.ndim == 3:
            code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        # Shrink before converting to grey: the conversion then runs on fewer pixels.
        image, factor = _shrunk(image, self.config.detect_width)
        grey = cv2.cvtColor(image, code) if code is not None else image
        return cv2.equalizeHist(grey), factor

    def detect(
        self,
        image: np.ndarray,
        regions: Optional[Sequence[Box]] = None,
        size_band: Optional[Tuple[float, Optional[float]]] = None,
        scale_factor: Optional[float] = None,
        min_neighbors: Optional[int] = None,
    ) -> List[Detection]:
        """Faces in ``image`` (grey, BGR or BGRA uint8), in full-frame coordinates.

        ``regions``: search only inside these full-frame boxes instead of the
        whole frame; overlapping results are merged. ``size_band``: override
        the (min, max) face size in full-frame pixels for this call.
        ``scale_factor`` and ``min_neighbors``: override the cascade's scale
        step and the hits a face needs, for this call.
        """
        _check_frame(image)
        lo, hi = size_band if size_band is not None else (self.config.min_size, self.config.max_size)
        step = self.config.scale_factor if scale_factor is None else scale_factor
        if not step > 1.0:
            raise ReactionError("scale factor must be > 1.0, got {}".format(step))
        if regions is not None:
            return self._detect_regions(image, regions, lo, hi, step)
        grey, factor = self.grey_for_detection(image)
        min_px = max(1, int(lo / factor))
        max_px = int(hi / factor) if hi else 0
        neighbours = self.config.min_neighbors if min_neighbors is None else min_neighbors
        found = self._run(grey, min_px, max_px, neighbours, step)
        return [Detection(box=(x * factor, y * factor, w * factor, h * factor)) for x, y, w, h in found]

    def _detect_regions(self, image: np.ndarray, regions: Sequence[Box], lo: float, hi: Optional[float], step: float):
        # Each region is cut from the full frame and shrunk on its own so that
        # the smallest expected face is ``region_face_px``: the cascade runs on
        # a few thousand pixels, and only the region is converted to grey.
        boxes = []
        shrink = self.config.region_face_px / float(max(lo, 1.0))
        for patch, x0, y0, s in _region_patches(image, regions, lo, lambda w, h: shrink):
            if patch.ndim == 3:
                patch = cv2.cvtColor(patch, cv2.COLOR_BGRA2GRAY if patch.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
            patch = cv2.equalizeHist(patch)
            min_px = max(1, int(lo * s))
            max_px = int(hi * s) if hi else 0
            for x, y, w, h in self._run(patch, min_px, max_px, self.config.region_min_neighbors, step):
                boxes.append((x / s + x0, y / s + y0, w / s, h / s))
        return [Detection(box=b) for b in merge_boxes(boxes)]

    def _run(self, grey: np.ndarray, min_px: int, max_px: int, min_neighbors: int, step: float) -> np.ndarray:
        hits = self._cascade().detectMultiScale(
            grey,
            scaleFactor=step,
            minNeighbors=min_neighbors,
            minSize=(min_px, min_px),
            maxSize=(max_px, max_px) if max_px else (0, 0),
        )
        found = np.asarray(hits, dtype=np.float64).reshape(-1, 4)
        # OpenCV collects hits from its worker threads in whatever order they
        # finish, and new viewers get ids in detection order: sorting top to
        # bottom, left to right gives the same ids for the same video every run.
        return found[np.lexsort((found[:, 0], found[:, 1]))]


class YuNetDetector:
    """Faces from YuNet, the CNN in ``models/yunet``: finds turned and dim faces that Haar misses.

    Boxes are mapped onto Haar's geometry (square, 0.9 of YuNet's box height,
    on its centre: the median over 124 faces of the two shared clips), so
    that the smile net, trained on Haar crops, sees the crop it knows. The
    scale step and neighbour options are Haar's and do not apply here.
    """

    # Median Haar box side over YuNet box height, and Haar centre below YuNet's, in YuNet heights.
    SIDE, DROP = 0.90, -0.02

    def __init__(self, config: DetectorConfig = DetectorConfig(kind="yunet")) -> None:
        config.validate()
        from .facecheck import DEFAULT_YUNET, face_check_available

        if not face_check_available():
            raise ReactionError("OpenCV {} has no FaceDetectorYN (4.5.4 or newer needed)".format(cv2.__version__))
        self.config = config
        self._model = DEFAULT_YUNET
        self._local = threading.local()
        self._net((64, 64))  # fail now, not on the first frame

    def _net(self, size: Tuple[int, int]) -> "cv2.FaceDetectorYN":
        net = getattr(self._local, "net", None)
        if net is None:
            if not os.path.isfile(self._model):
                raise ReactionError("{}: YuNet model not found".format(self._model))
            net = cv2.FaceDetectorYN.create(self._model, "", size, self.config.yunet_score, 0.3, 5000)
            self._local.net = net
        net.setInputSize(size)
        return net

    def _run(self, bgr: np.ndarray) -> List[Tuple[Box, np.ndarray]]:
        """``(Haar-geometry box, (5, 2) landmarks)`` per face, in ``bgr``'s pixels."""
        if bgr.ndim == 2:
            bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
        elif bgr.shape[2] == 4:
            bgr = cv2.cvtColor(bgr, cv2.COLOR_BGRA2BGR)
        _, faces = self._net((bgr.shape[1], bgr.shape[0])).detect(bgr)
        found = []
        for row in faces if faces is not None else ():
            x, y, w, h = (float(v) for v in row[:4])
            side = self.SIDE * h
            cx, cy = x + w / 2.0, y + h / 2.0 + self.DROP * h
            found.append(((cx - side / 2.0, cy - side / 2.0, side, side), row[4:14].reshape(5, 2).astype(np.float64)))
        # Same order as Haar's: top to bottom, left to right, so that ids do not depend on YuNet's.
        return sorted(found, key=lambda f: (f[0][1], f[0][0]))

    def detect(
        self,
        image: np.ndarray,
        regions: Optional[Sequence[Box]] = None,
        size_band: Optional[Tuple[float, Optional[float]]] = None,
        scale_factor: Optional[float] = None,
        min_neighbors: Optional[int] = None,
    ) -> List[Detection]:
        """Faces in ``image``, in full-frame coordinates; options as :meth:`FaceDetector.detect`."""
        _check_frame(image)
        lo, hi = size_band if size_band is not None else (self.config.min_size, self.config.max_size)
        marks: Dict[Box, np.ndarray] = {}
        if regions is None:
            small, factor = _shrunk(image, self.config.detect_width)
            for (x, y, w, h), points in self._run(small):
                marks[(x * factor, y * factor, w * factor, h * factor)] = points * factor
            found = list(marks)
        else:
            # A region holds one face: at most 160 px across is plenty for YuNet, and cheap.
            for patch, x0, y0, s in _region_patches(image, regions, lo, lambda w, h: 160.0 / max(w, h)):
                for (x, y, w, h), points in self._run(patch):
                    marks[(x / s + x0, y / s + y0, w / s, h / s)] = points / s + np.array([x0, y0])
            found = merge_boxes(list(marks))
        return [
            Detection(box=b, landmarks=tuple((float(px), float(py)) for px, py in marks[b]))
            for b in found
            if b[2] >= lo and (not hi or b[2] <= hi)
        ]


#: Detection strategies by name (``DetectorConfig.kind``).
DETECTORS = {"haar": FaceDetector, "yunet": YuNetDetector}


def make_detector(config: DetectorConfig = DetectorConfig()):
    """The detector ``config.kind`` names, built with ``config``."""
    config.validate()
    return DETECTORS[config.kind](config)
