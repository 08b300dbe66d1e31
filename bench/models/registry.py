"""The study's four architectures, behind a registry (`create_model(name)`)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from bench.errors import BenchError

NUM_CLASSES = 10


@dataclass(frozen=True)
class ModelEntry:
    name: str          # registry key, used on the command line and in artifact paths
    title: str         # how the report names it
    description: str   # one line for `bench models` and the report
    builder: Callable[..., nn.Module]
    convolutional: bool  # channels_last pays off only for conv nets
    # Where the code came from: {"kind": "built-in"}, or a plug-in's file/module and its SHA-256
    # (recorded in config.json and the model's fingerprint).
    source: dict = field(default_factory=lambda: {"kind": "built-in"})


_REGISTRY: dict[str, ModelEntry] = {}
# Set by bench.models.plugins while it imports a user's models, so that registrations record their source.
_LOADING: dict | None = None
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def register_model(name: str, *, title: str, description: str, convolutional: bool):
    """Register a model builder (a function returning an nn.Module with 10 outputs) under `name`.

    Use as a decorator. `name` is used on the command line and in artifact paths: lowercase
    letters, digits and underscores. A plug-in may not reuse a built-in model's name.
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise BenchError(f"model name {name!r} is not allowed: use 1-40 lowercase letters, digits and underscores, "
                         "starting with a letter")

    def wrap(fn):
        source = dict(_LOADING) if _LOADING is not None else {"kind": "built-in"}
        old = _REGISTRY.get(name)
        if old is not None and old.source != source:
            where = source.get("path") or source.get("module") or "bench"
            raise BenchError(f"{where}: model name {name!r} clashes with the {describe_source(old.source)} model "
                             f"of that name; choose another name (taken: {', '.join(_REGISTRY)})")
        _REGISTRY[name] = ModelEntry(name, title, description, fn, convolutional, source)
        return fn
    return wrap


def register(name: str, title: str, description: str, *, convolutional: bool):
    """The built-in models' spelling of `register_model`."""
    return register_model(name, title=title, description=description, convolutional=convolutional)


def describe_source(source: dict) -> str:
    """'built-in', or 'file resnet18.py (sha256 1a2b3c4d...)'."""
    if source.get("kind") == "built-in":
        return "built-in"
    digest = f" (sha256 {source['sha256'][:12]}...)" if source.get("sha256") else ""
    return f"{source.get('kind')} {source.get('path') or source.get('module')}{digest}"


def model_names() -> list[str]:
    return list(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BenchError(f"unknown model {name!r}; choose one of: {', '.join(_REGISTRY)} "
                         "(or plug in your own with --models-from)") from None


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; keyword arguments go to its builder.

    A plugged-in builder that fails or returns something other than a module of 10 outputs
    is one BenchError naming the model and its file.
    """
    entry = get_entry(name)
    if entry.source.get("kind") == "built-in":
        return entry.builder(**kwargs)
    where = entry.source.get("path") or entry.source.get("module")
    try:
        model = entry.builder(**kwargs)
    except BenchError:
        raise
    except (Exception, SystemExit) as exc:  # the user's code can raise anything, sys.exit() included
        raise BenchError(f"{where}: building model {name!r} failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise BenchError(f"{where}: the builder of {name!r} returned a {type(model).__name__}, not a torch nn.Module")
    try:
        with torch.no_grad():
            out = model.eval()(torch.zeros(2, 3, 32, 32))
    except (Exception, SystemExit) as exc:
        raise BenchError(f"{where}: model {name!r} fails on a batch of 2 CIFAR-10 images (2x3x32x32): "
                         f"{type(exc).__name__}: {exc}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, NUM_CLASSES):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise BenchError(f"{where}: model {name!r} returns {shape} for 2 images; bench needs logits of shape "
                         f"(2, {NUM_CLASSES})")
    return model.train()


@register("mlp", "MLP", "3072-256-128-10 fully connected, ReLU", convolutional=False)
def mlp(hidden: tuple[int, ...] = (256, 128)) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    width = 3 * 32 * 32
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        width = h
    layers.append(nn.Linear(width, NUM_CLASSES))
    return nn.Sequential(*layers)


def _simple_cnn(blocks: tuple[tuple[int, int], ...], hidden: tuple[int, ...], batchnorm: bool,
                dropout: float) -> nn.Module:
    layers: list[nn.Module] = []
    cin = 3
    for block in blocks:
        for w in block:
            # A conv followed by BatchNorm needs no bias: BN's shift replaces it.
            layers.append(nn.Conv2d(cin, w, 3, padding=1, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.ReLU(inplace=True))
            cin = w
        layers.append(nn.MaxPool2d(2))
    side = 32 // 2 ** len(blocks)
    head: list[nn.Module] = [nn.Flatten()]
    width = cin * side * side
    for h in hidden:
        head += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        if dropout:
            head.append(nn.Dropout(dropout))
        width = h
    head.append(nn.Linear(width, NUM_CLASSES))
    return nn.Sequential(*layers, *head)


# The classic course CNN for CIFAR-10 (three blocks of two 3x3 convs, then three
# dense layers), a likely match for the study's lost figure and small enough to
# train in seconds per epoch on a GPU.
CNN_BLOCKS = ((32, 64), (128, 128), (256, 256))
CNN_HIDDEN = (1024, 512)


@register("cnn", "CNN", "3 blocks of 2 conv3x3+ReLU and max-pool (32-64, 128-128, 256-256), FC 4096-1024-512-10",
          convolutional=True)
def cnn(blocks: tuple[tuple[int, int], ...] = CNN_BLOCKS, hidden: tuple[int, ...] = CNN_HIDDEN) -> nn.Module:
    return _simple_cnn(blocks, hidden, batchnorm=False, dropout=0.0)


@register("cnn_bn", "CNN + BN + Dropout",
          "the CNN with BatchNorm after every conv and Dropout(0.5) after each hidden dense layer",
          convolutional=True)
def cnn_bn(blocks: tuple[tuple[int, int], ...] = CNN_BLOCKS, hidden: tuple[int, ...] = CNN_HIDDEN,
           dropout: float = 0.5) -> nn.Module:
    return _simple_cnn(blocks, hidden, batchnorm=True, dropout=dropout)


# Index one past the last layer of each of VGG16's five conv blocks in `features`.
VGG16_BLOCK_ENDS = (5, 10, 17, 24, 31)
VGG_WEIGHTS_ENV = "BENCH_VGG16_WEIGHTS"


class VGGTransfer(nn.Module):
    """VGG16's conv blocks, a global average pool and a small new classifier.

    At 32x32 input the last block outputs 512x1x1; torchvision's 7x7 adaptive pool
    would only copy that value 49 times, so a 1x1 pool feeds a 512-wide head instead.
    """

    def __init__(self, features: nn.Sequential, *, image_size: int = 32, hidden: int = 256,
                 dropout: float = 0.5):
        super().__init__()
        self.resize = (nn.Upsample(size=(image_size, image_size), mode="bilinear", align_corners=False)
                       if image_size != 32 else nn.Identity())
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(512, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, NUM_CLASSES),
        )

    def forward(self, x):
        return self.head(self.pool(self.features(self.resize(x))))


def load_vgg16_features(path: Path) -> dict[str, torch.Tensor]:
    """Read and check a state_dict of VGG16 conv weights (`features.*` keys)."""
    import torchvision

    path = Path(path)
    if not path.is_file():
        raise BenchError(f"VGG16 weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BenchError(f"VGG16 weights file {path} is not a readable state_dict ({type(exc).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BenchError(f"VGG16 weights file {path} does not hold a state_dict of tensors")
    expected = {k: v.shape for k, v in torchvision.models.vgg16().features.state_dict().items()}
    in_file = {k.removeprefix("features."): k for k in state}  # for messages: the key as the file spells it
    state = {k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise BenchError(
            f"VGG16 weights file {path} has the wrong keys (missing: {missing[:3]}, "
            f"unexpected: {unexpected[:3]}); expected torchvision vgg16 features.* weights"
        )
    bad = [k for k in expected if tuple(state[k].shape) != tuple(expected[k])]
    if bad:
        raise BenchError(
            f"VGG16 weights file {path} has wrong shapes for {bad[:3]} "
            f"(e.g. {tuple(state[bad[0]].shape)} instead of {tuple(expected[bad[0]])})"
        )
    # Values: load_state_dict would silently cast integers and happily train from NaN/Inf.
    for k in expected:
        v = state[k]
        if not v.is_floating_point():
            raise BenchError(f"VGG16 weights file {path} holds {v.dtype} values in {in_file[k]}; "
                             "expected floating-point weights")
        if not bool(torch.isfinite(v).all()):
            n_bad = int((~torch.isfinite(v)).sum())
            raise BenchError(f"VGG16 weights file {path} has non-finite values (NaN or Inf) in {in_file[k]} "
                             f"({n_bad:,} of {v.numel():,}); refusing to train from it")
    return state


def resolve_vgg_weights(path: str | Path | None, *, pretrained: bool, download: bool) -> tuple[dict | None, str]:
    """Find ImageNet weights: explicit path, then $BENCH_VGG16_WEIGHTS, then torchvision.

    Returns (state_dict or None, a description of the source recorded in config.json).
    """
    if not pretrained:
        return None, "none (random initialisation, --no-pretrained)"
    path = path or os.environ.get(VGG_WEIGHTS_ENV)
    if path:
        return load_vgg16_features(Path(path)), f"file {Path(path).name}"
    if not download:
        raise BenchError(
            "no VGG16 ImageNet weights: pass --vgg-weights PATH, set "
            f"{VGG_WEIGHTS_ENV}, allow --download, or use --no-pretrained"
        )
    import torchvision

    try:
        weights = torchvision.models.VGG16_Weights.IMAGENET1K_V1
        full = torchvision.models.vgg16(weights=weights).features.state_dict()
    except Exception as exc:
        raise BenchError(
            f"could not download VGG16 ImageNet weights ({type(exc).__name__}); pass "
            f"--vgg-weights PATH, set {VGG_WEIGHTS_ENV}, or use --no-pretrained"
        ) from None
    return full, "torchvision VGG16_Weights.IMAGENET1K_V1"


@register("vgg16", "VGG16 transfer",
          "ImageNet VGG16 conv blocks (1-3 frozen, 4-5 tuned), global pool, head 512-256-10",
          convolutional=True)
def vgg16(state_dict: dict | None = None, *, frozen_blocks: int = 3, image_size: int = 32,
          hidden: int = 256) -> nn.Module:
    import torchvision

    if not 0 <= frozen_blocks <= 5:
        raise BenchError(f"frozen_blocks must be between 0 and 5, got {frozen_blocks}")
    if image_size < 32:
        raise BenchError(f"image_size must be at least 32, got {image_size}")
    features = torchvision.models.vgg16().features
    if state_dict is not None:
        features.load_state_dict(state_dict)
    cut = VGG16_BLOCK_ENDS[frozen_blocks - 1] if frozen_blocks else 0
    for p in features[:cut].parameters():
        p.requires_grad_(False)
    return VGGTransfer(features, image_size=image_size, hidden=hidden)


def param_groups(model: nn.Module, lr: float, backbone_lr_scale: float) -> list[dict]:
    """Optimizer groups: tuned pretrained layers at `lr * backbone_lr_scale`, the rest at `lr`."""
    backbone, rest = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (backbone if name.startswith("features.") else rest).append(p)
    groups = [{"name": "head" if backbone else "all", "params": rest, "lr": lr}]
    if backbone:
        groups.append({"name": "backbone", "params": backbone, "lr": lr * backbone_lr_scale})
    return groups


def count_parameters(model: nn.Module) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, "frozen": total - trainable}


def _describe_layer(mod: nn.Module) -> str:
    if isinstance(mod, nn.Conv2d):
        return f"Conv2d {mod.in_channels}→{mod.out_channels}, {mod.kernel_size[0]}×{mod.kernel_size[1]}"
    if isinstance(mod, nn.Linear):
        return f"Linear {mod.in_features}→{mod.out_features}"
    if isinstance(mod, nn.BatchNorm2d):
        return f"BatchNorm2d {mod.num_features}"
    return type(mod).__name__


def layer_summary(model: nn.Module) -> list[dict]:
    """One row per leaf layer, for the report's architecture table."""
    rows = []
    for name, mod in model.named_modules():
        if list(mod.children()):
            continue
        params = sum(p.numel() for p in mod.parameters(recurse=False))
        trainable = any(p.requires_grad for p in mod.parameters(recurse=False))
        rows.append({"name": name, "layer": _describe_layer(mod), "params": params,
                     "trainable": bool(params) and trainable})
    return rows
