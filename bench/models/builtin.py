"""The study's own networks: the MLP, the CNN, and the CNN with BatchNorm and Dropout.

They register in study order when bench.models is imported (see bench/models/__init__.py);
VGG16, the fourth, registers in bench.models.vgg. They take no pretrained weights and no
settings beyond their builders' defaults, so their entries keep the registry's defaults
(`defaults` {}, `weights` None, `describe` bench.models.registry.describe_layers).
"""

from __future__ import annotations

from torch import nn

from bench.models.registry import NUM_CLASSES, register_model


@register_model("mlp", title="MLP", description="3072-256-128-10 fully connected, ReLU", convolutional=False)
def mlp(hidden: tuple[int, ...] = (256, 128)) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    width = 3 * 32 * 32
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        width = h
    layers.append(nn.Linear(width, NUM_CLASSES))
    return nn.Sequential(*layers)


def simple_cnn(blocks: tuple[tuple[int, int], ...], hidden: tuple[int, ...], *, batchnorm: bool,
               dropout: float) -> nn.Module:
    """Blocks of 3x3 convs (+ BatchNorm) + ReLU, each ending in a 2x2 max-pool, then a dense head."""
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


@register_model("cnn", title="CNN",
                description="3 blocks of 2 conv3x3+ReLU and max-pool (32-64, 128-128, 256-256), FC 4096-1024-512-10",
                convolutional=True)
def cnn(blocks: tuple[tuple[int, int], ...] = CNN_BLOCKS, hidden: tuple[int, ...] = CNN_HIDDEN) -> nn.Module:
    return simple_cnn(blocks, hidden, batchnorm=False, dropout=0.0)


@register_model("cnn_bn", title="CNN + BN + Dropout",
                description="the CNN with BatchNorm after every conv and Dropout(0.5) after each hidden dense layer",
                convolutional=True)
def cnn_bn(blocks: tuple[tuple[int, int], ...] = CNN_BLOCKS, hidden: tuple[int, ...] = CNN_HIDDEN,
           dropout: float = 0.5) -> nn.Module:
    return simple_cnn(blocks, hidden, batchnorm=True, dropout=dropout)
