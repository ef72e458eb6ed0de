import torch

from mmf.common.registry import registry
from mmf.models.base_model import BaseModel


@registry.register_model("tutorial_mlp")
class TutorialMLP(BaseModel):
    def __init__(self, config):
        super().__init__(config)
        self.build()

    @classmethod
    def config_path(cls):
        # Relative to user dir root
        return "configs/models/tutorial_mlp/defaults.yaml"

    def build(self):
        self.classifier = torch.nn.Sequential(
            torch.nn.Linear(self.config.classifier.params.in_dim, self.config.classifier.params.hidden_dim),
            torch.nn.ReLU(),
            torch.nn.Linear(self.config.classifier.params.hidden_dim, self.config.classifier.params.out_dim),
        )

    def forward(self, sample_list):
        logits = self.classifier(sample_list["text"])
        return {"scores": logits}
