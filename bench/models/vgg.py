"""Everything about VGG16 transfer learning: the network, its pretrained weights, its settings.

The ImageNet weights of the conv blocks come from a local file (--vgg-weights, or the
environment variable BENCH_VGG16_WEIGHTS) or from torchvision's download; the run records
their source and the file's SHA-256. The study's settings (frozen blocks, input size) are
protocol data (bench.protocol.MODEL_DEFAULTS) and become this entry's `defaults`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from bench.errors import BenchError
from bench.models.registry import NUM_CLASSES, Weights, describe_layers, register_model, sha256_file
from bench.protocol import study_kwargs

NAME = "vgg16"  # the registry key; the only place outside bench.protocol that spells it
DEFAULTS = study_kwargs(NAME)  # {"frozen_blocks": 3, "image_size": 32}
BLOCKS = 5  # VGG16's conv blocks, each ending in a max-pool

# Index one past the last layer of each of VGG16's five conv blocks in `features`.
VGG16_BLOCK_ENDS = (5, 10, 17, 24, 31)
VGG_WEIGHTS_ENV = "BENCH_VGG16_WEIGHTS"


class VGGTransfer(nn.Module):
    """VGG16's conv blocks, a global average pool and a small new classifier.

    At 32x32 input the last block outputs 512x1x1; torchvision's 7x7 adaptive pool
    would only copy that value 49 times, so a 1x1 pool feeds a 512-wide head instead.
    """

    def __init__(self, features: nn.Sequential, *, image_size: int = 32, hidden: int = 256,
                 dropout: float = 0.5, frozen_blocks: int = 0, pretrained: bool = False):
        super().__init__()
        # Plain attributes for `describe_vgg`: they stay out of repr(), whose digest is the run's "architecture".
        self.image_size = image_size        # side of the (upsampled) input the conv blocks see
        self.frozen_blocks = frozen_blocks  # leading conv blocks whose weights do not train
        self.pretrained = pretrained        # whether the conv blocks started from ImageNet weights
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
    if not path.exists():
        raise BenchError(f"VGG16 weights file not found: {path}")
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file (a FIFO, socket or device)"
        raise BenchError(f"VGG16 weights file {path} is {kind}; give --vgg-weights (or BENCH_VGG16_WEIGHTS) "
                         "the weights file itself")
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


def weights_record(vgg_weights: str | Path | None, source: str) -> dict:
    """Where the VGG16 weights came from and the SHA-256 of the file that held them."""
    if source.startswith("none"):
        return {"source": source, "sha256": None}
    path = vgg_weights or os.environ.get(VGG_WEIGHTS_ENV)
    if not path:
        # torchvision's download lands in torch hub's cache under the URL's file name.
        import torchvision

        url = torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
        path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]
    path = Path(path)
    return {"source": source, "sha256": sha256_file(path) if path.is_file() else None}


def describe_vgg(model: VGGTransfer) -> dict:
    """The transfer network as data, for config.json's "structure" (the report reads blocks and head from it)."""
    head = [m for m in model.head if isinstance(m, nn.Linear)]
    return {
        **describe_layers(model),
        "backbone": "VGG16",                         # the pretrained family, as prose names it
        "pretrained_backbone": bool(model.pretrained),  # ImageNet weights loaded (False: --no-pretrained)
        "blocks": BLOCKS,                            # conv blocks of the backbone
        "frozen_blocks": model.frozen_blocks,        # leading blocks kept frozen
        "tuned_blocks": BLOCKS - model.frozen_blocks,  # blocks trained at backbone_lr_scale x the head's rate
        "image_size": model.image_size,              # input side the conv blocks see (upsampled above 32)
        "head": [head[0].in_features] + [m.out_features for m in head],  # e.g. [512, 256, 10]
    }


WEIGHTS = Weights(env=VGG_WEIGHTS_ENV, resolve=resolve_vgg_weights, record=weights_record)


@register_model(NAME, title="VGG16 transfer",
                description="ImageNet VGG16 conv blocks (1-3 frozen, 4-5 tuned), global pool, head 512-256-10",
                convolutional=True, defaults=DEFAULTS, weights=WEIGHTS, describe=describe_vgg)
def vgg16(state_dict: dict | None = None, *, frozen_blocks: int = DEFAULTS["frozen_blocks"],
          image_size: int = DEFAULTS["image_size"], hidden: int = 256) -> nn.Module:
    import torchvision

    if not 0 <= frozen_blocks <= BLOCKS:
        raise BenchError(f"frozen_blocks must be between 0 and {BLOCKS}, got {frozen_blocks}")
    if image_size < 32:
        raise BenchError(f"image_size must be at least 32, got {image_size}")
    features = torchvision.models.vgg16().features
    if state_dict is not None:
        features.load_state_dict(state_dict)
    cut = VGG16_BLOCK_ENDS[frozen_blocks - 1] if frozen_blocks else 0
    for p in features[:cut].parameters():
        p.requires_grad_(False)
    return VGGTransfer(features, image_size=image_size, hidden=hidden, frozen_blocks=frozen_blocks,
                       pretrained=state_dict is not None)
