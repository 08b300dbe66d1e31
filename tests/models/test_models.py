import os
from pathlib import Path

import pytest
import torch
import torchvision

from bench.models import registry as models
from bench.models import vgg
from bench.errors import BenchError


@pytest.mark.parametrize("name", ["mlp", "cnn", "cnn_bn", "vgg16"])
def test_output_shape(name):
    m = models.create_model(name).eval()
    assert m(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_mlp_is_3072_256_128_10():
    m = models.create_model("mlp")
    linear = [l for l in m if isinstance(l, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linear] == [(3072, 256), (256, 128), (128, 10)]


def test_cnn_bn_is_the_cnn_plus_bn_and_dropout():
    plain, bn = models.create_model("cnn"), models.create_model("cnn_bn")
    convs = lambda m: [(c.in_channels, c.out_channels) for c in m.modules() if isinstance(c, torch.nn.Conv2d)]
    assert convs(plain) == convs(bn)
    assert sum(isinstance(x, torch.nn.BatchNorm2d) for x in bn.modules()) == len(convs(bn))
    assert any(isinstance(x, torch.nn.Dropout) for x in bn.modules())
    assert not any(isinstance(x, (torch.nn.BatchNorm2d, torch.nn.Dropout)) for x in plain.modules())


def test_unknown_model_lists_valid_names():
    with pytest.raises(BenchError, match="unknown model 'resnet'; choose one of: mlp, cnn, cnn_bn, vgg16"):
        models.create_model("resnet")


@pytest.mark.parametrize("frozen", [0, 3, 5])
def test_vgg16_freezes_the_first_blocks(frozen):
    m = models.create_model("vgg16", frozen_blocks=frozen)
    convs = [c for c in m.features if isinstance(c, torch.nn.Conv2d)]
    per_block = [2, 2, 3, 3, 3]
    n_frozen = sum(per_block[:frozen])
    assert all(not c.weight.requires_grad for c in convs[:n_frozen])
    assert all(c.weight.requires_grad for c in convs[n_frozen:])
    assert all(p.requires_grad for p in m.head.parameters())


def test_vgg16_param_groups_put_the_backbone_at_a_lower_rate():
    m = models.create_model("vgg16")
    groups = models.param_groups(m, 1e-3, 0.1)
    assert [g["name"] for g in groups] == ["head", "backbone"]
    assert groups[1]["lr"] == pytest.approx(1e-4)
    n_trainable = sum(p.numel() for p in m.parameters() if p.requires_grad)
    assert sum(p.numel() for g in groups for p in g["params"]) == n_trainable


def test_vgg16_larger_images():
    m = models.create_model("vgg16", image_size=64).eval()
    assert m(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def _features_state():
    return {f"features.{k}": v for k, v in torchvision.models.vgg16().features.state_dict().items()}


@pytest.mark.slow
def test_load_vgg16_weights(tmp_path):
    state = _features_state()
    path = tmp_path / "w.pth"
    torch.save(state, path)
    loaded = vgg.load_vgg16_features(path)
    m = models.create_model("vgg16", state_dict=loaded)
    assert torch.equal(m.features[0].weight, state["features.0.weight"])


@pytest.mark.parametrize("case,message", [
    ("missing", "not found"),
    ("not_state_dict", "does not hold a state_dict"),
    ("garbage", "not a readable state_dict"),
    ("wrong_keys", "wrong keys"),
    ("wrong_shape", "wrong shapes"),
    ("nan", r"non-finite values \(NaN or Inf\) in features\.10\.weight \(1 of 294,912\)"),
    ("inf", r"non-finite values \(NaN or Inf\) in features\.0\.bias \(2 of 64\)"),
    ("nan_no_prefix", r"non-finite values \(NaN or Inf\) in 28\.bias "),
    ("int_dtype", r"holds torch\.int64 values in features\.0\.weight; expected floating-point"),
    ("bool_dtype", r"holds torch\.bool values in features\.2\.bias"),
])
@pytest.mark.slow
def test_bad_vgg16_weights(tmp_path, case, message):
    path = tmp_path / "w.pth"
    state = _features_state()
    if case == "not_state_dict":
        torch.save([1, 2, 3], path)
    elif case == "garbage":
        path.write_bytes(b"not a checkpoint")
    elif case == "wrong_keys":
        state["features.99.weight"] = state.pop("features.0.weight")
        torch.save(state, path)
    elif case == "wrong_shape":
        state["features.0.weight"] = torch.zeros(1, 1, 1, 1)
        torch.save(state, path)
    elif case == "nan":
        state["features.10.weight"].view(-1)[123] = float("nan")
        torch.save(state, path)
    elif case == "inf":
        state["features.0.bias"][[3, 7]] = torch.tensor([float("inf"), -float("inf")])
        state["features.28.bias"][0] = float("nan")  # a later key: the message names the first
        torch.save(state, path)
    elif case == "nan_no_prefix":
        state = {k.removeprefix("features."): v for k, v in state.items()}
        state["28.bias"][0] = float("nan")
        torch.save(state, path)
    elif case == "int_dtype":
        state["features.0.weight"] = state["features.0.weight"].long()
        torch.save(state, path)
    elif case == "bool_dtype":
        state["features.2.bias"] = torch.ones(64, dtype=torch.bool)
        torch.save(state, path)
    with pytest.raises(BenchError, match=message) as info:
        vgg.load_vgg16_features(path)
    assert str(path) in info.value.message and "\n" not in info.value.message


@pytest.mark.slow
def test_bad_vgg16_weights_refused_through_resolve(tmp_path, monkeypatch):
    # The path `bench train` takes ($BENCH_VGG16_WEIGHTS): refused before any model is built.
    state = _features_state()
    state["features.5.weight"].view(-1)[0] = float("inf")
    path = tmp_path / "w.pth"
    torch.save(state, path)
    monkeypatch.setenv(vgg.VGG_WEIGHTS_ENV, str(path))
    with pytest.raises(BenchError, match=r"non-finite values .* in features\.5\.weight"):
        vgg.resolve_vgg_weights(None, pretrained=True, download=False)


def test_real_imagenet_weights_pass_the_checks():
    path = Path(os.environ.get(vgg.VGG_WEIGHTS_ENV, ""))
    if not path.is_file():
        pytest.skip(f"${vgg.VGG_WEIGHTS_ENV} does not point to a weights file")
    state = vgg.load_vgg16_features(path)
    assert all(v.is_floating_point() and bool(torch.isfinite(v).all()) for v in state.values())


def test_no_weights_without_download_is_an_error(monkeypatch):
    monkeypatch.delenv(vgg.VGG_WEIGHTS_ENV, raising=False)
    with pytest.raises(BenchError, match="--no-pretrained"):
        vgg.resolve_vgg_weights(None, pretrained=True, download=False)
    state, source = vgg.resolve_vgg_weights(None, pretrained=False, download=False)
    assert state is None and "no-pretrained" in source


def test_parameter_counts():
    counts = models.count_parameters(models.create_model("mlp"))
    assert counts == {"total": 3072 * 256 + 256 + 256 * 128 + 128 + 1290, "trainable": counts["total"], "frozen": 0}
