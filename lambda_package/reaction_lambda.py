"""AWS DeepLens inference Lambda for reaction (handler: ``reaction_lambda.function_handler``).

A thin wrapper: every stage (detection, tracking, smile-net, laugh
smoothing, message format) is the ``reaction`` library; this file connects
the device to it. As in the DeepLens samples, the inference loop starts once
when Greengrass imports the module, and the handler does nothing.

* frames: ``awscam.getLastFrame()``;
* smile-net: optimised with ``mo.optimize`` and run by ``awscam.Model`` on the
  GPU, or, if the optimiser fails, the library's MXNet CPU path (a status
  message says so);
* laugh events, heartbeats and status lines: published with the Greengrass
  SDK to ``$aws/things/<AWS_IOT_THING_NAME>/infer``;
* live view: annotated frames into the ``/tmp/results.mjpeg`` FIFO.

Settings come from the Lambda's environment (all optional except the thing
name, which the device sets): ``REACTION_PROFILE`` (accurate | balanced |
fast, default balanced), ``REACTION_SCREENING_ID`` (default
``live-<UTC start time>``), ``REACTION_HEARTBEAT_S`` (default 10),
``REACTION_LIVE_VIEW`` (1 or 0, default 1), ``REACTION_FIFO``,
``REACTION_MODEL_DIR`` (default the ``reaction/models/`` shipped in the package).
"""
import importlib
import json
import logging
import os
import platform
import threading
import time

# Only the Greengrass SDK (bundled, pure Python) at module level. Everything
# else, the device's numpy, OpenCV and MXNet included, is imported by
# import_library() inside the retried start-up, so that a version mismatch on
# the device is published as a status line instead of killing the Lambda
# before it can say why.
import greengrasssdk

log = logging.getLogger("reaction_lambda")

MODEL_PREFIX = "smile-net"
STARTUP_BACKOFF_S = (1.0, 60.0)  # first and largest wait between failed starts

#: greengrasssdk 1.6.1 defaults ``queueFullPolicy`` to ``''``: a full Greengrass queue then drops
#: the message and ``publish`` returns as if it were sent. ``AllOrException`` makes it raise, which
#: is what keeps an unsent laugh event in :class:`device_loop.Messenger`'s backlog.
QUEUE_FULL_POLICY = "AllOrException"

#: ``mo.optimize`` auxiliary inputs. ``--epoch 0``: the params file is ``smile-net-0000.params``.
#: ``--precision FP32``: the GPU then computes what MXNet computes on the CPU (docs/deeplens.md).
MO_AUX_INPUTS = {"--epoch": 0, "--precision": "FP32"}

#: The device's own modules that the library needs, named with their versions when an import fails.
DEVICE_MODULES = ("numpy", "cv2", "scipy", "filterpy", "mxnet")

STATUS_SCHEMA_VERSION = 1  # reaction.iot.schema.SCHEMA_VERSION, for status lines sent without it
_STARTED = time.gmtime()


class NoSmileBackend(Exception):
    """Neither the GPU path nor MXNet on the CPU can run smile-net."""


def greengrass_publisher(client):
    """``publish(topic, payload)`` that raises when Greengrass does not take the message."""

    def publish(topic, payload):
        client.publish(topic=topic, payload=payload, queueFullPolicy=QUEUE_FULL_POLICY)

    return publish


_imported = False


def import_library() -> None:
    """Import the device modules and the library into this module (once; raises ImportError)."""
    global _imported, awscam, cv2, mo, AwscamBackend, DeviceLoop, EventSink, Messenger
    global DEFAULT_FIFO, LatestFrameFifo, face_check_available, ReactionPipeline, profile_config
    global InputSpec, model_paths, check_id, deeplens_topic, DEFAULT_MODEL_DIR, MXNetBackend, SmileNet
    global ReactionError
    if _imported:
        return
    # awscam before cv2: on the device, cv2 needs the libraries awscam loads (DeepLens docs).
    import awscam
    import cv2
    import mo

    from device_loop import AwscamBackend, DeviceLoop, EventSink, Messenger
    from mjpeg_fifo import DEFAULT_FIFO, LatestFrameFifo
    from reaction.facecheck import face_check_available
    from reaction.pipeline import ReactionPipeline, profile_config
    from reaction.preprocess import InputSpec, model_paths
    from reaction.iot.schema import check_id, deeplens_topic
    from reaction.smile import DEFAULT_MODEL_DIR, MXNetBackend, SmileNet
    from reaction.types import ReactionError

    _imported = True


def device_versions() -> str:
    """``Python 3.7.x, numpy 1.16.5, scipy not importable (...), ...``: what the device has."""
    found = ["Python " + platform.python_version()]
    for name in DEVICE_MODULES:
        try:
            module = importlib.import_module(name)
        except Exception as e:  # a broken install raises more than ImportError
            found.append("{} not importable ({}: {})".format(name, type(e).__name__, e))
        else:
            found.append("{} {}".format(name, getattr(module, "__version__", "(no __version__)")))
    return ", ".join(found)


def bare_status(publish, env, level: str, message: str, **fields) -> None:
    """A status line built with the standard library alone, for when the library does not import."""
    thing = env.get("AWS_IOT_THING_NAME", "")
    if not thing:  # no topic to report on: the Greengrass log is all there is
        log.error("%s", message)
        return
    log.log(logging.ERROR if level == "error" else logging.INFO, "%s", message)
    now = time.time()
    body = {
        "schema_version": STATUS_SCHEMA_VERSION, "kind": "status", "device_id": thing,
        "screening_id": env.get("REACTION_SCREENING_ID") or _default_screening(),
        "wall_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".{:03d}Z".format(int(now % 1 * 1000)),
        "level": level, "message": message[:1000],
    }
    body.update(fields)
    try:
        publish("$aws/things/{}/infer".format(thing), json.dumps(body, separators=(",", ":"), sort_keys=True))
    except Exception as e:
        log.error("publish of a status line failed: %s", e)


def _default_screening() -> str:
    return "live-" + time.strftime("%Y%m%dT%H%M%SZ", _STARTED)


class Settings:
    """The Lambda's configuration, read from its environment."""

    def __init__(self, env) -> None:
        import_library()
        thing = env.get("AWS_IOT_THING_NAME", "")
        if not thing:
            raise ReactionError("AWS_IOT_THING_NAME is not set: deploy the function to a DeepLens device")
        self.topic = deeplens_topic(thing)
        self.device_id = check_id(thing, "AWS_IOT_THING_NAME")
        self.screening_id = check_id(env.get("REACTION_SCREENING_ID") or _default_screening(), "REACTION_SCREENING_ID")
        self.profile = env.get("REACTION_PROFILE") or "balanced"
        self.heartbeat_s = _seconds(env, "REACTION_HEARTBEAT_S", 10.0)
        live = env.get("REACTION_LIVE_VIEW", "1")
        if live not in ("0", "1"):
            raise ReactionError("REACTION_LIVE_VIEW: expected 0 or 1, got {!r}".format(live))
        self.live_view = live == "1"
        self.fifo = env.get("REACTION_FIFO") or DEFAULT_FIFO
        self.model_dir = env.get("REACTION_MODEL_DIR") or DEFAULT_MODEL_DIR


def _seconds(env, name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ReactionError("{}: expected seconds > 0, got {!r}".format(name, text))
    return value


def load_smile_net(model_dir: str, messenger):
    """SmileNet on the GPU if the device optimiser accepts the model, else on the CPU.

    Returns ``(smile_net, backend_name)``. The spec (input size, channels,
    normalisation) always comes from the packaged ``smile-net.json``.
    """
    symbol, params, spec_path = model_paths(model_dir, MODEL_PREFIX)
    spec = InputSpec.load(spec_path)
    aux = dict(MO_AUX_INPUTS)
    if spec.n_channels != 3:  # the optimiser assumes 3-channel input unless told
        aux["--img-channels"] = spec.n_channels
    try:
        error, path = mo.optimize(MODEL_PREFIX, spec.width, spec.height, "mxNet", aux)
    except Exception as e:
        reason = "mo.optimize raised {}: {}".format(type(e).__name__, e)
    else:
        if error == 0 and path:
            try:
                model = awscam.Model(path, {"GPU": 1})
            except Exception as e:
                reason = "awscam.Model({}) failed: {}: {}".format(path, type(e).__name__, e)
            else:
                messenger.status("info", "smile-net optimised for the GPU: {}".format(path), backend="gpu")
                return SmileNet(spec, AwscamBackend(model, len(spec.classes))), "gpu"
        else:
            reason = "mo.optimize('{}', {}, {}) returned error code {}".format(
                MODEL_PREFIX, spec.width, spec.height, error)
    try:
        net = SmileNet(spec, MXNetBackend(symbol, params))
    except (ImportError, OSError) as e:  # OSError: a shared library of MXNet's that does not load
        raise NoSmileBackend("no smile-net backend: {}, and MXNet does not import on the CPU ({}: {}) "
                             "(Python {})".format(reason, type(e).__name__, e, platform.python_version()))
    messenger.status("warning", "{}; running smile-net with MXNet on the CPU instead".format(reason),
                     backend="mxnet-cpu")
    return net, "mxnet-cpu"


def build_loop(settings, messenger, clock, sleep, frame_time=None):
    """Everything the loop needs; raises on a problem the caller retries."""
    import_library()
    config = profile_config(settings.profile)
    if not face_check_available():
        # Older device OpenCV builds have no cv2.FaceDetectorYN (OpenCV 4.5.4+): Haar finds the
        # faces and nothing checks them.
        config = profile_config(settings.profile, kind="haar", face_check=False)
        messenger.status("warning", "OpenCV {} has no FaceDetectorYN: faces are found by the Haar cascade and "
                         "not checked by YuNet, so a Haar false positive can count as a viewer".format(
                             cv2.__version__))
    smile_net, backend = load_smile_net(settings.model_dir, messenger)
    pipeline = ReactionPipeline(config, sinks=[EventSink(messenger)], smile_net=smile_net)
    live_view = LatestFrameFifo(settings.fifo).start() if settings.live_view else None
    messenger.status(
        "info", "reaction started: profile {}, smile-net on {}, screening {}".format(
            settings.profile, backend, settings.screening_id),
        backend=backend,
    )
    return DeviceLoop(awscam.getLastFrame, pipeline, messenger, backend, live_view=live_view,
                      heartbeat_s=settings.heartbeat_s, clock=clock, sleep=sleep, frame_time=frame_time)


def run(stop=None, env=None, client=None, max_steps=None, clock=time.monotonic, sleep=None,
        frame_time=None):
    """The inference loop: start (retrying with capped backoff), then step until ``stop``.

    Returns the :class:`DeviceLoop` (``None`` if it never started), for tests.
    """
    stop = stop if stop is not None else threading.Event()
    env = os.environ if env is None else env
    sleep = sleep if sleep is not None else stop.wait
    client = client if client is not None else greengrasssdk.client("iot-data")
    publish = greengrass_publisher(client)
    loop, messenger, attempt, started = None, None, 0, clock()
    while loop is None and not stop.is_set():
        try:
            if messenger is None:
                settings = Settings(env)
                messenger = Messenger(publish, settings.topic, settings.device_id, settings.screening_id)
            loop = build_loop(settings, messenger, clock, sleep, frame_time)
        except Exception as e:
            attempt += 1
            delay = min(STARTUP_BACKOFF_S[1], STARTUP_BACKOFF_S[0] * 2 ** (attempt - 1))
            if isinstance(e, ImportError):
                text = "start failed: cannot import {} ({}: {}); found {}; retrying in {:g} s".format(
                    e.name or "the library", type(e).__name__, e, device_versions(), delay)
            else:
                text = "start failed ({}: {}); retrying in {:g} s".format(type(e).__name__, e, delay)
            if messenger is not None:
                messenger.status("error", text, retry_in_s=delay)
                if isinstance(e, NoSmileBackend):  # no loop, so no heartbeat would say it otherwise
                    messenger.heartbeat(frames=0, viewers=0, fps=0.0, errors=attempt, backend="none",
                                        uptime_s=round(max(0.0, clock() - started), 3))
            else:
                bare_status(publish, env, "error", text, retry_in_s=delay)
            sleep(delay)
    if loop is None:
        return None
    steps = 0
    try:
        while not stop.is_set() and (max_steps is None or steps < max_steps):
            loop.step()
            steps += 1
    finally:
        loop.finish()
        messenger.status("info", "reaction stopped after {} frames, {} errors".format(loop.frames, loop.errors))
    return loop


_thread = None
_stop = threading.Event()


def start() -> threading.Thread:
    """Start the inference loop thread, once per process."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=run, kwargs={"stop": _stop}, name="reaction-inference")
        _thread.start()
    return _thread


def function_handler(event, context):
    """Greengrass entry point. Unused: the loop runs from import time."""
    return


if not logging.getLogger().handlers:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

if os.environ.get("REACTION_LAMBDA_AUTOSTART", "1") != "0":
    start()
