"""The built-in networks for small images, and building whatever network a config names.

A `cifar_sweep/conf/model/*.yaml` names an `nn.Module` by its `_target_` and gets the data's `num_classes` (and
`in_channels`) by interpolation. Built in:

    VGG      the study's: 3x3 conv + BatchNorm + ReLU blocks, five 2x2 max-pools, optional dropout,
             one Linear. At width 1.0 on 32x32 images the parameter counts equal the standard CIFAR
             VGGs (vgg16: 14,728,266).
    ResNet   ResNet-18 in the standard CIFAR shape: a 3x3 stem without max-pool, four stages of two
             basic blocks (64, 128, 256, 512 channels), global average pool, one Linear
             (11,173,962 parameters at 10 classes).

Both take a `width` (a channel multiplier; 0.125 trains on a CPU) and any image size, square or not
(they pool adaptively at the end). Any other network works through its `_target_` too: a class of
yours (`mypkg.MyNet`), a function of yours that returns one (`mypkg.ResNet18`), or a trusted library
function (`timm.create_model`, `torchvision.models.resnet18`; cifar_sweep/targets.py); `build_model`
refuses, in one line, a target that does not import, one the rule does not allow, one that returns no
`nn.Module`, and arguments it rejects.

A network's output is its logits by one rule (`logits_of`): a tensor of shape (batch, num_classes); or
an output with `logits` (a key or an attribute: torchvision's GoogLeNetOutputs and InceptionOutputs,
Hugging Face's outputs); or a tuple or list whose first item is that tensor. Other items (auxiliary
heads, features) are not trained on. `check_output` runs the network in training and evaluation mode
before any training, and refuses in one line an output that the rule does not cover.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from cifar_sweep import targets
from cifar_sweep.arrays import as_size
from cifar_sweep.errors import UserError, one_line

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
    def __init__(
        self, name: str = "vgg16", width: float = 1.0, dropout: float = 0.0, num_classes: int = 10, in_channels: int = 3
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for spec in VGG_LAYERS[name]:
            if not isinstance(spec, int):  # "M"; ceil: odd sizes (28 -> 14 -> 7 -> 4 -> 2 -> 1) keep a pixel
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
                continue
            out_channels = scaled(spec, width)
            layers += [
                nn.Conv2d(channels, out_channels, 3, padding=1),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
            channels = out_channels
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)  # 32x32 images end at 1x1 already: the study's net, unchanged
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.pool(self.features(x)).flatten(1)))


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet-18 for small images (He et al. 2016, in the shape CIFAR work uses)."""

    def __init__(self, width: float = 1.0, dropout: float = 0.0, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        stem = scaled(64, width)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem, 3, 1, padding=1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True)
        )
        stages, channels = [], stem
        for base, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            out = scaled(base, width)
            stages += [BasicBlock(channels, out, stride), BasicBlock(out, out, 1)]
            channels = out
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)  # before the classifier, as VGG's (regularization=dropout)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.pool(self.stages(self.stem(x))).flatten(1)))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- building what a config names


def build_model(model_cfg: DictConfig, trust: Sequence[str] = ()) -> nn.Module:
    """The network `model_cfg` names: `_target_` (a class, a function of your code, or a trusted
    library function such as timm.create_model: cifar_sweep/targets.py) and its keyword arguments."""
    target = model_cfg.get("_target_")
    allowed = targets.whitelist("model", model_cfg, "model", trust)
    make = targets.locate("model._target_", target)
    config = cast(dict, OmegaConf.to_container(model_cfg, resolve=True))
    arguments = {k: v for k, v in config.items() if k not in ("_target_", "_partial_", "_convert_", "_recursive_")}
    try:  # Hydra builds the arguments (nested _target_s); the call is ours, and so is the check of its result
        built = instantiate(arguments, _convert_="partial", _execution_whitelist_=allowed)
        model = make(*built.pop("_args_", ()), **built)
    except Exception as e:  # the class refused its arguments: the user's to fix
        reason = one_line(e.__cause__ or e)
        raise UserError(f"model: {target} refuses these arguments ({reason}); check the keys of model") from None
    if not isinstance(model, nn.Module):
        raise UserError(f"model._target_={target!r}: returned a {type(model).__name__}, not an nn.Module")
    return model


OUTPUT_RULE = (
    "a tensor of shape (batch, num_classes), an output with `logits` (a key or an attribute), "
    "or a tuple whose first item is that tensor"
)


def logits_of(output: Any) -> torch.Tensor:
    """The logits in a network's output, by the rule above; UserError (what it returned) if none."""
    if isinstance(output, torch.Tensor):
        return output
    found = output.get("logits") if isinstance(output, Mapping) else getattr(output, "logits", None)
    if found is None and isinstance(output, (tuple, list)) and len(output) > 0:
        found = output[0]
    if isinstance(found, torch.Tensor):
        return found
    raise UserError(f"returns {described(output)}; expected {OUTPUT_RULE}")


def described(output: Any) -> str:
    """What a network returned, for a message: its type, and its keys or its items' types."""
    kind = type(output).__name__
    if isinstance(output, Mapping):
        return f"a {kind} with keys {list(output)[:8]}"
    if isinstance(output, (tuple, list)):
        return f"a {kind} of {len(output)} ({', '.join(type(item).__name__ for item in output[:8])})"
    return f"a {kind}"


def check_output(
    model_cfg: DictConfig, channels: int, image_size: Any, num_classes: int, trust: Sequence[str] = ()
) -> None:
    """Refuse, in one line, a network whose logits on one batch (in training and in evaluation mode)
    are not (batch, num_classes); image_size is N or (H, W). Built and run on the meta device: shapes
    only, no memory, and torch's random generator untouched."""
    height, width = as_size(image_size)
    images = f"{channels}x{height}x{width}"
    target = model_cfg._target_
    with torch.device("meta"):
        model = build_model(model_cfg, trust)
        for mode in ("training", "evaluation"):
            model.train(mode == "training")
            try:
                output = model(torch.zeros(2, channels, height, width))
            except NotImplementedError:  # an operation without a meta kernel: trust the network
                return
            except Exception as e:
                size = height if height == width else [height, width]
                raise UserError(
                    f"model: {target} fails on a batch of {images} images ({one_line(e)}); make it accept "
                    f"data.channels={channels} and data.image_size={size}"
                ) from None
            try:
                shape = tuple(logits_of(output).shape)
            except UserError as e:
                raise UserError(f"model: {target} in {mode} mode {e}") from None
            if shape != (2, num_classes):
                only = "" if mode == "training" else " in evaluation mode (right in training mode)"
                raise UserError(
                    f"model: {target} outputs shape {shape} for a batch of 2{only}; expected (2, {num_classes}): "
                    f"one logit per class (data.num_classes={num_classes})"
                )
