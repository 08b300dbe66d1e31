"""ResNet-18 for CIFAR-10, as a bench plug-in.

The usual CIFAR variant (He et al. 2016, as in most CIFAR code): a 3x3 stem of 64 channels
and no max-pool, so that 32x32 inputs keep their resolution into the first stage; four
stages of two basic blocks (64, 128, 256, 512 channels, stride 2 from the second stage on);
global average pooling and one linear layer.

    bench models --models-from examples/resnet18.py
    bench train resnet18 --models-from examples/resnet18.py --protocol examples/resnet18.toml
"""

from torch import nn

from bench import register_model


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        # A 1x1 projection where the shape changes, so the residual can be added.
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, num_classes: int = 10, widths=(64, 128, 256, 512)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True))
        stages, cin = [], widths[0]
        for i, w in enumerate(widths):
            stages.append(nn.Sequential(BasicBlock(cin, w, 1 if i == 0 else 2), BasicBlock(w, w, 1)))
            cin = w
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


@register_model("resnet18", title="ResNet-18", convolutional=True,
                description="CIFAR ResNet-18: 3x3 stem, no max-pool, 4 stages of 2 basic blocks (64-512), global pool")
def resnet18() -> nn.Module:
    return ResNet18()
