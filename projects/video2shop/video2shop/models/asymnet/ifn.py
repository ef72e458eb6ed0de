"""Image feature network (paper Sec. 3.1): a backbone, spatial pyramid pooling, fully connected.

SPP pools the last convolutional map over a pyramid of grids, so crops of any size give a
fixed-length feature. Backbones come from torchvision by name; pretrained weights are optional and
only ever read from a local file or the local torch cache, never downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision.models as tvm
from torch import nn

from mmf_ext.utils.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SpatialPyramidPooling(nn.Module):
    """Max-pool a [B, C, H, W] map over l x l grids for each level l; concatenate."""

    def __init__(self, levels: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.levels = tuple(int(level) for level in levels)

    def output_size(self, channels: int) -> int:
        return channels * sum(level * level for level in self.levels)

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


def _torchvision_backbone(name: str) -> tuple[nn.Module, int, object]:
    if name == "vgg16":  # the paper's IFN: SPP replaces the last max-pool of VGG16
        model = tvm.vgg16(weights=None)
        return nn.Sequential(*list(model.features.children())[:-1]), 512, tvm.VGG16_Weights.IMAGENET1K_V1
    if name == "resnet18":
        model = tvm.resnet18(weights=None)
        return nn.Sequential(*list(model.children())[:-2]), 512, tvm.ResNet18_Weights.IMAGENET1K_V1
    if name == "mobilenet_v3_small":
        model = tvm.mobilenet_v3_small(weights=None)
        return model.features, 576, tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1
    raise ConfigError(f"ifn.backbone={name!r} is unknown; choose tiny, mobilenet_v3_small, resnet18 or vgg16")


def build_backbone(name: str, pretrained: str | None) -> tuple[nn.Module, int]:
    if name == "tiny":
        if pretrained:
            raise ConfigError(
                "ifn.pretrained is not available for the tiny backbone; use resnet18, mobilenet_v3_small or vgg16"
            )
        return _tiny_cnn()
    backbone, channels, weights_enum = _torchvision_backbone(name)
    if pretrained:
        state = _load_pretrained_state(name, str(pretrained), weights_enum)
        full_prefixes = {"vgg16": "features.", "resnet18": "", "mobilenet_v3_small": "features."}
        prefix = full_prefixes[name]
        own = backbone.state_dict()
        mapped = {}
        for key, value in state.items():
            if not key.startswith(prefix):
                continue
            stripped = key[len(prefix) :]
            if name == "resnet18":  # Sequential of children: conv1 bn1 relu maxpool layer1..4 -> 0..7
                order = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
                head, _, rest = stripped.partition(".")
                if head not in order:
                    continue
                stripped = f"{order.index(head)}.{rest}"
            if stripped in own:
                mapped[stripped] = value
        if not mapped:
            raise ConfigError(f"ifn.pretrained={pretrained}: no weights in it match the {name} backbone")
        backbone.load_state_dict(mapped, strict=False)
    return backbone, channels


def _load_pretrained_state(name: str, pretrained: str, weights_enum: object) -> dict:
    if pretrained == "imagenet":
        filename = Path(weights_enum.url).name  # type: ignore[attr-defined]
        path = Path(torch.hub.get_dir()) / "checkpoints" / filename
        if not path.is_file():
            raise ConfigError(
                f"ifn.pretrained=imagenet: {path} is not in the local torch cache and nothing is downloaded at "
                f"run time; copy {filename} there, give ifn.pretrained=/path/to/weights.pth, or set ifn.pretrained=null"
            )
    else:
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise ConfigError(f"ifn.pretrained={pretrained}: no such file; give a local weights file or null")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


class ImageFeatureNetwork(nn.Module):
    """uint8 or float images [N, 3, H, W] -> features [N, feature_dim]."""

    def __init__(
        self,
        backbone: str = "tiny",
        spp_levels: tuple[int, ...] = (1, 2, 4),
        feature_dim: int = 256,
        pretrained: str | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.backbone, channels = build_backbone(backbone, pretrained)
        self.spp = SpatialPyramidPooling(tuple(spp_levels))
        self.fc = nn.Sequential(
            nn.Linear(self.spp.output_size(channels), feature_dim), nn.ReLU(inplace=True), nn.Dropout(dropout)
        )
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.feature_dim = feature_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        images = (images - self.mean) / self.std
        return self.fc(self.spp(self.backbone(images)))
