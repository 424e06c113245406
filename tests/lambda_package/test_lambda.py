"""The DeepLens Lambda, run against stand-ins of the device modules.

``tests/device_standins`` replaces ``awscam`` (real frames of the sample
clip; the real exported smile-net through MXNet), ``mo`` (error or path, as
the test chooses) and ``greengrasssdk`` (publishes recorded).
"""
import errno
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import replace

import cv2
import jsonschema
import numpy as np
import pytest

from helpers import MODELS, ROOT, SAMPLE_CLIP
from reaction.pipeline import ReactionPipeline, profile_config
from reaction.preprocess import InputSpec, model_paths
from reaction.iot.schema import MESSAGE_SCHEMA, event_id
from reaction.sinks import ListSink
from reaction.smile import MXNetBackend, SmileNet
from reaction.types import ReactionError

LAMBDA_DIR = os.path.join(ROOT, "lambda_package")
STANDINS = os.path.join(ROOT, "tests", "device_standins")
THING = "deeplens_test-01"
TOPIC = "$aws/things/{}/infer".format(THING)
N_FRAMES = 150  # 5 s of the sample clip: enough for laughs, cheap enough for the suite
DEVICE_MODULES = ("awscam", "mo", "greengrasssdk", "reaction_lambda", "device_loop", "mjpeg_fifo")


@pytest.fixture(scope="module")
def lam():
    """The Lambda modules, imported with the stand-ins and without autostart."""
    saved_path = list(sys.path)
    saved_env = os.environ.get("REACTION_LAMBDA_AUTOSTART")
    sys.path[:0] = [STANDINS, LAMBDA_DIR]
    os.environ["REACTION_LAMBDA_AUTOSTART"] = "0"
    try:
        import awscam
        import device_loop
        import greengrasssdk
        import mjpeg_fifo
        import mo
        import reaction_lambda

        class Modules:
            pass

        m = Modules()
        m.awscam, m.mo, m.gg, m.app, m.loop, m.fifo = awscam, mo, greengrasssdk, reaction_lambda, device_loop, mjpeg_fifo
        yield m
        assert reaction_lambda._thread is None  # importing never started the loop here
    finally:
        sys.path[:] = saved_path
        if saved_env is None:
            os.environ.pop("REACTION_LAMBDA_AUTOSTART", None)
        else:
            os.environ["REACTION_LAMBDA_AUTOSTART"] = saved_env
        for name in DEVICE_MODULES:
            sys.modules.pop(name, None)


def run_lambda(lam, tmp_path, n_frames, mo_error=0, read_failures=(), gpu_faults=(), profile="fast",
               live_view=False, queue_full=0):
    frames = lam.awscam.configure(SAMPLE_CLIP, max_frames=n_frames, fail_calls=read_failures)
    lam.awscam.Model.fail_calls = set(gpu_faults)
    lam.mo.configure(error=mo_error, models_dir=MODELS)
    client = lam.gg.client("iot-data")
    client.queue_full = queue_full
    env = {
        "AWS_IOT_THING_NAME": THING, "REACTION_SCREENING_ID": "clip-1", "REACTION_PROFILE": profile,
        "REACTION_HEARTBEAT_S": "1", "REACTION_LIVE_VIEW": "1" if live_view else "0",
        "REACTION_FIFO": str(tmp_path / "results.mjpeg"), "REACTION_MODEL_DIR": MODELS,
    }
    sleeps = []
    # Frame times and the heartbeat clock are the clip's own timestamps, so
    # the run is deterministic and matches the library run frame for frame.
    loop = lam.app.run(env=env, client=client, max_steps=len(frames) + len(read_failures),
                       clock=lam.awscam.last_frame_time, sleep=sleeps.append,
                       frame_time=lam.awscam.last_frame_time)
    # Every publish asked Greengrass to raise on a full queue, and so nothing was dropped unseen.
    assert set(client.policies) == {"AllOrException"} and client.dropped == []
    return loop, frames, client.published, sleeps


def split_messages(lam, published):
    """Validate every payload; return (event messages, status/heartbeat messages)."""
    events, others = [], []
    for topic, payload in published:
        assert topic == TOPIC
        body = json.loads(payload)  # every payload is one valid JSON document
        if "events" in body:
            jsonschema.validate(body, MESSAGE_SCHEMA)
            assert len(body["events"]) == 1  # one laugh per message
            events.append(body["events"][0])
        elif body.get("type") == "presence":  # who is on screen: reaction.iot.presence
            from reaction.iot.presence import PRESENCE_SCHEMA

            jsonschema.validate(body, PRESENCE_SCHEMA)
        else:
            jsonschema.validate(body, lam.loop.STATUS_SCHEMA)
            others.append(body)
    return events, others


def key(ev):
    return (ev["viewer_id"], ev["media_start_s"], ev["media_end_s"], ev["n_frames"])


def library_events(frames, profile="fast"):
    pipeline = ReactionPipeline(replace(profile_config(profile), model_dir=MODELS), sinks=[ListSink()])
    for frame in frames:
        pipeline.process(frame)
    pipeline.finish()
    return pipeline.events


def assert_same_events(published, expected):
    assert [key(e) for e in published] == [
        (e.viewer_id, round(e.start_s, 3), round(e.end_s, 3), e.n_frames) for e in expected
    ]
    for got, want in zip(published, expected):
        # One crop per GPU call vs one batch per frame on the CPU: float noise only.
        assert got["peak"] == pytest.approx(want.peak, abs=2e-4)
        assert got["mean"] == pytest.approx(want.mean, abs=2e-4)
        assert got["event_id"] == event_id(THING, "clip-1", want.viewer_id, want.start_s)


@pytest.fixture(scope="module")
def reference(lam):
    """What the library finds on the clip's first frames, with the config the Lambda runs
    (``reaction analyze --profile fast`` is this pipeline plus a JSONL sink)."""
    frames = lam.awscam.configure(SAMPLE_CLIP, max_frames=N_FRAMES)
    events = library_events(frames)
    assert events, "the sample clip must produce laughs for these tests to mean anything"
    return events


def test_gpu_path_publishes_what_the_library_finds(lam, reference, tmp_path):
    loop, frames, published, sleeps = run_lambda(lam, tmp_path, n_frames=N_FRAMES, live_view=True)
    assert len(frames) == N_FRAMES == loop.frames and loop.errors == 0 and sleeps == []
    events, others = split_messages(lam, published)
    assert_same_events(events, reference)

    # The smile net really ran on the "GPU": optimised at the spec's size, one crop per call.
    spec = InputSpec.load(model_paths(MODELS)[2])
    name, width, height, _platform, aux = lam.mo.calls[0]
    assert (name, width, height) == ("smile-net", spec.width, spec.height)
    # The params file is -0000, and FP32 keeps the GPU's outputs those of the CPU.
    channels = {} if spec.n_channels == 3 else {"--img-channels": spec.n_channels}
    assert aux == dict({"--epoch": 0, "--precision": "FP32"}, **channels)
    (model,) = lam.awscam.models
    assert model.loading_config == {"GPU": 1} and model.calls > 0
    assert model.input_shapes == {(spec.height, spec.width, spec.n_channels)}
    assert loop.backend == "gpu"
    # Crop for crop, the "GPU" path gives the library's CPU probabilities.
    cpu = SmileNet.load(MODELS)
    compared = 0
    for frame in frames[::10]:
        boxes = [d.box for d in loop.pipeline.detector.detect(frame.image)]
        gpu_p = loop.pipeline.smile_net.predict(frame.image, boxes)
        np.testing.assert_allclose(gpu_p, cpu.predict(frame.image, boxes), atol=1e-5)
        compared += len(boxes)
    assert compared >= 5

    beats = [m for m in others if m["kind"] == "heartbeat"]
    assert len(beats) == int(frames[-1].time_s)  # one per second of clip
    assert beats[-1]["frames"] < N_FRAMES and all(b["backend"] == "gpu" for b in beats)
    assert all(25 <= b["fps"] <= 35 for b in beats[1:])  # clip time: ~29.97 frames per second
    assert any(b["viewers"] > 0 for b in beats)
    assert others[-1]["kind"] == "status" and "stopped after {} frames".format(N_FRAMES) in others[-1]["message"]
    # The live view was on with no reader: it dropped frames and inference never waited.
    assert os.path.exists(str(tmp_path / "results.mjpeg")) and loop.live_view.written == 0


def test_optimiser_failure_falls_back_to_mxnet_and_says_so(lam, reference, tmp_path):
    loop, frames, published, _ = run_lambda(lam, tmp_path, n_frames=N_FRAMES, mo_error=2)
    events, others = split_messages(lam, published)
    warnings = [m for m in others if m["kind"] == "status" and m["level"] == "warning"]
    assert len(warnings) == 1
    assert "error code 2" in warnings[0]["message"] and "MXNet on the CPU" in warnings[0]["message"]
    assert warnings[0]["backend"] == "mxnet-cpu"
    assert isinstance(loop.pipeline.smile_net.backend, MXNetBackend)
    assert lam.awscam.models == []  # nothing was loaded on the GPU
    assert all(m["backend"] == "mxnet-cpu" for m in others if m["kind"] == "heartbeat")
    assert_same_events(events, reference)


def test_failed_frames_are_reported_and_the_loop_goes_on(lam, tmp_path):
    # Camera hiccups on reads 3 and 40-42; the GPU faults on its 6th inference.
    loop, frames, published, sleeps = run_lambda(
        lam, tmp_path, n_frames=120, read_failures=(3, 40, 41, 42), gpu_faults=(5,))
    events, others = split_messages(lam, published)
    errors = [m for m in others if m["kind"] == "status" and m["level"] == "error"]
    assert len(errors) == 5 and loop.errors == 5
    assert sum("getLastFrame returned no frame" in m["message"] for m in errors) == 4
    (fault,) = [m for m in errors if "RuntimeError" in m["message"]]
    assert "stand-in: GPU inference fault" in fault["message"]
    # Capped exponential backoff, reset by the first good frame; never a blind 15 s.
    assert sorted(sleeps) == sorted([0.1, 0.1, 0.2, 0.4, 0.1])
    assert [m["retry_in_s"] for m in errors] == sleeps
    # Every frame but the faulted one was processed, and frames after the fault too.
    assert loop.frames == len(frames) - 1 == 119
    assert lam.awscam.models[0].calls > 6
    beats = [m for m in others if m["kind"] == "heartbeat"]
    assert beats[-1]["errors"] == 5 and beats[-1]["frames"] > beats[0]["frames"]


def test_backoff_is_capped(lam):
    class Silent:
        def __init__(self):
            self.sent = []

        def status(self, level, message, **fields):
            self.sent.append((level, message, fields))

        def heartbeat(self, **fields):
            pass

    messenger, sleeps = Silent(), []
    loop = lam.loop.DeviceLoop(lambda: (False, None), pipeline=None, messenger=messenger, backend="gpu",
                               heartbeat_s=1e9, sleep=sleeps.append, backoff_s=0.1, max_backoff_s=5.0)
    for _ in range(10):
        assert loop.step() is False
    assert sleeps == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0]
    assert all(level == "error" for level, _, _ in messenger.sent) and len(messenger.sent) == 10


def test_the_sdk_default_policy_drops_on_a_full_queue_without_raising(lam):
    # greengrasssdk 1.6.1: queueFullPolicy defaults to '', and a full queue then raises nothing.
    client = lam.gg.client("iot-data")
    client.queue_full = 1
    assert client.publish(topic=TOPIC, payload="lost") is None
    assert client.dropped == [(TOPIC, "lost")] and client.published == []
    with pytest.raises(ValueError, match="queueFullPolicy"):
        client.publish(topic=TOPIC, payload="x", queueFullPolicy="AllOrError")


def test_publish_failure_keeps_the_event_until_greengrass_takes_it(lam):
    client = lam.gg.client("iot-data")
    messenger = lam.loop.Messenger(lam.app.greengrass_publisher(client), TOPIC, THING, "clip-1")
    from reaction.types import LaughEvent

    client.queue_full = 2
    messenger.event(LaughEvent(1, 1.0, 2.0, 0.9, 0.8, 30))  # first try fails
    messenger.event(LaughEvent(2, 3.0, 4.0, 0.95, 0.85, 30))  # retry of #1 fails, both wait
    assert client.published == [] and len(messenger.backlog) == 2
    messenger.heartbeat(frames=1, viewers=0, fps=1.0, errors=0, uptime_s=1.0)  # drains first
    assert [json.loads(p)["events"][0]["viewer_id"] for _, p in client.published[:2]] == [1, 2]
    assert json.loads(client.published[2][1])["kind"] == "heartbeat"
    assert client.dropped == [] and set(client.policies) == {"AllOrException"}


def test_a_full_greengrass_queue_during_a_run_loses_no_laugh(lam, reference, tmp_path):
    # On these frames the Lambda publishes 2 status lines, 3 heartbeats, the first laugh, then
    # more heartbeats. The first 7 publishes find Greengrass's queue full: the laugh and its
    # first retry fail, and it still arrives, before the stop line.
    loop, frames, published, _ = run_lambda(lam, tmp_path, n_frames=N_FRAMES, queue_full=7)
    events, others = split_messages(lam, published)
    assert loop.messenger.failed == 7 and loop.messenger.dropped == 0 and not loop.messenger.backlog
    first_event = next(i for i, (_, p) in enumerate(published) if '"events"' in p)
    assert first_event < len(published) - 1 and "stopped after" in others[-1]["message"]
    assert_same_events(events, reference)


def test_status_schema_rejects_incomplete_messages(lam):
    good = {"schema_version": 1, "kind": "heartbeat", "device_id": THING, "screening_id": "s",
            "wall_time": "2026-11-23T19:30:00.000Z", "frames": 3, "viewers": 1, "fps": 9.5, "errors": 0,
            "uptime_s": 1.0}
    jsonschema.validate(good, lam.loop.STATUS_SCHEMA)
    for broken in ({"fps": None}, {"kind": "status"}, {"extra": 1}, {"frames": -1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(dict(good, **broken), lam.loop.STATUS_SCHEMA)
    jsonschema.validate(dict(good, kind="status", level="error", message="frame 3 failed"), lam.loop.STATUS_SCHEMA)


def test_bad_settings_name_the_variable(lam):
    with pytest.raises(ReactionError, match="AWS_IOT_THING_NAME"):
        lam.app.Settings({})
    with pytest.raises(ReactionError, match="REACTION_HEARTBEAT_S"):
        lam.app.Settings({"AWS_IOT_THING_NAME": THING, "REACTION_HEARTBEAT_S": "soon"})
    with pytest.raises(ReactionError, match="REACTION_SCREENING_ID"):
        lam.app.Settings({"AWS_IOT_THING_NAME": THING, "REACTION_SCREENING_ID": "a b"})
    s = lam.app.Settings({"AWS_IOT_THING_NAME": THING})
    assert s.topic == TOPIC and s.screening_id.startswith("live-") and s.profile == "balanced"


def _read_jpeg(fd, timeout=5.0):
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError as e:
            if e.errno != errno.EAGAIN:
                raise
            chunk = b""
        data += chunk
        end = data.find(b"\xff\xd9")
        if data.startswith(b"\xff\xd8") and end > 0:
            return data[: end + 2]
        if not chunk:
            time.sleep(0.01)
    raise AssertionError("no JPEG from the FIFO within {} s (got {} bytes)".format(timeout, len(data)))


def test_fifo_writer_never_blocks_inference(lam, tmp_path):
    path = str(tmp_path / "results.mjpeg")
    fifo = lam.fifo.LatestFrameFifo(path, height=120, retry_s=0.05).start()
    frame = np.zeros((1080, 1920, 3), np.uint8)
    durations = []

    def inference():
        for _ in range(200):
            t0 = time.perf_counter()
            fifo.set_frame(frame)
            durations.append(time.perf_counter() - t0)

    worker = threading.Thread(target=inference)
    worker.start()
    worker.join(5.0)
    assert not worker.is_alive(), "set_frame blocked with no reader on the FIFO"
    assert len(durations) == 200 and max(durations) < 0.05
    assert fifo.written == 0 and not fifo.reader_attached and fifo.dropped == 199

    # A reader attaches: the first thing it gets is the newest frame, scaled
    # to the stream height (the 200 black ones before it were dropped).
    marked = np.full((1080, 1920, 3), 200, np.uint8)
    fifo.set_frame(marked)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        image = cv2.imdecode(np.frombuffer(_read_jpeg(reader), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (120, 213, 3) and abs(float(image.mean()) - 200) < 3
    finally:
        os.close(reader)
    # The reader leaves: the writer notices, keeps running and never blocks the caller.
    for _ in range(100):
        fifo.set_frame(marked)
        time.sleep(0.01)
        if not fifo.reader_attached:
            break
    assert not fifo.reader_attached and fifo._thread.is_alive()
    fifo.stop()
    assert not fifo._thread.is_alive()


def test_fifo_path_taken_by_a_regular_file(lam, tmp_path):
    path = tmp_path / "results.mjpeg"
    path.write_text("not a pipe")
    with pytest.raises(ReactionError, match="not a FIFO"):
        lam.fifo.LatestFrameFifo(str(path)).start()


def _tiny_wheel(folder):
    path = os.path.join(str(folder), "tinydep-1.0-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("tinydep/__init__.py", "VALUE = 42\n")
        z.writestr("tinydep/tests/test_tiny.py", "assert False\n")
        z.writestr("tinydep-1.0.dist-info/METADATA",
                   "Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\nRequires-Dist: numpy\n")
        z.writestr("tinydep-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("tinydep-1.0.dist-info/RECORD", "")
    return path


def _build_module():
    spec = importlib.util.spec_from_file_location("lambda_build", os.path.join(LAMBDA_DIR, "build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_package_layout_imports_and_python37_modules(lam, tmp_path):
    build = _build_module()

    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    _tiny_wheel(wheel_dir)
    # Offline: pip picks the cached wheel with the device's platform tags.
    wheels = build.download_wheels(["tinydep==1.0"], str(wheel_dir), offline=True)
    assert [os.path.basename(w) for w in wheels] == ["tinydep-1.0-py3-none-any.whl"]
    assert build.wheel_requirements(wheels[0]) == ["numpy"]
    out = str(tmp_path / "pkg.zip")
    build.build_zip(out, wheels, MODELS)
    first = open(out, "rb").read()
    build.build_zip(out, wheels, MODELS)
    assert open(out, "rb").read() == first  # reproducible

    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        for f in model_paths(MODELS):
            assert z.read("reaction/models/" + os.path.basename(f)) == open(f, "rb").read()
        cascade = z.read("reaction/cascades/haarcascade_frontalface_alt.xml")
        z.extractall(str(tmp_path / "unpacked"))
    assert cascade == open(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_alt.xml"), "rb").read()
    assert {"reaction_lambda.py", "device_loop.py", "mjpeg_fifo.py", "reaction/__init__.py",
            "reaction/pipeline.py", "tinydep/__init__.py"} <= names
    assert "build.py" not in names and not any("/tests/" in n or "__pycache__" in n for n in names)
    packed = sorted(n for n in names if n.startswith("reaction/") and n.endswith(".py"))
    assert packed == [os.path.relpath(f, ROOT) for f in build.lambda_modules()]
    assert not any(n.startswith(("reaction/training/", "reaction/cli/")) for n in names)

    # Import the Lambda from the unpacked package as the device would, with a
    # device OpenCV that has no cv2.data: everything must come from the zip.
    probe = (
        "import os, sys, cv2\n"
        "del cv2.data\n"
        "import reaction_lambda, reaction.detector as d\n"
        "reaction_lambda.import_library()  # what the retried start-up imports\n"
        "root = os.path.abspath('.')\n"
        "print(d.cascade_path())\n"
        "for m in list(sys.modules.values()):\n"
        "    f = getattr(m, '__file__', None) or ''\n"
        "    if f.startswith(root) and f.endswith('.py'): print(os.path.relpath(f, root))\n"
    )
    env = dict(os.environ, REACTION_LAMBDA_AUTOSTART="0", PYTHONPATH=STANDINS, PYTHONDONTWRITEBYTECODE="1")
    env.pop("REACTION_CASCADE_DIR", None)
    res = subprocess.run([sys.executable, "-c", probe], cwd=str(tmp_path / "unpacked"), env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split()
    assert lines[0] == os.path.join(str(tmp_path / "unpacked"), "reaction", "cascades",
                                    "haarcascade_frontalface_alt.xml")
    imported = sorted(set(lines[1:]))
    assert "reaction_lambda.py" in imported and "reaction/pipeline.py" in imported

    # What the Lambda really imported is what build.py finds, and so what `make vermin` checks.
    found = {os.path.relpath(f, ROOT) for f in build.lambda_files() + build.lambda_modules()}
    assert {rel for rel in imported if rel.startswith("reaction/")} == {f for f in found if f.startswith("reaction/")}
    listed = subprocess.run(["make", "-s", "-n", "vermin"], cwd=ROOT, stdout=subprocess.PIPE,
                            universal_newlines=True).stdout
    assert "build.py --list-modules" in listed
    vermin = os.path.join(os.path.dirname(sys.executable), "vermin")
    res = subprocess.run([vermin, "--target=3.7-", "--no-tips", "--violations", "-q"] + imported,
                         cwd=str(tmp_path / "unpacked"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True)
    assert res.returncode == 0, res.stdout


def test_import_starts_the_loop_once_and_the_handler_does_nothing(tmp_path):
    # A fresh interpreter, as Greengrass runs it: no autostart override. The
    # stand-in camera has no clip loaded, so every read fails and is reported.
    probe = (
        "import sys, threading, time, json\n"
        "import reaction_lambda, greengrasssdk\n"
        "import reaction_lambda as again\n"
        "assert again.start() is reaction_lambda._thread\n"
        "assert reaction_lambda.function_handler({'x': 1}, None) is None\n"
        "def errors():\n"
        "    return [p for c in greengrasssdk.clients for _, p in c.published if '\"error\"' in p]\n"
        "deadline = time.monotonic() + 60\n"
        "while len(errors()) < 3 and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "names = [t.name for t in threading.enumerate()]\n"
        "reaction_lambda._stop.set(); reaction_lambda._thread.join(10)\n"
        "print(json.dumps({'threads': names, 'alive': reaction_lambda._thread.is_alive(),\n"
        "                  'published': [p for c in greengrasssdk.clients for _, p in c.published]}))\n"
    )
    env = dict(os.environ, AWS_IOT_THING_NAME=THING, REACTION_MODEL_DIR=MODELS, REACTION_LIVE_VIEW="1",
               REACTION_FIFO=str(tmp_path / "results.mjpeg"), REACTION_PROFILE="fast",
               PYTHONPATH=os.pathsep.join([STANDINS, LAMBDA_DIR, ROOT]))
    env.pop("REACTION_LAMBDA_AUTOSTART", None)
    res = subprocess.run([sys.executable, "-W", "ignore", "-c", probe], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["threads"].count("reaction-inference") == 1 and not out["alive"]
    messages = [json.loads(p) for p in out["published"]]
    # No optimised model at /opt/awscam/artifacts here: awscam.Model fails, the CPU path takes over.
    assert "awscam.Model(" in messages[0]["message"] and messages[0]["backend"] == "mxnet-cpu"
    assert "reaction started" in messages[1]["message"]
    failures = [m for m in messages if m.get("level") == "error"]
    assert len(failures) >= 3 and all("getLastFrame" in m["message"] for m in failures)
    assert [m["retry_in_s"] for m in failures[:3]] == [0.1, 0.2, 0.4]  # backing off, not flooding
    assert "stopped after 0 frames" in messages[-1]["message"]


def test_a_device_opencv_without_yunet_falls_back_to_haar_and_says_so(lam, monkeypatch):
    published = []
    messenger = lam.loop.Messenger(lambda t, p: published.append(json.loads(p)), TOPIC, THING, "clip-1")
    settings = lam.app.Settings({"AWS_IOT_THING_NAME": THING, "REACTION_MODEL_DIR": MODELS})
    monkeypatch.setattr(lam.app, "face_check_available", lambda: False)
    loop = lam.app.build_loop(settings, messenger, clock=time.monotonic, sleep=lambda s: None)
    config = loop.pipeline.config
    assert config.detector.kind == "haar" and not config.face_check
    assert config.full_scan_every == profile_config(settings.profile, kind="haar").full_scan_every
    assert any("FaceDetectorYN" in m.get("message", "") and m.get("level") == "warning" for m in published)
    monkeypatch.setattr(lam.app, "face_check_available", lambda: True)
    assert lam.app.build_loop(settings, messenger, clock=time.monotonic,
                              sleep=lambda s: None).pipeline.config.detector.kind == "yunet"


def test_a_library_import_failure_is_published_and_retried(lam):
    # A fresh interpreter where scipy does not import (None in sys.modules is how Python spells
    # a module that must not load), as with a scipy built for another numpy on the device.
    probe = (
        "import sys, json, time\n"
        "sys.modules['scipy'] = None\n"
        "import reaction_lambda, greengrasssdk\n"
        "def sent():\n"
        "    return [p for c in greengrasssdk.clients for _, p in c.published]\n"
        "deadline = time.monotonic() + 60\n"
        "while len(sent()) < 2 and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "reaction_lambda._stop.set(); reaction_lambda._thread.join(10)\n"
        "print(json.dumps({'alive': reaction_lambda._thread.is_alive(), 'published': sent(),\n"
        "                  'policies': [p for c in greengrasssdk.clients for p in c.policies]}))\n"
    )
    env = dict(os.environ, AWS_IOT_THING_NAME=THING, REACTION_MODEL_DIR=MODELS, REACTION_LIVE_VIEW="0",
               REACTION_SCREENING_ID="clip-1", PYTHONPATH=os.pathsep.join([STANDINS, LAMBDA_DIR, ROOT]))
    env.pop("REACTION_LAMBDA_AUTOSTART", None)
    res = subprocess.run([sys.executable, "-W", "ignore", "-c", probe], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert not out["alive"] and set(out["policies"]) == {"AllOrException"}
    messages = [json.loads(p) for p in out["published"]]
    assert len(messages) >= 2
    for m in messages:
        jsonschema.validate(m, lam.loop.STATUS_SCHEMA)
        assert (m["kind"], m["level"], m["device_id"], m["screening_id"]) == ("status", "error", THING, "clip-1")
        # It names the module that failed and what the device has.
        assert "cannot import scipy" in m["message"] and "numpy {}".format(np.__version__) in m["message"]
        assert "scipy not importable" in m["message"] and "Python " in m["message"]
    assert [m["retry_in_s"] for m in messages[:2]] == [1.0, 2.0]  # the start-up backoff


def test_no_gpu_and_no_mxnet_publishes_backend_none_and_retries(lam, tmp_path, monkeypatch):
    # The optimiser fails and MXNet does not import in this runtime: no smile-net can run.
    monkeypatch.setitem(sys.modules, "mxnet", None)
    lam.awscam.configure(SAMPLE_CLIP, max_frames=5)
    lam.mo.configure(error=2, models_dir=MODELS)
    client = lam.gg.client("iot-data")
    stop, sleeps = threading.Event(), []

    def sleep(delay):
        sleeps.append(delay)
        if len(sleeps) == 3:
            stop.set()

    env = {"AWS_IOT_THING_NAME": THING, "REACTION_SCREENING_ID": "clip-1", "REACTION_LIVE_VIEW": "0",
           "REACTION_MODEL_DIR": MODELS}
    assert lam.app.run(stop=stop, env=env, client=client, sleep=sleep) is None  # never started
    assert sleeps == [1.0, 2.0, 4.0] and lam.awscam.models == []
    events, others = split_messages(lam, client.published)
    assert events == []
    errors = [m for m in others if m["kind"] == "status" and m["level"] == "error"]
    beats = [m for m in others if m["kind"] == "heartbeat"]
    assert len(errors) == 3 and len(beats) == 3  # one error status and one heartbeat per attempt
    assert all("error code 2" in m["message"] and "MXNet does not import" in m["message"] for m in errors)
    assert [m["retry_in_s"] for m in errors] == sleeps
    assert all(b["backend"] == "none" and b["frames"] == 0 and b["viewers"] == 0 for b in beats)
    assert [b["errors"] for b in beats] == [1, 2, 3]


def test_module_load_imports_only_the_greengrass_sdk():
    probe = (
        "import sys, reaction_lambda\n"
        "print(sorted(m for m in ('numpy', 'cv2', 'scipy', 'filterpy', 'mxnet', 'reaction', 'awscam', 'mo',\n"
        "                         'device_loop', 'greengrasssdk') if m in sys.modules))\n"
    )
    env = dict(os.environ, REACTION_LAMBDA_AUTOSTART="0", PYTHONPATH=os.pathsep.join([STANDINS, LAMBDA_DIR, ROOT]))
    res = subprocess.run([sys.executable, "-c", probe], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["['greengrasssdk']"]
