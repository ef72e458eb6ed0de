"""BaseModel: MMF's model contract on a LightningModule.

A model gets its own section of the config (`model_config.<name>`), builds its submodules in
`build()`, and maps a SampleList to a dict with `scores` and/or `losses`. The framework owns the
loop: the Lightning step methods below call `forward`, add configured losses, log them as
`<split>/<dataset>/<loss>`, and hand evaluation outputs to the trainer, which gathers them over
ranks and calls `aggregate_eval_outputs` once on the whole split before metrics run.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig

from mmf_ext.common.sample import SampleList


class BaseModel(pl.LightningModule):
    """Subclass, register with `@registry.register_model("name")`, implement build/forward."""

    def __init__(self, config: DictConfig) -> None:
        super().__init__()
        self.config = config
        self._is_built = False

    @classmethod
    def config_path(cls) -> str | None:
        """Path of this model's defaults yaml (`model_config: {<name>: {...}}`), or None."""
        return None

    def build(self) -> None:
        """Create submodules. Called once by the framework before training or loading."""
        raise NotImplementedError

    def forward(self, sample_list: SampleList) -> dict[str, Any]:
        """Return a dict with `scores` and optionally `losses` (name -> scalar tensor)."""
        raise NotImplementedError

    def format_state_key(self, key: str) -> str:
        """Map a checkpoint key of an older layout to this model's (for pretrained loading)."""
        return key

    def aggregate_eval_outputs(
        self, sample_list: SampleList, model_output: dict[str, Any]
    ) -> dict[str, Any]:
        """Combine the per-sample outputs of a whole evaluation split, gathered from all ranks.

        The default keeps them as they are. A retrieval model overrides this to score every
        query against every gallery item once all of them have been encoded.
        """
        return model_output
