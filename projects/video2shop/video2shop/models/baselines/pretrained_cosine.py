"""The registered `pretrained_cosine` model: Table 1's AL baseline, pretrained features compared by cosine.

The paper's AL (Sec. 6.4): "the activations of the fully-connected layer fc6 (4,096-d) [of an
ImageNet AlexNet] are used to form the feature representation", compared by cosine similarity,
and "for clothing trajectories in videos, we calculate the average similarity". Here the features
are the output of a pretrained IFN (`ifn.pretrained`, frozen.py): with a project checkpoint, the
IFN another model learned; with torchvision weights, what ifn.py builds from them. A pair's score
is the mean over the trajectory's frames of cos(frame, shop image): the mean of the L2-normalised
frame features dotted with the normalised shop feature (CosineRetrievalModel's scoring, exact for
any gallery). Per query that is |m| cos(m, g) for the mean m of the normalised frames, so the
ranking is also that of the cosine of the mean.

Nothing trains: run it with `run_type: test`. It needs no checkpoint (`weights_source`); without
`ifn.pretrained` it refuses to build, unless `checkpoint.allow_untrained=true` asks for random
features on purpose (a chance row), which it then says in the log.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import SampleList
from mmf_ext.utils.configuration import get_global_config
from mmf_ext.utils.errors import ConfigError
from video2shop.models.baselines.cosine import CosineRetrievalModel
from video2shop.models.baselines.frozen import FrozenIFN, frozen_ifn
from video2shop.paths import model_defaults

logger = logging.getLogger(__name__)
NAME = "pretrained_cosine"


@registry.register_model(NAME)
class PretrainedCosine(FrozenIFN, CosineRetrievalModel):
    @classmethod
    def config_path(cls) -> str:
        return model_defaults(NAME)

    def build(self) -> None:
        random_on_purpose = bool(get_global_config("checkpoint.allow_untrained"))
        self.ifn = frozen_ifn(self.config.ifn, NAME, random_on_purpose, "checkpoint.allow_untrained=true")
        if not self.config.ifn.pretrained:
            logger.warning("%s: ifn.pretrained is null: its features are random (checkpoint.allow_untrained)", NAME)

    def weights_source(self) -> str | None:
        pretrained = self.config.ifn.pretrained
        return f"model_config.{NAME}.ifn.pretrained={pretrained}" if pretrained else None

    def _refuse_training(self) -> ConfigError:
        return ConfigError(
            f"model={NAME} (Table 1's AL) trains nothing: it compares the pretrained IFN's features; "
            "run it with run_type=test"
        )

    def setup(self, stage: str) -> None:
        if stage == "fit":
            raise self._refuse_training()

    def query_states(self, videos: torch.Tensor) -> torch.Tensor:
        frames = self.features(videos.flatten(0, 1))
        return F.normalize(frames, dim=-1).view(*videos.shape[:2], -1)  # one state per frame: average similarity

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.features(images), dim=-1)

    def training_output(self, sample_list: SampleList) -> dict[str, Any]:
        raise self._refuse_training()
