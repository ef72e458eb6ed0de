import torch.nn.functional as F
from torch import nn

from mmf.common.registry import registry


@registry.register_loss("cross_entropy")
class SoftTargetCrossEntropy(nn.Module):
    """A plugin loss named like MMF's built-in: it replaces it (with a warning), as in MMF."""

    def forward(self, sample_list, model_output):
        log_probabilities = F.log_softmax(model_output["scores"], dim=-1)
        return {"soft": -(sample_list["targets"] * log_probabilities).sum(-1).mean()}
