"""VGG for 32x32 images, in the study's shape.

3x3 conv + BatchNorm + ReLU blocks, five 2x2 max-pools (32 -> 1), optional dropout, one Linear.
At width 1.0 the parameter counts equal the standard CIFAR VGGs (vgg16: 14,728,266).
"""

from __future__ import annotations

import torch
from torch import nn

# Output channels per conv layer; "M" is a 2x2 max-pool.
VGG_LAYERS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def scaled(channels: int, width: float) -> int:
    return int(channels * width)


def narrowest_channels(name: str, width: float) -> int:
    return min(scaled(c, width) for c in VGG_LAYERS[name] if isinstance(c, int))


class VGG(nn.Module):
    def __init__(self, name: str = "vgg16", width: float = 1.0, dropout: float = 0.0, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for spec in VGG_LAYERS[name]:
            if not isinstance(spec, int):  # "M"
                layers.append(nn.MaxPool2d(2))
                continue
            out_channels = scaled(spec, width)
            layers += [
                nn.Conv2d(in_channels, out_channels, 3, padding=1),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(x).flatten(1)))


def build_model(model_cfg) -> VGG:
    return VGG(model_cfg.name, float(model_cfg.width), float(model_cfg.dropout))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
