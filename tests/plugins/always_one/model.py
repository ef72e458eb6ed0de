"""A linear classifier over a small feature vector."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from mmf_ext.common.registry import registry
from mmf_ext.models.base_model import BaseModel


@registry.register_model("always_one_model")
class AlwaysOneModel(BaseModel):
    @classmethod
    def config_path(cls) -> str:
        return str(Path(__file__).with_name("model.yaml"))

    def build(self) -> None:
        self.classifier = nn.Sequential(
            nn.Linear(int(self.config.in_dim), int(self.config.hidden)),
            nn.ReLU(),
            nn.Linear(int(self.config.hidden), int(self.config.num_classes)),
        )
        if self.config.unused_parameter:
            self.unused = nn.Linear(2, 2)

    def forward(self, sample_list):
        scores = self.classifier(sample_list.features)
        return {"scores": scores}
