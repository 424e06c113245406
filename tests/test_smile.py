"""The shipped smile-net: loads, runs, is small and is accurate on real GENKI-4K test faces.

The fixture is 200 GENKI-4K test images (100 smile, 100 neutral), never
trained on; they go through the run-time path: Haar detector (as in
training), ``crop_faces`` and the exported symbol.
"""
import json
import os
import shutil

import mxnet as mx
import numpy as np
import pytest

from reaction.training import datasets, evaluate
from reaction.training.landmarks import landmarks_for_set
from reaction.preprocess import InputSpec, crop_faces, model_paths
from reaction.smile import SmileNet
from reaction.types import ReactionError

from helpers import MODELS as MODEL, ROOT
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "genki")
# On this fixture the shipped model scores 93.5% (ROC AUC 0.987) on aligned crops; on the full GENKI-4K
# test it scores 91.5% (reaction/models/README.md). The floor sits about 1.3 standard errors (200 images)
# under the latter; the box-crop model that shipped before scored 89.5% here.
FIXTURE_ACCURACY_FLOOR = 0.89
STANDARD_OPS = {"null", "Convolution", "BatchNorm", "Activation", "Pooling", "FullyConnected",
                "Flatten", "softmax", "SoftmaxActivation", "elemwise_add", "_plus", "Dropout", "broadcast_add"}


@pytest.fixture(scope="module")
def model():
    return SmileNet.load(MODEL)


def test_export_is_one_data_input_two_class_softmax_with_standard_ops():
    sym_path, params_path, _ = model_paths(MODEL)
    net = mx.gluon.nn.SymbolBlock.imports(sym_path, ["data"], params_path)
    probs = net(mx.nd.random.uniform(-1, 1, (4, 1, 48, 48))).asnumpy()
    assert probs.shape == (4, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    sym = mx.sym.load(sym_path)
    assert sym.list_inputs()[0] == "data"
    assert [n for n in sym.list_arguments() if not n.endswith(("weight", "bias", "gamma", "beta"))] == ["data"]
    ops = {n["op"] for n in json.load(open(sym_path))["nodes"]}
    assert ops <= STANDARD_OPS, ops - STANDARD_OPS


def test_shipped_model_is_small():
    _, params_path, spec_path = model_paths(MODEL)
    assert os.path.getsize(params_path) <= 2 * 1024 * 1024
    with open(spec_path) as f:
        spec = json.load(f)
    assert spec["classes"][1] == "smile" and spec["layout"] == "NCHW"


def test_accuracy_on_genki_test_fixture(model, tmp_path):
    samples = datasets.class_folders(FIXTURE)
    assert sum(s.label for s in samples) == 100 and len(samples) == 200
    found = datasets.detect_set("genki-fixture", samples, str(tmp_path))
    assert found["detected"].mean() > 0.8
    paths = [samples[i].path for i in found["index"]]
    marks = [None] * len(paths)
    if model.spec.template is not None:  # aligned crops, on YuNet's landmarks as in the pipeline
        marks = list(landmarks_for_set("genki-fixture", paths, found["boxes"], True, str(tmp_path), None))
        assert np.isfinite(np.asarray(marks)[:, 0, 0]).mean() > 0.8
    probs = []
    for path, box, points in zip(paths, found["boxes"], marks):
        points = points if points is not None and np.isfinite(points).all() else None
        # The run-time crop; the network's own P(smile), before the run-time threshold shift.
        probs.append(model.predict_batch(crop_faces(datasets.read_image(path), [tuple(box)], model.spec,
                                                    [points]))[0])
    m = evaluate.metrics(found["labels"], np.asarray(probs))
    assert m["accuracy"] >= FIXTURE_ACCURACY_FLOOR, m
    assert m["roc_auc"] >= 0.95, m


def test_batch_and_single_predictions_agree(model):
    image = datasets.read_image(os.path.join(FIXTURE, "smile", sorted(os.listdir(os.path.join(FIXTURE, "smile")))[0]))
    boxes = [(2.0, 2.0, 60.0, 60.0), (0.0, 5.0, 50.0, 50.0), (10.0, 0.0, 54.0, 54.0)]
    together = model.predict(image, boxes)
    alone = np.array([model.predict(image, [b])[0] for b in boxes])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert together.shape == (3,)
    np.testing.assert_array_equal(crop_faces(image, boxes[:1], model.spec)[0],
                                  crop_faces(image, boxes, model.spec)[0])


def test_bound_executors_give_what_the_gluon_block_gives():
    # The backend runs bound executors, one per batch size, sharing memory;
    # the exported files must still mean the same through SymbolBlock.imports.
    sym_path, params_path, _ = model_paths(MODEL)
    block = mx.gluon.nn.SymbolBlock.imports(sym_path, ["data"], params_path)
    fresh = SmileNet.load(MODEL)
    folder = os.path.join(FIXTURE, "smile")
    crops = np.concatenate([
        crop_faces(datasets.read_image(os.path.join(folder, f)), [(0.0, 0.0, 64.0, 64.0)], fresh.spec)
        for f in sorted(os.listdir(folder))[:20]])
    for n in (1, 20, 7, 1, 16):  # a larger batch first, then smaller ones from the shared pool
        want = block(mx.nd.array(crops[:n])).asnumpy()
        np.testing.assert_allclose(fresh.backend(crops[:n]), want, atol=1e-5)
    assert len(fresh.backend._executors) == 4


def test_params_not_matching_symbol_names_both_files(tmp_path):
    sym_path, params_path, spec_path = model_paths(MODEL)
    bad_sym, bad_params, bad_spec = model_paths(str(tmp_path))
    shutil.copy(sym_path, bad_sym)
    shutil.copy(spec_path, bad_spec)
    net = mx.gluon.nn.Dense(2)
    net.initialize()
    net(mx.nd.zeros((1, 3)))
    net.save_parameters(bad_params)
    with pytest.raises(ReactionError) as e:
        SmileNet.load(str(tmp_path))
    assert bad_params in str(e.value) and bad_sym in str(e.value)


def test_run_time_threshold_reads_as_one_half(model, tmp_path):
    # A copy of the model whose spec sets the run-time threshold at 0.3: predict()
    # shifts the logit so that P = 0.3 from the network reads as 0.5 downstream.
    symbol, params, spec_path = model_paths(MODEL)
    for path in (symbol, params):
        shutil.copy(path, str(tmp_path))
    spec = InputSpec.load(spec_path)
    InputSpec(**{**spec.__dict__, "threshold": 0.3}).save(str(tmp_path / os.path.basename(spec_path)))
    shifted = SmileNet.load(str(tmp_path))
    folder = os.path.join(FIXTURE, "smile")
    raws, reads = [], []
    for f in sorted(os.listdir(folder))[:30]:
        image = datasets.read_image(os.path.join(folder, f))
        box = [(0.0, 0.0, 64.0, 64.0)]
        # The training tools read the network's own P (predict_batch), unshifted.
        raws.append(model.predict_batch(crop_faces(image, box, model.spec))[0])
        reads.append(shifted.predict(image, box)[0])
    raws, reads = np.array(raws), np.array(reads)
    odds = raws / (1 - raws) / (0.3 / 0.7)
    np.testing.assert_allclose(reads, odds / (1 + odds), atol=1e-5)
    assert ((raws >= 0.3) == (reads >= 0.5)).all() and ((raws >= 0.3) != (raws >= 0.5)).any()
