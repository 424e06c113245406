"""Stand-in for the DeepLens ``awscam`` module, for tests only.

``getLastFrame`` serves the frames of a real clip in order (decoded by the
library's own :class:`reaction.sources.VideoSource`, so they are the frames
``reaction analyze`` sees); ``Model`` runs the real exported smile-net with
MXNet, one image per ``doInference`` call, the way the optimised model does
on the device.
"""

import numpy as np

from reaction.sources import VideoSource

_frames = []  # type: list
_next = 0
_fail_calls = set()  # type: set
_calls = 0
_last_time = 0.0
models = []  # type: list


def configure(clip, max_frames=None, fail_calls=()):
    """Serve the first ``max_frames`` frames of ``clip``; call numbers in
    ``fail_calls`` (0-based) return ``(False, None)`` like a camera hiccup."""
    global _frames, _next, _fail_calls, _calls, _last_time
    _frames = []
    for frame in VideoSource(clip):
        _frames.append(frame)
        if max_frames is not None and len(_frames) >= max_frames:
            break
    _next, _calls, _last_time = 0, 0, 0.0
    _fail_calls = set(fail_calls)
    Model.fail_calls = set()
    del models[:]
    return list(_frames)


def getLastFrame():
    """``(ret, frame)``; ``(False, None)`` on an injected failure or after the clip."""
    global _next, _calls, _last_time
    call = _calls
    _calls += 1
    if call in _fail_calls or _next >= len(_frames):
        return False, None
    frame = _frames[_next]
    _next += 1
    _last_time = frame.time_s
    return True, frame.image.copy()


def last_frame_time():
    """Container timestamp of the frame served last (not part of the device API)."""
    return _last_time


class Model:
    """``awscam.Model(path_to_optimised_xml, {'GPU': 1})`` backed by MXNet on the CPU."""

    #: ``doInference`` call numbers (0-based, across models) that raise, as a GPU fault would.
    fail_calls = set()  # type: set

    def __init__(self, model_topology_file, loading_config, runtime=0):
        import mxnet as mx

        if not model_topology_file.endswith(".xml"):
            raise ValueError("expected the .xml path returned by mo.optimize, got " + model_topology_file)
        prefix = model_topology_file[: -len(".xml")]
        self.loading_config = dict(loading_config)
        self.calls = 0
        self.input_shapes = set()
        self._mx = mx
        self._net = mx.gluon.nn.SymbolBlock.imports(
            prefix + "-symbol.json", ["data"], prefix + "-0000.params", ctx=mx.cpu())
        # Keyed by the symbol's output name, as the DLDT runtime keys its results.
        self.output_name = mx.sym.load(prefix + "-symbol.json").list_outputs()[0]
        models.append(self)

    def doInference(self, video_frame):
        """One HxWxC image in, ``{output_layer: probabilities}`` out."""
        image = np.asarray(video_frame, dtype=np.float32)
        if image.ndim != 3:
            raise ValueError("doInference takes one HxWxC image, got shape {}".format(image.shape))
        call = self.calls
        self.calls += 1
        if call in Model.fail_calls:
            raise RuntimeError("stand-in: GPU inference fault on call {}".format(call))
        self.input_shapes.add(image.shape)
        batch = self._mx.nd.array(image.transpose(2, 0, 1)[None])
        out = self._net(batch).asnumpy()
        return {self.output_name: out[0]}
