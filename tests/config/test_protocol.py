import pytest

from bench import protocol
from bench.errors import BenchError


def test_the_studys_protocol():
    mlp = protocol.STUDY["mlp"]
    assert mlp.optimizer == "sgd" and [p.lr for p in mlp.phases] == [1e-1, 1e-2, 1e-3, 1e-4]
    assert mlp.epochs == 40 and mlp.weight_decay == 5e-4 and mlp.batch_size == 128
    for name in ("cnn", "cnn_bn", "vgg16"):
        assert protocol.STUDY[name].optimizer == "adam" and protocol.STUDY[name].epochs == 10
    assert protocol.STUDY["vgg16"].backbone_lr_scale < 1


def test_phase_lookup():
    mlp = protocol.STUDY["mlp"]
    assert [mlp.phase_of(e) for e in (0, 9, 10, 39)] == [0, 0, 1, 3]
    assert mlp.lr_at(25) == 1e-3
    with pytest.raises(ValueError):
        mlp.phase_of(40)


def test_smoke_profile_runs_one_epoch_per_phase():
    spec = protocol.spec_for("mlp", protocol.get_profile("smoke"))
    assert [p.epochs for p in spec.phases] == [1, 1, 1, 1]


def test_epoch_override_truncates_the_schedule():
    spec = protocol.spec_for("mlp", protocol.get_profile("full"), epochs=15)
    assert [(p.lr, p.epochs) for p in spec.phases] == [(1e-1, 10), (1e-2, 5)]
    longer = protocol.spec_for("cnn", protocol.get_profile("full"), epochs=12)
    assert longer.epochs == 12 and longer.phases[-1].epochs == 4


def test_unknown_profile_and_default_spec():
    with pytest.raises(BenchError, match="choose one of: full, smoke"):
        protocol.get_profile("medium")
    # A plugged-in model with no protocol of its own trains as the CNN does, and says so.
    spec = protocol.spec_for("resnet", protocol.get_profile("full"))
    assert spec.model == "resnet" and spec.phases == protocol.STUDY["cnn"].phases and "cnn" in spec.note


def test_the_data_protocol_is_the_studys():
    data = protocol.DATA
    assert (data.split_seed, data.val_size, data.crop_padding, data.flip_p, data.batch_size) == (43, 5000, 4, 0.5, 128)
    assert data.sizes == {"train": 45_000, "val": 5_000, "test": 10_000}
    # dataset.json's "augmentation" record, key order included.
    assert list(data.augmentation().items()) == [("random_crop", 32), ("padding", 4), ("hflip_p", 0.5)]
    # TrainSpec's default batch size is the data protocol's.
    assert protocol.TrainSpec(model="x", optimizer="sgd", phases=()).batch_size == data.batch_size


def test_the_data_modules_read_the_data_protocol():
    from bench.data import pipelines

    # The split's defaults are the protocol's values, not constants of the data module's own.
    assert pipelines.split_indices.__defaults__ == (protocol.DATA.val_size, protocol.DATA.split_seed)
    assert not hasattr(pipelines, "SPLIT_SEED") and not hasattr(pipelines, "CROP_PADDING")


def test_study_settings_per_model_are_protocol_data():
    assert protocol.study_kwargs("vgg16") == {"frozen_blocks": 3, "image_size": 32}
    assert list(protocol.study_kwargs("vgg16")) == ["frozen_blocks", "image_size"]  # config.json's key order
    assert protocol.study_kwargs("mlp") == {} and protocol.study_kwargs("resnet") == {}
    copy = protocol.study_kwargs("vgg16")
    copy["frozen_blocks"] = 0
    assert protocol.MODEL_DEFAULTS["vgg16"]["frozen_blocks"] == 3  # a copy: callers cannot change the protocol


def test_reference_numbers_cover_the_study():
    assert set(protocol.REFERENCE) == set(protocol.STUDY) == set(protocol.BUILTIN.study)
    assert all(0 < r["accuracy"] < 1 and r["loss"] > 0 for r in protocol.REFERENCE.values())
