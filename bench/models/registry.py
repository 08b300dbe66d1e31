"""The model registry: what bench knows about each model, and the helpers every model shares.

A `ModelEntry` carries everything the rest of bench needs to know about a model (as timm's
registry does): its builder, how the report names it, the builder settings a run records
(`defaults`), whether and how it loads pretrained weights (`weights`), and a description of
a built network as data (`describe`). Nothing outside bench.models needs a model's name to
treat it right. The built-in models register themselves in bench.models.builtin and
bench.models.vgg; `import bench.models` (any of its modules) registers them, in study order.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from bench.errors import BenchError
from bench.protocol import DATA

NUM_CLASSES = DATA.num_classes  # every model's number of outputs


@dataclass(frozen=True)
class Weights:
    """How a model gets its pretrained weights, and how a run records where they came from."""

    env: str  # environment variable naming a local weights file (the CLI's --*-weights option reads it too)
    # (path | None, *, pretrained, download) -> (state_dict | None, source text recorded in config.json)
    resolve: Callable[..., tuple[dict | None, str]]
    # (path | None, source text) -> {"source": ..., "sha256": ...} of the file the weights came from
    record: Callable[..., dict]


@dataclass(frozen=True)
class ModelEntry:
    name: str          # registry key, used on the command line and in artifact paths
    title: str         # how the report names it
    description: str   # one line for `bench models` and the report
    builder: Callable[..., nn.Module]  # keyword arguments -> an nn.Module with NUM_CLASSES outputs
    convolutional: bool  # channels_last pays off only for conv nets
    # Where the code came from: {"kind": "built-in"}, or a plug-in's file/module and its SHA-256
    # (recorded in config.json and the model's fingerprint).
    source: dict = field(default_factory=lambda: {"kind": "built-in"})
    # Builder keyword arguments a run passes and records in config.json's compute.model_kwargs
    # (the command line may override their values, never add keys).
    defaults: dict = field(default_factory=dict)
    weights: Weights | None = None  # None: the model trains from random initialisation only
    # A built network -> its structure as data (config.json's "structure"); None: `describe_layers`.
    describe: Callable[[nn.Module], dict] | None = None

    def structure(self, model: nn.Module) -> dict:
        """The description of `model` that config.json records under "structure"."""
        return (self.describe or describe_layers)(model)

    def model_kwargs(self, **overrides) -> dict:
        """The builder arguments of a run: `defaults`, with the `overrides` (None: not given) of keys it has."""
        return {k: (v if overrides.get(k) is None else overrides[k]) for k, v in self.defaults.items()}


_REGISTRY: dict[str, ModelEntry] = {}
# Set by bench.models.plugins (through `loading_from`) while it imports a user's models, so that
# registrations record their source.
_LOADING: dict | None = None
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def register_model(name: str, *, title: str, description: str, convolutional: bool, defaults: dict | None = None,
                   weights: Weights | None = None, describe: Callable[[nn.Module], dict] | None = None):
    """Register a model builder (a function returning an nn.Module with 10 outputs) under `name`.

    Use as a decorator. `name` is used on the command line and in artifact paths: lowercase
    letters, digits and underscores. A plug-in may not reuse a built-in model's name.
    `defaults`, `weights` and `describe` are optional (see `ModelEntry`).
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise BenchError(f"model name {name!r} is not allowed: use 1-40 lowercase letters, digits and underscores, "
                         "starting with a letter")
    if defaults is not None and not (isinstance(defaults, dict) and all(isinstance(k, str) for k in defaults)):
        raise BenchError(f"model {name!r}: defaults must be a dict of builder keyword arguments")
    for key, value, limit in (("title", title, 80), ("description", description, 400)):
        if not isinstance(value, str) or not value.strip() or len(value) > limit or not value.isprintable():
            raise BenchError(f"model {name!r}: {key} must be a non-empty line of text of at most {limit} "
                             f"characters, without control characters (a newline included); got {short_repr(value)}")
    if not isinstance(convolutional, bool):
        raise BenchError(f"model {name!r}: convolutional must be True or False, got {short_repr(convolutional)}")
    if weights is not None and not isinstance(weights, Weights):
        raise BenchError(f"model {name!r}: weights must be None or a bench.models.registry.Weights, "
                         f"got {type(weights).__name__}")
    if describe is not None and not callable(describe):
        raise BenchError(f"model {name!r}: describe must be None or a function, got {type(describe).__name__}")

    def wrap(fn):
        if not callable(fn):
            raise BenchError(f"model {name!r}: register_model decorates a builder function, "
                             f"not a {type(fn).__name__}")
        source = dict(_LOADING) if _LOADING is not None else {"kind": "built-in"}
        if _LOADING is not None and name in _REGISTERED_NOW:
            where = source.get("path") or source.get("module")
            raise BenchError(f"{where}: registers model {name!r} twice; give each builder its own name")
        old = _REGISTRY.get(name)
        if old is not None and old.source != source:
            where = source.get("path") or source.get("module") or "bench"
            raise BenchError(f"{where}: model name {name!r} clashes with the {describe_source(old.source)} model "
                             f"of that name; choose another name (taken: {', '.join(_REGISTRY)})")
        _REGISTRY[name] = ModelEntry(name, title, description, fn, convolutional, source, dict(defaults or {}),
                                     weights, describe)
        _REGISTERED_NOW.add(name)
        return fn
    return wrap


def short_repr(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# The names registered since the last `loading_from`: one file may not register a name twice.
_REGISTERED_NOW: set[str] = set()


def loading_from(source: dict | None) -> None:
    """Record `source` in every registration until the next call (None: built-in again); bench.models.plugins."""
    global _LOADING
    _LOADING = source
    _REGISTERED_NOW.clear()


def snapshot() -> dict[str, ModelEntry]:
    """A copy of the registry, for `restore` after a plug-in failed halfway."""
    return dict(_REGISTRY)


def restore(entries: dict[str, ModelEntry]) -> None:
    _REGISTRY.clear()
    _REGISTRY.update(entries)


def entries() -> list[ModelEntry]:
    """Every registered model, in registration order."""
    return list(_REGISTRY.values())


def sha256_file(path, *, opener: Callable = open) -> str:
    """SHA-256 of a file read in chunks: how the registry identifies a plug-in's code and a model's weights,
    and (through bench.rundir.layout.sha256_file, whose `opener` never follows a link) a run directory's files."""
    digest = hashlib.sha256()
    with opener(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # the user's code can raise anything
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
    if not out.is_floating_point():
        raise BenchError(f"{where}: model {name!r} returns {out.dtype} outputs; bench needs floating-point logits "
                         "(a loss cannot be differentiated through integers)")
    if not any(p.requires_grad for p in model.parameters()):
        raise BenchError(f"{where}: model {name!r} has no trainable parameters (none with requires_grad); "
                         "there is nothing to train")
    probe_training_step(name, model, where)
    return model.train()


def probe_training_step(name: str, model: nn.Module, where: str) -> None:
    """One training step of a plug-in on a copy of `model` (train mode, loss, backward), so that a model that
    fails only while training is refused before a run starts, not minutes into it. The copy and a forked
    random generator keep `model` and every later random draw exactly as they were."""
    import copy

    import torch.nn.functional as F

    try:
        trial = copy.deepcopy(model).train()
        with torch.random.fork_rng(devices=[]):
            out = trial(torch.zeros(2, 3, 32, 32))
            F.cross_entropy(out, torch.zeros(2, dtype=torch.long)).backward()
    except (Exception, SystemExit) as exc:
        raise BenchError(f"{where}: model {name!r} fails in a training step (train mode, loss, backward) on a batch "
                         f"of 2 images: {type(exc).__name__}: {' '.join(str(exc).split())[:200]} "
                         "(--debug shows the traceback)") from None


class ModelCodeError(BenchError):
    """A plugged-in model's own code failed while a job trained or evaluated it. `cause` keeps the original
    exception, whose traceback `bench --debug` shows (bench.cli.group)."""

    def __init__(self, message: str, cause: BaseException):
        super().__init__(message)
        self.cause = cause  # the user's exception, traceback attached


def is_plugged_in(name: str) -> bool:
    """Whether `name` is a model from a user's file, module or package (its code can raise anything)."""
    return get_entry(name).source.get("kind") != "built-in"


def model_code_error(name: str, exc: BaseException, *, job: str) -> ModelCodeError:
    """One line for an exception a plug-in raised late (while `job` trained or was tested): the file and its
    line, the model, the exception."""
    import traceback

    source = get_entry(name).source
    where = source.get("path") or source.get("module") or name
    file_name = source.get("path")
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if file_name and f.filename.rsplit("/", 1)[-1] == file_name]
    line = f", line {frames[-1].lineno}," if frames else ""
    detail = " ".join(str(exc).split())[:200]
    return ModelCodeError(f"{where}{line} model {name!r} failed while training {job}: {type(exc).__name__}"
                          f"{': ' + detail if detail else ''}; the job is recorded as failed "
                          "(--debug shows the traceback)", exc)


def structure_of(name: str, model: nn.Module) -> dict:
    """config.json's "structure" of `model`, built by registered model `name`. A plug-in's `describe` that
    fails is one BenchError naming its file (its code can raise anything)."""
    entry = get_entry(name)
    if entry.source.get("kind") == "built-in":
        return entry.structure(model)
    where = entry.source.get("path") or entry.source.get("module")
    try:
        out = entry.structure(model)
    except (Exception, SystemExit) as exc:
        raise BenchError(f"{where}: describing model {name!r} failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(out, dict):
        raise BenchError(f"{where}: the describe function of {name!r} returned a {type(out).__name__}, not a dict")
    return out


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


def describe_layers(model: nn.Module) -> dict:
    """Any network's structure as data: conv widths, the dense chain, normalisation and dropout.

    The default `describe` of a registered model; e.g. the MLP gives dense [3072, 256, 128, 10].
    """
    mods = list(model.modules())
    convs = [m for m in mods if isinstance(m, nn.Conv2d)]
    dense = [m for m in mods if isinstance(m, nn.Linear)]
    dropouts = [m.p for m in mods if isinstance(m, nn.Dropout)]
    return {
        "conv_channels": [c.out_channels for c in convs],  # output channels of each conv layer, in order
        "pools": sum(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in mods),  # downsampling stages
        # input width of the first dense layer, then every dense layer's output width
        "dense": [dense[0].in_features] + [d.out_features for d in dense] if dense else [],
        "batchnorm": any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) for m in mods),
        "dropout": max(dropouts, default=0.0),  # the largest dropout probability (0: none)
    }
