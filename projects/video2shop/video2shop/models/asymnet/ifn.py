"""Image feature network (paper Sec. 3.1): a backbone, spatial pyramid pooling, fully connected.

SPP pools the last convolutional map over a pyramid of grids, so crops of any size give a
fixed-length feature. Backbones come from torchvision by name (`tiny` is a small CNN of ours).
`pretrained` weights are never downloaded: torchvision's own ImageNet file from the local torch
cache, or a project checkpoint's IFN (video2shop.models.asymnet.ifn_weights).

`vgg_fc` is the paper's IFN: VGG16 with an SPP layer "inserted between the convolutional layers
and the fully-connected layers" (Sec. 3.1, Fig. 2), as in SPP-net: SPP replaces pool5 and feeds
VGG's own fc6 and fc7, and fc7's 4096 outputs are the feature. ImageNet's fc6 reads pool5, conv5
max-pooled on a 7x7 grid, which is the pyramid's 7x7 level exactly (at a 224-pixel crop conv5 is
14x14 and pool5 is 2x2 max pooling); so fc6 takes torchvision's classifier.0 weights on that
level's inputs and zeros on the other levels' (with `spp_levels: [1, 2, 4, 7]` the network starts
as VGG16's fc6/fc7 and learns to use the coarser levels), and fc7 takes classifier.3. Without
`vgg_fc`, one new fully connected layer maps the pyramid to `feature_dim`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
import torchvision.models as tvm
from torch import nn
from torchvision.models import WeightsEnum

from mmf_ext.utils.errors import ConfigError
from video2shop.models.asymnet.ifn_weights import (
    PretrainedFile,
    load_checkpoint_ifn,
    load_torchvision,
    read_pretrained,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BACKBONES = ("tiny", "mobilenet_v3_small", "resnet18", "vgg16")
VGG_FC_WIDTH = 4096  # fc6 and fc7 outputs
VGG_POOL5_GRID = 7  # ImageNet's fc6 reads conv5 max-pooled to 7x7


class SpatialPyramidPooling(nn.Module):
    """Max-pool a [B, C, H, W] map over l x l grids for each level l; concatenate."""

    def __init__(self, levels: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.levels = tuple(int(level) for level in levels)

    def output_size(self, channels: int) -> int:
        return channels * sum(level * level for level in self.levels)

    def level_offset(self, channels: int, level: int) -> int:
        """Where `level`'s pooled values start in the output."""
        return channels * sum(other * other for other in self.levels[: self.levels.index(level)])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = [F.adaptive_max_pool2d(features, level).flatten(1) for level in self.levels]
        return torch.cat(pooled, dim=1)


def _tiny_cnn() -> tuple[nn.Module, int]:
    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    layers = [
        *block(3, 32),
        nn.MaxPool2d(2),
        *block(32, 64),
        nn.MaxPool2d(2),
        *block(64, 128),
        nn.MaxPool2d(2),
        *block(128, 128),
    ]
    return nn.Sequential(*layers), 128


IMAGENET_WEIGHTS: dict[str, WeightsEnum] = {
    "vgg16": tvm.VGG16_Weights.IMAGENET1K_V1,
    "resnet18": tvm.ResNet18_Weights.IMAGENET1K_V1,
    "mobilenet_v3_small": tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1,
}


@dataclass
class TorchvisionBackbone:
    """A torchvision model (its whole network, as its weights file holds it) and the part the IFN keeps."""

    network: nn.Module
    backbone: nn.Module  # shares its modules with `network`: loading `network` loads it
    channels: int


def torchvision_backbone(name: str) -> TorchvisionBackbone:
    if name == "vgg16":  # SPP replaces the last max-pool (pool5) of VGG16
        model = tvm.vgg16(weights=None)
        return TorchvisionBackbone(model, nn.Sequential(*list(model.features.children())[:-1]), 512)
    if name == "resnet18":
        model = tvm.resnet18(weights=None)
        return TorchvisionBackbone(model, nn.Sequential(*list(model.children())[:-2]), 512)
    model = tvm.mobilenet_v3_small(weights=None)
    return TorchvisionBackbone(model, model.features, 576)


def _check_settings(
    backbone: str, levels: tuple[int, ...], feature_dim: int, pretrained: str | None, vgg_fc: bool
) -> None:
    """Settings that cannot work, refused before any network is built or file read."""
    if backbone not in BACKBONES:
        raise ConfigError(f"ifn.backbone={backbone!r} is unknown; choose {', '.join(BACKBONES)}")
    if not levels or any(level < 1 for level in levels) or len(set(levels)) != len(levels):
        raise ConfigError(f"ifn.spp_levels={list(levels)}: give distinct grid sizes of at least 1, e.g. [1, 2, 4]")
    if not vgg_fc:
        return
    if backbone != "vgg16":
        raise ConfigError(
            f"ifn.vgg_fc=true keeps VGG16's fc6/fc7; set ifn.backbone=vgg16 (not {backbone}) or vgg_fc=false"
        )
    if feature_dim != VGG_FC_WIDTH:
        raise ConfigError(
            f"ifn.vgg_fc=true: the feature is fc7's {VGG_FC_WIDTH} outputs; set ifn.feature_dim={VGG_FC_WIDTH} "
            f"(not {feature_dim})"
        )
    if pretrained == "imagenet" and VGG_POOL5_GRID not in levels:
        raise ConfigError(
            f"ifn.pretrained=imagenet with ifn.vgg_fc=true: VGG16's fc6 reads conv5 pooled on a 7x7 grid; add 7 to "
            f"ifn.spp_levels (now {list(levels)}, e.g. [1, 2, 4, 7]) or set vgg_fc=false"
        )


def _fully_connected(inputs: int, width: int, dropout: float, vgg_fc: bool) -> nn.Sequential:
    """One new layer to `width`; with vgg_fc, VGG's fc6 and fc7 (ReLU and dropout after each, as in VGG)."""
    layers: list[nn.Module] = [nn.Linear(inputs, width), nn.ReLU(inplace=True), nn.Dropout(dropout)]
    if vgg_fc:  # fc6 above, fc7 here
        layers += [nn.Linear(width, width), nn.ReLU(inplace=True), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class ImageFeatureNetwork(nn.Module):
    """uint8 or float images [N, 3, H, W] -> features [N, feature_dim]."""

    def __init__(
        self,
        backbone: str = "tiny",
        spp_levels: tuple[int, ...] = (1, 2, 4),
        feature_dim: int = 256,
        pretrained: str | None = None,
        dropout: float = 0.0,
        vgg_fc: bool = False,
    ) -> None:
        super().__init__()
        levels = tuple(int(level) for level in spp_levels)
        _check_settings(backbone, levels, feature_dim, pretrained, vgg_fc)
        file = read_pretrained(str(pretrained), IMAGENET_WEIGHTS.get(backbone), backbone) if pretrained else None
        torchvision = torchvision_backbone(backbone) if backbone != "tiny" else None
        if torchvision is None:
            self.backbone, channels = _tiny_cnn()
        else:
            self.backbone, channels = torchvision.backbone, torchvision.channels
        self.spp = SpatialPyramidPooling(levels)
        self.feature_dim = VGG_FC_WIDTH if vgg_fc else feature_dim
        self.fc = _fully_connected(self.spp.output_size(channels), self.feature_dim, dropout, vgg_fc)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.vgg_fc = bool(vgg_fc)
        if file is not None:
            self._load(file, backbone, torchvision, channels)

    @classmethod
    def from_config(cls, config: Any) -> ImageFeatureNetwork:
        """The IFN a model config's `ifn` section describes (asymnet's and the baselines' share it)."""
        vgg_fc = config.get("vgg_fc", False)
        if not isinstance(vgg_fc, bool):
            raise ConfigError(f"ifn.vgg_fc={vgg_fc!r}: give true or false")
        return cls(
            str(config.backbone),
            tuple(config.spp_levels),
            int(config.feature_dim),
            config.get("pretrained"),
            float(config.dropout),
            vgg_fc,
        )

    def _load(
        self, file: PretrainedFile, backbone: str, torchvision: TorchvisionBackbone | None, channels: int
    ) -> None:
        """A project checkpoint's whole IFN, or torchvision's file into the backbone (and fc6/fc7 with vgg_fc)."""
        if not file.is_torchvision:
            load_checkpoint_ifn(self, file)
            return
        if torchvision is None:
            raise ConfigError(
                f"{file.setting}: {file.path} holds torchvision weights, and the tiny backbone has none; "
                "choose a torchvision backbone or give a project checkpoint"
            )
        load_torchvision(torchvision.network, file)
        if self.vgg_fc:
            self._load_vgg_fc(torchvision.network, channels)

    @torch.no_grad()
    def _load_vgg_fc(self, vgg: nn.Module, channels: int) -> None:
        """fc6 <- classifier.0 on the pyramid's 7x7 level (zeros on the other levels), fc7 <- classifier.3."""
        fc6, fc7 = self.fc[0], self.fc[3]
        start = self.spp.level_offset(channels, VGG_POOL5_GRID)
        source = vgg.classifier[0].weight
        fc6.weight.zero_()
        fc6.weight[:, start : start + source.shape[1]] = source
        fc6.bias.copy_(vgg.classifier[0].bias)
        fc7.weight.copy_(vgg.classifier[3].weight)
        fc7.bias.copy_(vgg.classifier[3].bias)

    # oneDNN's CPU convolutions are fastest on NHWC: 1.48x a pretrain step (`python scripts/benchmark.py
    # ifn_step`); the same features (to float rounding). False: NCHW, as before (the benchmark's reference).
    nhwc_on_cpu = True

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.nhwc_on_cpu and images.device.type == "cpu":
            images = images.contiguous(memory_format=torch.channels_last)
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        images = (images - self.mean) / self.std
        return self.fc(self.spp(self.backbone(images)))
