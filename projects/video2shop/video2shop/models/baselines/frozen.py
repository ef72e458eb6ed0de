"""What the frozen-feature baselines (Table 1's AL and FT) share: a pretrained IFN that never trains.

The paper's AL and FT read fixed fc6 features of an ImageNet network (Sec. 6.4). Here the IFN is
built by `build_ifn` from the model's `ifn` section, whose `pretrained` names the weights (what
models/asymnet/ifn.py accepts: torchvision weights from a local file or the torch cache, or a
project checkpoint's IFN). Without them the features are random and the baseline measures
nothing, so the model refuses to build. The IFN takes no gradient and stays in eval mode (no
BatchNorm statistics move, no dropout) whatever mode the trainer sets on the model.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import OmegaConf

from mmf_ext.utils.errors import ConfigError
from video2shop.models.asymnet.ifn import ImageFeatureNetwork
from video2shop.models.baselines.cosine import build_ifn


def frozen_ifn(
    config: Any, model: str, allow_random: bool = False, random_on_purpose: str | None = None
) -> ImageFeatureNetwork:
    """The pretrained IFN of `model_config.<model>.ifn`, frozen; random weights only when `allow_random`.

    `random_on_purpose` names the setting that allows random weights, for the refusal to mention.
    """
    if not config.pretrained and not allow_random:
        escape = f", or {random_on_purpose} to measure random features on purpose" if random_on_purpose else ""
        raise ConfigError(
            f"model_config.{model}.ifn.pretrained is null: {model} compares fixed features, which would be random; "
            f"give model_config.{model}.ifn.pretrained=imagenet, a local weights file or a project checkpoint"
            f"{escape}"
        )
    ifn = build_ifn(OmegaConf.merge({"dropout": 0.0}, config))  # frozen: eval mode, so no dropout key to set
    ifn.requires_grad_(False)
    return ifn.eval()


class FrozenIFN:
    """Mixin of a model whose `ifn` is a frozen feature extractor (put it before the model base class)."""

    ifn: ImageFeatureNetwork

    def train(self, mode: bool = True) -> Any:
        super().train(mode)  # type: ignore[misc]
        self.ifn.eval()
        return self

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images [N, 3, H, W] -> the frozen IFN's features [N, D], outside autograd."""
        with torch.no_grad():
            return self.ifn(images)
