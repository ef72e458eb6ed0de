"""Build a torchvision Faster R-CNN for clothing from config, never downloading anything.

torchvision's builders make the network (`weights=None, weights_backbone=None` by default). The
box head's MLP is torchvision's TwoMLPHead, rebuilt narrower when `representation_size` is below
its 1024: on a CPU that head (256*7*7 -> 1024 -> 1024 per proposal) and RoIAlign's backward
(`roi_sampling_ratio` points per bin) cost more than the backbone.
Pretrained weights come only from local files: `coco` / `imagenet` name torchvision's files in
the local torch cache (torchvision reads a cached file instead of downloading), a path names a
state dict; anything missing is a ConfigError that says where to put the file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import MobileNet_V3_Large_Weights, ResNet18_Weights, ResNet50_Weights, resnet18
from torchvision.models.detection import (
    FasterRCNN,
    FasterRCNN_MobileNet_V3_Large_FPN_Weights,
    FasterRCNN_ResNet50_FPN_Weights,
    fasterrcnn_mobilenet_v3_large_fpn,
    fasterrcnn_resnet50_fpn,
)
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops.misc import FrozenBatchNorm2d

from mmf_ext.utils.checkpoint import load_checkpoint_file
from mmf_ext.utils.errors import ConfigError
from video2shop.models.detector.item_scores import SCORE_MODES, use_item_scores
from video2shop.models.detector.torchvision_files import is_cached, missing_file_message

logger = logging.getLogger("mmf_ext")


def fasterrcnn_resnet18_fpn(
    *,
    weights: Any = None,
    weights_backbone: Any = None,
    num_classes: int | None = None,
    trainable_backbone_layers: int | None = None,
    **kwargs: Any,
) -> FasterRCNN:
    """torchvision's fasterrcnn_resnet50_fpn recipe on a ResNet-18 with FPN levels at strides 8-32.

    On a CPU from scratch it learns faster per second than MobileNetV3: a shallow plain ResNet
    with batch norm trains readily without pretraining, and stride 8 gives small frames detail.
    """
    trained = weights_backbone is not None
    layers = trainable_backbone_layers if trainable_backbone_layers is not None else (3 if trained else 5)
    norm_layer = FrozenBatchNorm2d if trained else nn.BatchNorm2d
    backbone = _resnet_fpn_extractor(
        resnet18(weights=weights_backbone, norm_layer=norm_layer), layers, returned_layers=[2, 3, 4]
    )
    anchors = AnchorGenerator(((32,), (64,), (128,), (256,)), ((0.5, 1.0, 2.0),) * 4)
    return FasterRCNN(backbone, num_classes, rpn_anchor_generator=anchors, **kwargs)


# name -> (torchvision builder, COCO detector weights, ImageNet backbone weights)
ARCHITECTURES: dict[str, tuple[Callable[..., FasterRCNN], Any, Any]] = {
    "fasterrcnn_resnet18_fpn": (fasterrcnn_resnet18_fpn, None, ResNet18_Weights.IMAGENET1K_V1),
    "fasterrcnn_mobilenet_v3_large_fpn": (
        fasterrcnn_mobilenet_v3_large_fpn,
        FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1,
        MobileNet_V3_Large_Weights.IMAGENET1K_V1,
    ),
    "fasterrcnn_resnet50_fpn": (
        fasterrcnn_resnet50_fpn,
        FasterRCNN_ResNet50_FPN_Weights.COCO_V1,
        ResNet50_Weights.IMAGENET1K_V1,
    ),
}
TORCHVISION_HEAD_WIDTH = 1024


def _cached_weights(weights: Any, key: str, value: str) -> Any:
    """torchvision weights whose file is already in the local torch cache (torchvision then reads it), else a
    ConfigError."""
    if not is_cached(weights):
        raise ConfigError(
            missing_file_message(
                weights, f"model_config.clothing_detector.{key}={value}", f"give a local file path, or set {key}=null"
            )
        )
    return weights


def _local_state(path_text: str, key: str) -> dict[str, torch.Tensor]:
    """A detector state dict from a file: torchvision's, or a clothing_detector checkpoint's."""
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"model_config.clothing_detector.{key}={path_text}: no such file; give a local weights file or null"
        )
    state = load_checkpoint_file(path)
    state = state.get("state_dict", state.get("model", state))
    if any(k.startswith("detector.") for k in state):
        state = {k[len("detector.") :]: v for k, v in state.items() if k.startswith("detector.")}
    return state


def load_matching(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> int:
    """Copy every tensor whose name and shape match (a different class count skips the predictor)."""
    own = model.state_dict()
    kept = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not kept:
        raise ConfigError(
            f"{source}: none of its weights match this detector; is it a Faster R-CNN of the same architecture?"
        )
    model.load_state_dict(kept, strict=False)
    skipped = sorted(set(own) - set(kept))
    if skipped:
        logger.info(
            "%s: loaded %d tensors, kept %d fresh (%s...)", source, len(kept), len(skipped), ", ".join(skipped[:3])
        )
    return len(kept)


def build_faster_rcnn(
    architecture: str,
    num_classes: int,
    representation_size: int = TORCHVISION_HEAD_WIDTH,
    pretrained: str | None = None,
    pretrained_backbone: str | None = None,
    trainable_backbone_layers: int | None = None,
    roi_sampling_ratio: int = 2,
    score: str = "item",
    **detector_options: Any,
) -> FasterRCNN:
    """A Faster R-CNN with `num_classes` outputs (background included); options go to FasterRCNN."""
    if architecture not in ARCHITECTURES:
        raise ConfigError(
            f"model_config.clothing_detector.architecture={architecture!r}; choose {', '.join(ARCHITECTURES)}"
        )
    if num_classes < 2:
        raise ConfigError(
            f"model_config.clothing_detector.num_classes={num_classes}: needs background plus at least one category"
        )
    if score not in SCORE_MODES:
        raise ConfigError(f"model_config.clothing_detector.score={score!r}; choose {' or '.join(SCORE_MODES)}")
    weights, weights_backbone = _torchvision_weights(architecture, pretrained, pretrained_backbone, representation_size)
    builder = ARCHITECTURES[architecture][0]
    model = builder(
        weights=weights,
        weights_backbone=weights_backbone,
        num_classes=None if weights else num_classes,
        trainable_backbone_layers=trainable_backbone_layers,
        **detector_options,
    )
    heads = model.roi_heads
    # RoIAlign's backward is serial on CPU and dominates a training step: fewer samples per bin help most
    heads.box_roi_pool.sampling_ratio = int(roi_sampling_ratio)
    if weights is not None or representation_size != TORCHVISION_HEAD_WIDTH:
        if representation_size != TORCHVISION_HEAD_WIDTH:
            resolution = heads.box_roi_pool.output_size[0]
            heads.box_head = TwoMLPHead(model.backbone.out_channels * resolution**2, representation_size)
        heads.box_predictor = FastRCNNPredictor(representation_size, num_classes)
    if score == "item":
        use_item_scores(heads)
    if pretrained not in (None, "coco"):
        load_matching(
            model,
            _local_state(str(pretrained), "pretrained"),
            f"model_config.clothing_detector.pretrained={pretrained}",
        )
    return model


def _torchvision_weights(
    architecture: str, pretrained: str | None, pretrained_backbone: str | None, representation_size: int
) -> tuple[Any, Any]:
    """torchvision's COCO detector weights and ImageNet backbone weights asked for, from the local torch cache."""
    _, coco_weights, backbone_weights = ARCHITECTURES[architecture]
    weights = weights_backbone = None
    if pretrained == "coco":
        if coco_weights is None:
            raise ConfigError(
                f"model_config.clothing_detector.pretrained=coco: torchvision has no COCO weights for "
                f"{architecture}; use a local file or null"
            )
        weights = _cached_weights(coco_weights, "pretrained", "coco")
        if representation_size != TORCHVISION_HEAD_WIDTH:
            raise ConfigError(
                f"model_config.clothing_detector.pretrained=coco keeps torchvision's box head; "
                f"set representation_size={TORCHVISION_HEAD_WIDTH}"
            )
    if pretrained_backbone is not None:
        if pretrained_backbone != "imagenet":
            raise ConfigError(
                f"model_config.clothing_detector.pretrained_backbone={pretrained_backbone!r}; use imagenet "
                "(torchvision's file in the local torch cache) or null"
            )
        weights_backbone = _cached_weights(backbone_weights, "pretrained_backbone", "imagenet")
    return weights, weights_backbone
