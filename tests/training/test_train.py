"""Training, data loading and preprocessing of smile-net (seconds, on fixture images)."""
import argparse
import json
import logging
import os
import shutil

import cv2
import mxnet as mx
import numpy as np
import pytest

from helpers import FIXTURES

from reaction import align
from reaction.cli import train as train_cli
from reaction.training.cache import is_dev
from reaction.training import augment, calibration, config, datasets, distill, ensemble, evaluate, export, train, weight_average
from reaction.preprocess import InputSpec, crop_faces, model_paths
from reaction.smile import SmileNet
from reaction.types import ReactionError

FIXTURE = os.path.join(FIXTURES, "genki")


def _fake_data(root, n=12, split="train"):
    """A shared-data layout holding ``n`` fixture images per class as GENKI ``split``."""
    for cls in ("smile", "neutral"):
        dst = os.path.join(root, "smiles", "genki4k", split, cls)
        os.makedirs(dst)
        for f in sorted(os.listdir(os.path.join(FIXTURE, cls)))[:n]:
            shutil.copy(os.path.join(FIXTURE, cls, f), dst)
    return str(root)


def _tiny_config(data, out, **options):
    """A one-epoch run of a tiny net on the fake GENKI train set."""
    settings = dict(sets=["genki-train"], widths=(8, 16), size=32, epochs=1, batch_size=8, dev_percent=20)
    settings.update(options)
    return config.TrainConfig(data=data, out=out, **settings)


def _losses(data, tmp_path, option, values):
    """The loss of one tiny run per value of ``option``, all with one seed and cache."""
    return [train.train(_tiny_config(data, str(tmp_path / str(v)), cache=str(tmp_path / "cache"),
                                     **{option: v}))["loss"] for v in values]


def _cli_config(data, *options):
    """``reaction train`` options through the CLI's own parser and checks."""
    p = argparse.ArgumentParser()
    train_cli.add_arguments(p)
    return train_cli.config_from_args(p.parse_args(["--data", data] + list(options)))


def test_one_short_epoch_exports_a_loadable_model(tmp_path):
    data = _fake_data(tmp_path / "data")
    out = str(tmp_path / "model")
    cfg = _tiny_config(data, out)
    figures = train.train(cfg)
    assert figures["epoch"] == 1 and np.isfinite(figures["loss"])
    # One dev set here, so its own accuracy is the overall one.
    assert figures["dev_acc_by_set"] == {"genki-train": round(figures["dev_acc"], 4)}
    sym, params, spec_path = model_paths(out)
    net = mx.gluon.nn.SymbolBlock.imports(sym, ["data"], params)
    probs = net(mx.nd.zeros((3, 1, 32, 32))).asnumpy()
    assert probs.shape == (3, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    spec = InputSpec.load(spec_path)
    assert (spec.width, spec.channels, spec.smile_index) == (32, "grey", 1)
    # The pipeline's own loader reads it too, and the crop cache was written.
    image = cv2.imread(os.path.join(FIXTURE, "smile", sorted(os.listdir(os.path.join(FIXTURE, "smile")))[0]))
    p = SmileNet.load(out).predict(image, [(0.0, 0.0, 64.0, 64.0)])
    assert p.shape == (1,) and 0.0 <= p[0] <= 1.0
    assert any(f.startswith("crops-genki-train") for f in os.listdir(os.path.join(out, "cache")))


def test_label_smoothing_changes_the_targets_and_is_validated(tmp_path):
    data = _fake_data(tmp_path / "data", n=8)
    losses = _losses(data, tmp_path, "label_smoothing", (0.0, 0.3))
    np.testing.assert_allclose(augment.smoothed_targets(np.array([1, 0]), 0.3), [[0.15, 0.85], [0.85, 0.15]])
    # Same seed, same batches: only the targets differ, and a 0.85/0.15 target
    # cannot be fitted below its own entropy (0.42 nats).
    assert losses[0] != losses[1] and losses[1] > 0.42
    with pytest.raises(ReactionError, match="label-smoothing"):
        _cli_config(data, "--label-smoothing", "0.5")


def test_training_and_run_time_crops_agree_byte_for_byte():
    spec = InputSpec(48, 48, "grey", 127.5, 1 / 127.5, 0.1)
    detector = datasets.FaceDetector()
    for name in sorted(os.listdir(os.path.join(FIXTURE, "smile"))):
        image = datasets.read_image(os.path.join(FIXTURE, "smile", name))
        box = datasets.detect_face(detector, image, tight=True)
        if box is not None:  # a real, fractional Haar box
            break
    assert box is not None
    training = datasets.normalise(datasets.raw_crop(image, box, spec)[None], spec)
    run_time = crop_faces(image, [box], spec)
    assert training.dtype == run_time.dtype == np.float32
    assert training.tobytes() == run_time.tobytes()
    # and for a colour spec with a box that runs off the frame
    rgb = InputSpec(40, 40, "rgb", 100.0, 0.02, 0.3)
    off = (-5.5, 10.25, 60.0, 58.0)
    assert (datasets.normalise(datasets.raw_crop(image, off, rgb)[None], rgb).tobytes()
            == crop_faces(image, [off], rgb).tobytes())
    # and aligned on landmarks, as YuNet gives them (a slight roll), and NaN landmarks as the box crop
    aligned = config.TrainConfig(align=True).spec()
    marks = align.absolute(np.array(aligned.template), box) + np.array([[0, -1.5], [0, 1.5], [0.4, 0], [0, -1], [0, 1]])
    assert (datasets.normalise(datasets.raw_crop(image, box, aligned, marks)[None], aligned).tobytes()
            == crop_faces(image, [box], aligned, [marks]).tobytes())
    assert (datasets.raw_crop(image, box, aligned, np.full((5, 2), np.nan)).tobytes()
            == datasets.raw_crop(image, box, aligned).tobytes())
    assert datasets.raw_crop(image, box, aligned, marks).tobytes() != datasets.raw_crop(image, box, aligned).tobytes()


def test_augment_keeps_shape_and_changes_pixels():
    crops = np.random.RandomState(0).randint(0, 255, (5, 1, 32, 32)).astype(np.uint8)
    out = augment.augment(crops, np.random.RandomState(1))
    assert out.shape == crops.shape and out.dtype == np.uint8
    assert not np.array_equal(out, crops)


def test_missing_data_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ReactionError, match="GENKI-4K train folder not found"):
        datasets.genki(str(tmp_path), "train")


def test_empty_class_folder_is_a_clear_error(tmp_path):
    data = _fake_data(tmp_path)
    folder = os.path.join(data, "smiles", "genki4k", "train", "neutral")
    for f in os.listdir(folder):
        os.remove(os.path.join(folder, f))
    with pytest.raises(ReactionError, match="neutral: class folder has no images"):
        datasets.genki(data, "train")


def test_unreadable_images_are_skipped_with_a_count(tmp_path, caplog):
    data = _fake_data(tmp_path, n=3)
    for i in range(2):
        with open(os.path.join(data, "smiles", "genki4k", "train", "smile", "bad%d.jpg" % i), "wb") as f:
            f.write(b"not a jpeg")
    with caplog.at_level(logging.WARNING):
        cs = datasets.build_crops(data, "genki-train", InputSpec(), str(tmp_path / "cache"))
    assert len(cs) == 6
    assert "2 unreadable image(s) skipped" in caplog.text


def test_label_file_path_that_does_not_resolve(tmp_path):
    images = tmp_path / "lfw" / "images" / "Ann_Person"
    images.mkdir(parents=True)
    shutil.copy(os.path.join(FIXTURE, "smile", os.listdir(os.path.join(FIXTURE, "smile"))[0]),
                images / "Ann_Person_0001.jpg")
    labels = tmp_path / "lfw" / "labels"
    labels.mkdir()
    (labels / "seed-rekognition-train.lst").write_text(
        "1 \t 1 \t 1 \t 0 \t 0 \t 0 \t 0 \t 0 \t 0 \t data/flw-resize/Ann_Person_0001.jpg \n"
        "2 \t 0 \t 0 \t 1 \t 0 \t 0 \t 0 \t 0 \t 0 \t data/flw-resize/Bob_Missing_0002.jpg \n")
    with pytest.raises(ReactionError, match=r"seed-rekognition-train.lst:2: image .*Bob_Missing_0002.jpg"):
        datasets.lfw_rekognition(str(tmp_path), "train")
    (labels / "muxspace-emotion.csv").write_text("image,emotion\nAnn_Person_0001.jpg,happiness\n"
                                                 "Ann_Person_0001.jpg,anger\n")
    assert datasets.lfw_muxspace(str(tmp_path)) == [
        datasets.Sample(str(images / "Ann_Person_0001.jpg"), 1)]


def test_lfw_val_images_whose_two_label_sets_agree(tmp_path):
    images = tmp_path / "lfw" / "images"
    names = ["Ann_Person_0001.jpg", "Bob_Person_0001.jpg", "Cy_Person_0001.jpg", "Di_Person_0001.jpg"]
    for name in names:
        (images / name.rsplit("_", 1)[0]).mkdir(parents=True)
        (images / name.rsplit("_", 1)[0] / name).write_bytes(b"")
    labels = tmp_path / "lfw" / "labels"
    labels.mkdir()
    (labels / "seed-rekognition-val.lst").write_text("".join(
        "{} \t {} \t x \t data/flw-resize/{} \n".format(i, smile, name)
        for i, (smile, name) in enumerate(zip((1, 0, 1, 1), names))))
    # Ann agrees, Bob disagrees, Cy has two muxspace rows that disagree, Di has none.
    (labels / "muxspace-emotion.csv").write_text(
        "image,emotion\nAnn_Person_0001.jpg,happiness\nBob_Person_0001.jpg,happiness\n"
        "Cy_Person_0001.jpg,happiness\nCy_Person_0001.jpg,neutral\n")
    val = datasets.load_set(str(tmp_path), "lfw-rekognition-val")
    cs = datasets.CropSet("lfw-rekognition-val", [s.path for s in val], np.array([s.label for s in val]),
                          np.zeros((4, 1, 8, 8), np.uint8), np.zeros((4, 4)), np.ones(4, bool))
    agreed = evaluate.agreed_labels(str(tmp_path), "lfw-rekognition-val", cs)
    assert agreed.tolist() == [True, False, False, False]
    assert evaluate.agreed_labels(str(tmp_path), "genki-test", cs) is None


def test_evaluation_sets_are_refused_for_training(tmp_path):
    cfg = config.TrainConfig(data=str(tmp_path), sets=["genki-test"])
    with pytest.raises(ReactionError, match="genki-test is an evaluation set"):
        train.load_training_data(cfg)


def test_metrics_against_hand_computed_values():
    labels = np.array([1, 1, 0, 0, 0])
    scores = np.array([0.9, 0.4, 0.6, 0.1, 0.2])
    m = evaluate.metrics(labels, scores)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    # positives beat negatives in 5 of 6 pairs
    assert m["roc_auc"] == pytest.approx(5 / 6)


def test_batchnorm_folding_keeps_outputs_and_drops_batchnorm(tmp_path):
    from reaction.training import architectures as netarch

    net = netarch.WithSoftmax(netarch.build("smilenet", widths=(8, 16)))
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, 32, 32)))
    rng = np.random.RandomState(0)
    # Non-trivial running statistics, as after training.
    for name, p in net.collect_params().items():
        if name.endswith(("running_mean", "beta", "gamma")):
            p.set_data(mx.nd.array(rng.uniform(-0.5, 1.5, p.shape)))
        elif name.endswith("running_var"):
            p.set_data(mx.nd.array(rng.uniform(0.2, 2.0, p.shape)))
    net.hybridize()
    x = mx.nd.array(rng.uniform(-1, 1, (4, 1, 32, 32)))
    before = net(x).asnumpy()
    net.export(str(tmp_path / "m"), epoch=0)
    sym, params = str(tmp_path / "m-symbol.json"), str(tmp_path / "m-0000.params")
    # stem 1 + stage one 2 blocks x 2 + stage two 2 blocks x 2 + its 1x1 shortcut 1
    assert export.fold_batchnorm(sym, params) == 10
    after = mx.gluon.nn.SymbolBlock.imports(sym, ["data"], params)(x).asnumpy()
    np.testing.assert_allclose(after, before, atol=1e-5)
    assert "BatchNorm" not in open(sym).read()


def test_subnormal_weights_are_flushed_to_zero_and_nothing_else_changes(tmp_path):

    path = str(tmp_path / "m-0000.params")
    tiny = np.finfo(np.float32).tiny
    w = np.array([0.5, tiny / 4, -tiny / 2, 0.0, -1e-30, tiny], np.float32)
    mx.nd.save(path, {"arg:w": mx.nd.array(w), "aux:m": mx.nd.array(np.ones(3, np.float32))})
    assert export.flush_denormals(path) == 2
    saved = mx.nd.load(path)
    np.testing.assert_array_equal(saved["arg:w"].asnumpy(), np.array([0.5, 0, 0, 0, -1e-30, tiny], np.float32))
    np.testing.assert_array_equal(saved["aux:m"].asnumpy(), np.ones(3))
    assert export.flush_denormals(path) == 0


def _export_random_net(prefix, seed):
    from reaction.training import architectures as netarch

    mx.random.seed(seed)
    net = netarch.WithSoftmax(netarch.build("smilenet", widths=(8, 16)))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    net(mx.nd.zeros((1, 1, 32, 32)))
    net.export(prefix, epoch=0)
    return prefix + "-symbol.json", prefix + "-0000.params"


def test_fused_model_outputs_the_softmax_of_the_mean_member_logit(tmp_path):

    members = [_export_random_net(str(tmp_path / "m{}".format(k)), k) for k in range(3)]
    sym, params = str(tmp_path / "f-symbol.json"), str(tmp_path / "f-0000.params")
    assert export.fuse(members, sym, params) == 3
    x = mx.nd.array(np.random.RandomState(1).uniform(-1, 1, (5, 1, 32, 32)))
    probs = [mx.gluon.nn.SymbolBlock.imports(s, ["data"], p)(x).asnumpy() for s, p in members]
    logit = np.mean([np.log(p[:, 1] / p[:, 0]) for p in probs], axis=0)
    fused = mx.gluon.nn.SymbolBlock.imports(sym, ["data"], params)(x).asnumpy()
    np.testing.assert_allclose(np.log(fused[:, 1] / fused[:, 0]), logit, atol=1e-4)
    # One input, and only layers the DeepLens optimiser lists: the members' own, without Dropout,
    # summed by elemwise_add and ending in SoftmaxActivation.
    member_ops = {n["op"] for n in json.load(open(members[0][0]))["nodes"]}
    assert [n for n in mx.sym.load(sym).list_inputs() if n == "data"] == ["data"]
    fused_ops = {n["op"] for n in json.load(open(sym))["nodes"]}
    assert fused_ops <= (member_ops - {"Dropout", "softmax"}) | {"elemwise_add", "SoftmaxActivation"}
    assert export.unsupported_layers(sym) == {}
    # The smile offset still moves the decision by exactly the offset.
    export.shift_smile_logit(sym, params, 0.75)
    shifted = mx.gluon.nn.SymbolBlock.imports(sym, ["data"], params)(x).asnumpy()
    np.testing.assert_allclose(np.log(shifted[:, 1] / shifted[:, 0]), logit + 0.75, atol=1e-4)


def test_members_train_side_by_side_and_fuse_into_one_model(tmp_path, caplog):
    data = _fake_data(tmp_path / "data")
    out = str(tmp_path / "model")
    cfg = _tiny_config(data, out, members=2, seed=3)
    figures = ensemble.train_members(cfg)
    meta = json.load(open(os.path.join(out, "smile-net-train.json")))
    assert meta["members"] == 2
    assert meta["member_dirs"] == [os.path.join("members", "seed-3"), os.path.join("members", "seed-4")]
    logs = [json.load(open(os.path.join(out, m, "smile-net-train.json"))) for m in meta["member_dirs"]]
    # Each child got the parent's recipe, not the command-line defaults.
    assert [(m["seed"], m["dev_percent"], m["widths"], m["size"]) for m in logs] == [
        (3, 20, [8, 16], 32), (4, 20, [8, 16], 32)]
    member = SmileNet.load(os.path.join(out, "members", "seed-3"))
    fused = SmileNet.load(out)
    image = cv2.imread(os.path.join(FIXTURE, "smile", sorted(os.listdir(os.path.join(FIXTURE, "smile")))[0]))
    box = [(0.0, 0.0, 64.0, 64.0)]
    assert fused.predict(image, box)[0] != member.predict(image, box)[0]
    assert 0.0 <= figures["dev_acc"] <= 1.0 and meta["fused"]["dev_acc"] == figures["dev_acc"]
    # Run again: finished members are kept, not retrained; a changed recipe retrains.
    params = model_paths(os.path.join(out, "members", "seed-4"))[1]
    stamp = os.stat(params).st_mtime_ns
    with caplog.at_level(logging.INFO, logger="reaction"):
        ensemble.train_members(config.TrainConfig(**{**vars(cfg), "history": [], "dev_sizes": []}))
    assert caplog.text.count("already trained with this recipe") == 2
    assert os.stat(params).st_mtime_ns == stamp
    assert not ensemble._finished_member(config.TrainConfig(**{**vars(cfg), "lr": 1e-3}), 4,
                                         os.path.dirname(params))


def test_mixup_blends_faces_and_targets_with_one_weight_per_sample():
    rng = np.random.RandomState(0)
    batch = rng.uniform(-1, 1, (16, 1, 8, 8)).astype(np.float32)
    target = augment.smoothed_targets(np.arange(16) % 2, 0.0)
    mixed, mixed_target = augment.mixup(batch, target, 0.4, np.random.RandomState(1))
    np.testing.assert_allclose(mixed_target.sum(axis=1), 1.0, rtol=1e-6)
    # Replaying the draws: each output is lam * itself + (1 - lam) * its partner,
    # with the same lam for its pixels and its target.
    again = np.random.RandomState(1)
    lam, partner = again.beta(0.4, 0.4, 16).astype(np.float32), again.permutation(16)
    np.testing.assert_allclose(mixed[3], lam[3] * batch[3] + (1 - lam[3]) * batch[partner[3]], atol=1e-6)
    np.testing.assert_allclose(mixed_target[3], lam[3] * target[3] + (1 - lam[3]) * target[partner[3]], atol=1e-6)
    assert mixed.dtype == np.float32 and not np.allclose(mixed, batch)


def test_mixup_option_trains_and_is_validated(tmp_path):
    data = _fake_data(tmp_path / "data", n=8)
    losses = _losses(data, tmp_path, "mixup", (0.0, 0.4))
    # Same seed, same batches: only the blending differs.
    assert np.isfinite(losses[1]) and losses[0] != losses[1]
    with pytest.raises(ReactionError, match="mixup"):
        _cli_config(data, "--mixup", "-1")


def test_distilled_targets_move_each_row_towards_the_teacher():
    target = augment.smoothed_targets(np.array([1, 0, 1]), 0.0)
    moved = distill.distilled_targets(target, np.array([0.2, 0.9, 1.0], np.float32), 0.25)
    np.testing.assert_allclose(moved, [[0.2, 0.8], [0.775, 0.225], [0.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(moved.sum(axis=1), 1.0, rtol=1e-6)


def test_teacher_option_distils_a_trained_model_and_checks_its_input(tmp_path):
    data = _fake_data(tmp_path / "data", n=8)
    cache = str(tmp_path / "cache")
    teacher = str(tmp_path / "teacher")
    plain = train.train(_tiny_config(data, teacher, cache=cache))["loss"]
    # Same seed and batches as the teacher's own run: only the targets differ.
    taught = train.train(_tiny_config(data, str(tmp_path / "student"), cache=cache, teacher=teacher,
                                      teacher_weight=1.0))["loss"]
    assert np.isfinite(taught) and taught != plain
    x = datasets.build_crops(data, "genki-train", InputSpec(32, 32, "grey"), cache).crops
    p = distill.teacher_predictions(teacher, x, InputSpec(32, 32, "grey"))
    np.testing.assert_allclose(p, SmileNet.load(teacher).predict_batch(
        datasets.normalise(x, InputSpec(32, 32, "grey"))), atol=1e-6)
    with pytest.raises(ReactionError, match="teacher.*differs"):
        distill.teacher_predictions(teacher, x, InputSpec(32, 32, "grey", margin=0.3))
    with pytest.raises(ReactionError, match="teacher-weight"):
        _cli_config(data, "--teacher", teacher, "--teacher-weight", "1.5")
    with pytest.raises(ReactionError, match="teacher model folder not found"):
        _cli_config(data, "--teacher", str(tmp_path / "nowhere"))


def test_smile_offset_minimises_the_mean_per_set_log_loss():
    # Uninformative scores (P = 0.5): the best offset is the log-odds of the
    # smile share, and with two sets each set counts once, whatever its size.
    p = np.full(1000, 0.5)
    one = (np.arange(1000) % 4 != 0).astype(int)  # 75% smiles
    assert calibration.choose_offset(p, one, [1000]) == pytest.approx(np.log(3), abs=0.01)
    two = np.concatenate([(np.arange(900) % 4 != 0), (np.arange(100) % 4 == 0)]).astype(int)  # 75%, 25%
    assert calibration.choose_offset(p, two, [900, 100]) == pytest.approx(0.0, abs=0.01)
    # Pooled, the same labels would want log(0.7 / 0.3).
    assert calibration.choose_offset(p, two, [1000]) == pytest.approx(np.log(7 / 3), abs=0.01)
    assert calibration.choose_offset(np.zeros(0), np.zeros(0), []) == 0.0


def test_weight_average_follows_the_moving_average_formula():
    net = mx.gluon.nn.Dense(1, in_units=2)
    net.initialize(mx.init.Constant(0.0))
    # Horizon 6 steps sampled every 3rd step: decay (5/6)**3 = 0.579 per sample.
    average = weight_average.WeightAverage(net.collect_params(), horizon=6, every=3)
    values = np.arange(1.0, 42.0)  # 41 steps: the last 2 come after the last sample
    expected, samples = None, 0
    for step, value in enumerate(values, 1):
        net.weight.set_data(mx.nd.full((1, 2), value))
        average.update()
        if step % 3 == 0:
            samples += 1
            d = min((5.0 / 6.0) ** 3, (1.0 + samples) / (10.0 + samples))  # the ramp rules up to sample 11
            expected = value if expected is None else d * expected + (1 - d) * value
    np.testing.assert_allclose(average.shadow[0].asnumpy()[0], expected, rtol=1e-6)
    d = (5.0 / 6.0) ** 3
    expected = d * expected + (1 - d) * values[-1]  # apply() takes the last weights in too
    average.apply()
    np.testing.assert_allclose(net.weight.data().asnumpy()[0], expected, rtol=1e-6)
    assert 35 < expected < 40


def test_ema_option_exports_the_averaged_weights_and_logs_the_last_ones(tmp_path):
    # 96 faces, 20% dev: 9 steps of 8, so the average holds a sample from step 8 and the last weights.
    data = _fake_data(tmp_path / "data", n=48)
    runs = {}
    for ema in (0.0, 2.0):
        cfg = _tiny_config(data, str(tmp_path / str(ema)), cache=str(tmp_path / "cache"), ema_epochs=ema)
        figures = train.train(cfg)
        faces = np.random.RandomState(0).uniform(-1, 1, (4, 1, 32, 32)).astype(np.float32)
        runs[ema] = (figures, SmileNet.load(cfg.out).predict_batch(faces))
    assert "dev_acc_last_weights" not in runs[0.0][0]
    assert runs[2.0][0]["dev_acc_last_weights"] == runs[0.0][0]["dev_acc"]  # same seed, same last weights
    with open(os.path.join(str(tmp_path / "2.0"), "smile-net-train.json")) as f:
        assert json.load(f)["ema_epochs"] == 2.0
    assert not np.allclose(runs[0.0][1], runs[2.0][1], atol=1e-4)
    with pytest.raises(ReactionError, match="--ema-epochs"):
        _cli_config(data, "--ema-epochs", "-1")


def test_crop_cache_is_shared_by_two_spellings_of_the_data_folder(tmp_path, monkeypatch):
    data = _fake_data(tmp_path / "data", n=4)
    os.symlink(data, str(tmp_path / "link"))
    spec, cache = InputSpec(32, 32, "grey", 127.5, 1 / 127.5, 0.1), str(tmp_path / "cache")
    first = datasets.build_crops(data, "genki-train", spec, cache)

    def no_detection(*args, **kwargs):
        raise AssertionError("detected again instead of reading the cache")

    monkeypatch.setattr(datasets, "FaceDetector", no_detection)
    again = datasets.build_crops(str(tmp_path / "link"), "genki-train", spec, cache)
    assert np.array_equal(first.crops, again.crops) and again.paths[0].startswith(str(tmp_path / "link"))
    # Other images under the same names are not taken for the cached ones.
    victim = os.path.join(data, "smiles", "genki4k", "train", "smile", sorted(os.listdir(
        os.path.join(FIXTURE, "smile")))[0])
    with open(victim, "ab") as f:
        f.write(b"\0" * 16)
    with pytest.raises(AssertionError, match="detected again"):
        datasets.build_crops(data, "genki-train", spec, cache)


def _two_conventions(root):
    """GENKI train as it is, plus the same faces as SMILEsmileD with (nearly) all of them called smiles."""
    data = _fake_data(root, n=20)
    smd = os.path.join(data, "smiles", "smilesmiled")
    for cls in ("smile", "neutral"):
        for i, f in enumerate(sorted(os.listdir(os.path.join(FIXTURE, cls)))[:20]):
            folder = "negatives" if cls == "neutral" and i < 2 else "positives"
            os.makedirs(os.path.join(smd, folder), exist_ok=True)
            shutil.copy(os.path.join(FIXTURE, cls, f), os.path.join(smd, folder, cls + f))
    return data


def test_per_set_smile_bias_absorbs_a_set_that_calls_everything_a_smile(tmp_path, capsys):
    data = _two_conventions(tmp_path / "data")
    sets = ["genki-train", "smilesmiled-train"]
    cfg = _tiny_config(data, str(tmp_path / "m"), cache=str(tmp_path / "cache"), sets=sets, lr=0.05,
                       set_bias=True)
    figures = train.train(cfg)
    bias = figures["set_bias"]
    assert bias["smilesmiled-train"] > bias["genki-train"] + 0.05
    assert not any("set_bias" in k for k in mx.nd.load(model_paths(cfg.out)[1]))  # training only
    off = _tiny_config(data, str(tmp_path / "off"), cache=str(tmp_path / "cache"), sets=sets, set_bias=False)
    assert "set_bias" not in train.train(off)
    with pytest.raises(SystemExit):
        _cli_config(data, "--set-bias", "maybe")
    assert "--set-bias: expected yes or no, got 'maybe'" in capsys.readouterr().err
    assert _cli_config(data, "--set-bias", "yes").set_bias is True and _cli_config(data).set_bias is False


def test_exported_offset_is_calibrated_on_the_chosen_set():
    # Uninformative scores: each set's best offset is the log-odds of its smile share.
    p = np.full(2000, 0.5)
    y = np.concatenate([np.arange(1000) % 4 != 0, np.arange(1000) % 4 == 0]).astype(int)  # 75%, 25%
    names, sizes = ["smilesmiled-train", "genki-train"], [1000, 1000]
    assert calibration.calibrated_offset(p, y, sizes, names, "genki-train") == pytest.approx(-np.log(3), abs=0.01)
    assert calibration.calibrated_offset(p, y, sizes, names, names[0]) == pytest.approx(np.log(3), abs=0.01)
    for mean_rule in ("all", "lfw-rekognition-train"):  # the latter is not trained on
        assert calibration.calibrated_offset(p, y, sizes, names, mean_rule) == pytest.approx(0.0, abs=0.01)
    assert config.TrainConfig(sets=["smilesmiled-train", "genki-train:2"]).set_names() == names


def test_members_without_the_set_bias_count_only_where_it_would_not_act(tmp_path):
    out = str(tmp_path / "member")
    os.makedirs(out)
    for path in model_paths(out):
        open(path, "w").close()
    for sets, kept in ((["lfw-rekognition-train"], True), (["genki-train", "lfw-rekognition-train"], False)):
        cfg = config.TrainConfig(sets=sets, epochs=1, set_bias=True, calibrate="genki-train")
        # A log from before the two options: it had their defaults (no bias, mean rule).
        old = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(cfg).items()
               if k not in ("set_bias", "calibrate")}
        with open(os.path.join(out, "smile-net-train.json"), "w") as f:
            json.dump(dict(old, history=[{}]), f)
        assert ensemble._finished_member(cfg, cfg.seed, out) is kept


def test_genki_threshold_is_calibrated_on_the_train_dev_part_only(tmp_path, monkeypatch):
    # 100 images per class; only genki-train exists, so the test set cannot be read.
    data = _fake_data(tmp_path / "data", n=100)
    monkeypatch.setattr(config.TrainConfig, "dev_percent", 30)

    class Constant:
        """Says P(smile) = 0.75 for every face."""
        spec = InputSpec(32, 32)

        def predict_batch(self, batch):
            return np.full(len(batch), 0.75)

    t, n_dev = evaluate.calibrated_threshold(Constant(), data, "genki-train", str(tmp_path / "cache"))
    cs = datasets.build_crops(data, "genki-train", Constant.spec, str(tmp_path / "cache"))
    dev = [i for i, p in enumerate(cs.paths) if "/train/" in p and is_dev(p, 30)]
    assert n_dev == len(dev) and 0 < n_dev < len(cs.paths)
    share = cs.labels[dev].mean()
    # The log-loss optimum maps 0.75 to the dev part's smile share; the threshold is
    # the P(smile) that lands on 0.5.
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    assert t == pytest.approx(1 / (1 + np.exp(-(logit(0.75) - logit(share)))), abs=0.01)
