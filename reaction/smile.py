"""Smile classification: P(smile) for every tracked face of a frame in one pass.

:class:`SmileNet` owns the preprocessing contract (:class:`InputSpec`) and
hands the batched tensor to a *backend*, a callable from an ``(N, C, H, W)``
float32 array to ``(N, classes)`` probabilities. The default backend runs the
exported MXNet symbol on the CPU; the DeepLens Lambda plugs in one that runs
the model optimised for the device GPU, with no copy of this logic.
"""

import os
import warnings
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from .align import Landmarks
from .preprocess import InputSpec, crop_faces, model_paths
from .types import Box, ReactionError, Track

Backend = Callable[[np.ndarray], np.ndarray]

# The shipped model is package data, so an installed wheel has it too.
DEFAULT_MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")


def _softmax(scores: np.ndarray) -> np.ndarray:
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class MXNetBackend:
    """Runs ``<prefix>-symbol.json`` + ``<prefix>-0000.params`` with MXNet on the CPU."""

    def __init__(self, symbol_path: str, params_path: str) -> None:
        for path in (symbol_path, params_path):
            if not os.path.isfile(path):
                raise ReactionError("{}: model file not found".format(path))
        import mxnet as mx  # imported here so the Lambda's GPU path never needs it

        self._mx = mx
        try:
            with open(symbol_path) as f:
                self._symbol = mx.sym.load_json(f.read())
        except Exception as e:  # MXNet raises its own MXNetError or ValueError
            raise ReactionError("{}: corrupt model symbol ({})".format(symbol_path, _error_line(e))) from e
        try:
            with warnings.catch_warnings():
                # "Cannot decide type for data": dtype comes with the first batch.
                warnings.simplefilter("ignore", UserWarning)
                net = mx.gluon.nn.SymbolBlock.imports(symbol_path, ["data"], params_path, ctx=mx.cpu())
        except Exception as e:
            raise ReactionError(
                "{} does not match {} or is corrupt ({})".format(params_path, symbol_path, _error_line(e))
            ) from e
        # Inference runs on bound executors, not on the Gluon block: binding
        # lets MXNet fuse the graph for oneDNN, which the block's cached op
        # does not, and nearly halves the time per face (0.63 -> 0.38 ms on one
        # thread at batch 16, 1.7 -> 0.9 ms for a single face; same outputs
        # to 1e-5). One executor per batch size, all drawing on one memory pool.
        params = {name: p.data() for name, p in net.collect_params().items()}
        aux_names = set(self._symbol.list_auxiliary_states())
        self._args = {n: v for n, v in params.items() if n not in aux_names}
        self._aux = {n: v for n, v in params.items() if n in aux_names}
        self._executors: Dict[Tuple[int, ...], Any] = {}  # batch shape -> MXNet executor
        self._pool = None

    def _executor(self, shape):
        ex = self._executors.get(shape)
        if ex is None:
            ex = self._symbol.simple_bind(self._mx.cpu(), grad_req="null", data=shape, shared_exec=self._pool)
            ex.copy_params_from(self._args, self._aux)
            self._executors[shape] = ex
            if self._pool is None or shape[0] > self._pool.arg_dict["data"].shape[0]:
                self._pool = ex
        return ex

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        ex = self._executor(tuple(batch.shape))
        ex.arg_dict["data"][:] = np.asarray(batch, dtype=np.float32)
        return ex.forward(is_train=False)[0].asnumpy()


def _error_line(e: Exception) -> str:
    """The line of an MXNet error that says what went wrong (it wraps a C++ traceback)."""
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Traceback", "File ", "[bt]", "Stack trace"))]
    return (useful[-1] if useful else type(e).__name__)[:200]


class SmileNet:
    """P(smile) per face. One call: ``smile_net.predict(image, boxes)``."""

    def __init__(self, spec: InputSpec, backend: Backend, max_batch: int = 64) -> None:
        self.spec = spec
        self.backend = backend
        self.max_batch = max_batch

    @classmethod
    def load(
        cls, model_dir: Optional[str] = None, prefix: str = "smile-net", backend: Optional[Backend] = None
    ) -> "SmileNet":
        """Load the spec and, unless a backend is given, the MXNet weights."""
        model_dir = model_dir or DEFAULT_MODEL_DIR
        symbol, params, spec_path = model_paths(model_dir, prefix)
        spec = InputSpec.load(spec_path)
        return cls(spec, backend if backend is not None else MXNetBackend(symbol, params))

    def predict(
        self, image: np.ndarray, boxes: Sequence[Box], landmarks: Optional[Sequence[Optional[Landmarks]]] = None
    ) -> np.ndarray:
        """P(smile) for each box as the product reads it, shape ``(len(boxes),)``.

        ``landmarks`` (a ``(5, 2)`` array or None per box) align the crops of
        a model with an alignment template. The scores are shifted so that the
        model's run-time threshold (``threshold`` in its spec file, chosen on
        video) reads as 0.5. All faces go through the network together: one
        forward pass per frame (split only past ``max_batch`` faces).
        """
        if len(boxes) == 0:
            return np.zeros(0, np.float32)
        p = self.predict_batch(crop_faces(image, boxes, self.spec, landmarks))
        if self.spec.threshold == 0.5:
            return p
        z = np.log(np.clip(p, 1e-7, 1.0)) - np.log(np.clip(1.0 - p, 1e-7, 1.0)) - self._threshold_logit
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)

    @property
    def _threshold_logit(self) -> float:
        t = self.spec.threshold
        return float(np.log(t / (1.0 - t)))

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """The network's own P(smile) for already-preprocessed crops ``(N, C, H, W)``.

        Not shifted to the run-time threshold: training and evaluation read this.
        """
        parts = []
        for i in range(0, len(batch), self.max_batch):
            out = np.asarray(self.backend(batch[i : i + self.max_batch]), dtype=np.float64)
            out = out.reshape(len(batch[i : i + self.max_batch]), -1)
            # Exported nets end in softmax; tolerate a logits export as well.
            if np.any(out < 0) or not np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
                out = _softmax(out)
            parts.append(out[:, self.spec.smile_index])
        return np.concatenate(parts).astype(np.float32)


class SmileRate:
    """P(smile) for every visible viewer, each scored about ``hz`` times a second.

    One call per frame: ``rate.scores(image, viewers, time_s)``. A viewer is
    scored when film time enters a new period of its own phase, and keeps that
    score until the next; phases step by the golden ratio as viewers arrive,
    so every frame scores about the same share of the audience. Which viewers
    are scored depends only on frame times, never on how fast the run goes.
    ``hz = 0`` scores everyone on every frame.
    """

    def __init__(self, net: SmileNet, hz: float = 0.0) -> None:
        self.net = net
        self.hz = hz
        self._scores: Dict[int, Tuple[int, float]] = {}  # viewer_id -> (period of its last score, that P(smile))
        self._phases: Dict[int, float] = {}
        self._arrived = 0

    def _period(self, viewer_id: int, time_s: float) -> int:
        phase = self._phases.get(viewer_id)
        if phase is None:
            phase = self._phases[viewer_id] = (self._arrived * 0.6180339887) % 1.0
            self._arrived += 1
        return int(np.floor(time_s * self.hz + phase))

    def scores(
        self,
        image: np.ndarray,
        viewers: Sequence[Track],
        time_s: float,
        landmarks: Optional[Dict[int, Landmarks]] = None,
    ) -> Dict[int, float]:
        """``{viewer_id: P(smile)}`` for ``viewers``, scored now or held from their last score.

        ``landmarks``: ``{viewer_id: (5, 2)}`` for the viewers that have them, to align their crops.
        """
        due, periods = [], {}
        for tr in viewers:
            if self.hz > 0:
                periods[tr.viewer_id] = self._period(tr.viewer_id, time_s)
                held = self._scores.get(tr.viewer_id)
                if held is not None and held[0] == periods[tr.viewer_id]:
                    continue
            due.append(tr)
        if due:
            marks = landmarks or {}
            p = self.net.predict(image, [tr.box for tr in due], [marks.get(tr.viewer_id) for tr in due])
            for tr, pi in zip(due, p):
                self._scores[tr.viewer_id] = (periods.get(tr.viewer_id, 0), float(pi))
        p_smile = {tr.viewer_id: self._scores[tr.viewer_id][1] for tr in viewers}
        # Viewers gone from view are forgotten: one who comes back is scored
        # afresh, and a long run stays flat in memory.
        if len(self._scores) > len(p_smile):
            self._scores = {vid: self._scores[vid] for vid in p_smile}
            self._phases = {vid: self._phases[vid] for vid in p_smile if vid in self._phases}
        return p_smile
