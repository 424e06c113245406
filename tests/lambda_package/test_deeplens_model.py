"""The shipped smile-net in the form the DeepLens optimiser takes, with the outputs it had.

``tests/fixtures/smile-net-symbol-before-deploy.json`` is the shipped symbol as
it was before :func:`reaction.training.export.deploy_graph` (with Dropout,
ending in ``softmax``); the shipped params are the same file for both.
"""
import json
import os
import shutil

import numpy as np
import pytest

from helpers import FIXTURES, MODELS
from reaction.preprocess import InputSpec, crop_faces, model_paths
from reaction.smile import MXNetBackend, SmileNet
from reaction.training import datasets, export

BEFORE = os.path.join(FIXTURES, "smile-net-symbol-before-deploy.json")
SHIPPED = [MODELS, os.path.join(MODELS, "lfw-only")]


def _ops(sym_path):
    with open(sym_path) as f:
        return [n["op"] for n in json.load(f)["nodes"]]


@pytest.mark.parametrize("folder", SHIPPED)
def test_every_layer_of_the_shipped_symbol_is_one_deeplens_lists(folder):
    sym_path = model_paths(folder)[0]
    assert export.unsupported_layers(sym_path) == {}
    assert _ops(sym_path)[-1] == "SoftmaxActivation"


def test_the_list_flags_what_the_optimiser_does_not_take():
    # The symbol as it shipped before: two Dropout layers and a lowercase softmax.
    assert export.unsupported_layers(BEFORE) == {"Dropout": 2, "softmax": 1}


def test_deploy_graph_is_the_old_graph_minus_dropout_with_the_same_outputs(tmp_path):
    sym_path, params_path, spec_path = model_paths(MODELS)
    redone = str(tmp_path / "smile-net-symbol.json")
    shutil.copy(BEFORE, redone)
    assert export.deploy_graph(redone) == 2
    with open(redone) as a, open(sym_path) as b:
        assert json.load(a) == json.load(b)  # the shipped symbol is exactly this rewrite
    spec = InputSpec.load(spec_path)
    before = SmileNet(spec, MXNetBackend(BEFORE, params_path))
    after = SmileNet.load(MODELS)
    # Real crops: the 200 GENKI-4K test faces, each its whole image.
    images = [datasets.read_image(s.path) for s in datasets.class_folders(os.path.join(FIXTURES, "genki"))]
    batch = np.concatenate([crop_faces(im, [(0.0, 0.0, float(im.shape[1]), float(im.shape[0]))], spec)
                            for im in images])
    p_before, p_after = before.predict_batch(batch), after.predict_batch(batch)
    assert len(p_after) == 200 and 0.2 < float((p_after > 0.5).mean()) < 0.8  # not a constant output
    np.testing.assert_allclose(p_after, p_before, atol=1e-6)


def test_the_build_refuses_a_model_the_optimiser_does_not_take(tmp_path):
    import importlib.util

    from helpers import ROOT
    from reaction.types import ReactionError

    spec = importlib.util.spec_from_file_location("lambda_build", os.path.join(ROOT, "lambda_package", "build.py"))
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for path in model_paths(MODELS):
        shutil.copy(path, str(tmp_path))
    assert build.check_models(str(tmp_path))  # the shipped model passes
    shutil.copy(BEFORE, model_paths(str(tmp_path))[0])
    with pytest.raises(ReactionError, match="Dropout x2, softmax x1"):
        build.check_models(str(tmp_path))
