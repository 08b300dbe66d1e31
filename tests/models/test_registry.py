"""What a registry entry carries (defaults, weights, describe), so that no caller needs a model's name."""

import hashlib

import pytest
import torch
import torchvision
from torch import nn

from bench.errors import BenchError
from bench.models import registry as models
from bench.models import vgg
from bench.protocol import MODEL_DEFAULTS


@pytest.fixture
def clean_registry():
    saved = models.snapshot()
    yield
    models.restore(saved)
    models.loading_from(None)


def test_built_in_models_register_in_study_order():
    assert models.model_names()[:4] == ["mlp", "cnn", "cnn_bn", "vgg16"]
    assert [e.name for e in models.entries()][:4] == models.model_names()[:4]


def test_defaults_are_the_protocols_study_settings():
    assert models.get_entry("vgg16").defaults == MODEL_DEFAULTS["vgg16"] == {"frozen_blocks": 3, "image_size": 32}
    for name in ("mlp", "cnn", "cnn_bn"):
        assert models.get_entry(name).defaults == {}


def test_model_kwargs_apply_overrides_only_to_keys_the_model_has():
    entry = models.get_entry("vgg16")
    assert entry.model_kwargs() == {"frozen_blocks": 3, "image_size": 32}
    assert entry.model_kwargs(frozen_blocks=0, image_size=None) == {"frozen_blocks": 0, "image_size": 32}
    # The command line's VGG16 settings mean nothing to the MLP: they never reach its builder or its config.
    assert models.get_entry("mlp").model_kwargs(frozen_blocks=0, image_size=64) == {}


def test_only_the_transfer_model_needs_weights():
    assert [e.name for e in models.entries() if e.weights is not None] == ["vgg16"]
    weights = models.get_entry("vgg16").weights
    assert weights.env == "BENCH_VGG16_WEIGHTS" == vgg.VGG_WEIGHTS_ENV
    assert weights.resolve is vgg.resolve_vgg_weights and weights.record is vgg.weights_record


def test_weights_record_names_the_source_and_the_files_digest(tmp_path, monkeypatch):
    monkeypatch.delenv(vgg.VGG_WEIGHTS_ENV, raising=False)
    record = models.get_entry("vgg16").weights.record
    assert record(None, "none (random initialisation, --no-pretrained)") == {
        "source": "none (random initialisation, --no-pretrained)", "sha256": None}
    path = tmp_path / "w.pth"
    path.write_bytes(b"weights" * 1000)
    assert record(path, "file w.pth") == {"source": "file w.pth",
                                          "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    monkeypatch.setenv(vgg.VGG_WEIGHTS_ENV, str(path))  # the environment variable names the same file
    assert record(None, "file w.pth")["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_describe_gives_the_structure_as_data():
    mlp = models.structure_of("mlp", models.create_model("mlp"))
    assert mlp == {"conv_channels": [], "pools": 0, "dense": [3072, 256, 128, 10], "batchnorm": False, "dropout": 0.0}
    cnn = models.structure_of("cnn", models.create_model("cnn"))
    assert cnn["conv_channels"] == [32, 64, 128, 128, 256, 256] and cnn["pools"] == 3
    assert cnn["dense"] == [4096, 1024, 512, 10] and not cnn["batchnorm"] and cnn["dropout"] == 0.0
    bn = models.structure_of("cnn_bn", models.create_model("cnn_bn"))
    assert bn["batchnorm"] and bn["dropout"] == 0.5 and bn["conv_channels"] == cnn["conv_channels"]


@pytest.mark.slow
@pytest.mark.parametrize("frozen,image_size,pretrained", [(3, 32, False), (0, 64, True), (5, 32, True)])
def test_the_transfer_models_structure(frozen, image_size, pretrained):
    state = {k: torch.zeros_like(v) for k, v in torchvision.models.vgg16().features.state_dict().items()} \
        if pretrained else None
    model = models.create_model("vgg16", state_dict=state, frozen_blocks=frozen, image_size=image_size)
    s = models.structure_of("vgg16", model)
    assert s["backbone"] == "VGG16" and s["pretrained_backbone"] is pretrained
    assert (s["blocks"], s["frozen_blocks"], s["tuned_blocks"]) == (5, frozen, 5 - frozen)
    assert s["image_size"] == image_size and s["head"] == [512, 256, 10] and s["pools"] == 5
    assert len(s["conv_channels"]) == 13


def test_describe_attributes_leave_the_architecture_digest_alone():
    # repr(model) is hashed into config.json's "architecture": the describe attributes must stay out of it.
    text = repr(models.create_model("vgg16", frozen_blocks=1, image_size=48))
    assert "frozen_blocks" not in text and "pretrained" not in text


def test_a_plug_in_may_declare_defaults_and_describe(clean_registry):
    @models.register_model("widenet", title="Wide", description="d", convolutional=False, defaults={"width": 64},
                           describe=lambda m: {"width": m[1].out_features})
    def widenet(width: int = 32):
        return nn.Sequential(nn.Flatten(), nn.Linear(3072, width), nn.ReLU(), nn.Linear(width, 10))

    entry = models.get_entry("widenet")
    assert entry.weights is None and entry.model_kwargs(width=None) == {"width": 64}
    assert models.structure_of("widenet", models.create_model("widenet", **entry.model_kwargs())) == {"width": 64}


def test_a_plug_ins_failing_describe_is_one_line_naming_its_file(clean_registry):
    models.loading_from({"kind": "file", "path": "mine.py", "sha256": "0" * 64})
    try:
        @models.register_model("oddnet", title="Odd", description="d", convolutional=False,
                               describe=lambda m: 1 / 0)
        def oddnet():
            return nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))
    finally:
        models.loading_from(None)
    assert models.get_entry("oddnet").source["path"] == "mine.py"
    with pytest.raises(BenchError, match=r"^mine.py: describing model 'oddnet' failed: ZeroDivisionError"):
        models.structure_of("oddnet", models.create_model("oddnet"))


def test_bad_defaults_are_refused():
    with pytest.raises(BenchError, match="defaults must be a dict of builder keyword arguments"):
        models.register_model("badnet", title="t", description="d", convolutional=False, defaults=[1])
