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
