"""Losses from a model config's `losses:` list, reported as `<split>/<dataset>/<loss>`.

A loss is a registered nn.Module with forward(sample_list, model_output) -> scalar tensor.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import SampleList


class Losses(nn.Module):
    """Computes every configured loss; returns {"<split>/<dataset>/<name>": value}."""

    def __init__(self, loss_list: Any) -> None:
        super().__init__()
        self.losses = nn.ModuleList()
        self.names: list[str] = []
        from mmf_ext.utils.configuration import component_entries

        for name, params in component_entries(loss_list, "losses"):
            loss_class = registry.get_loss_class(name)
            self.losses.append(loss_class(**params))
            self.names.append(name)

    def __len__(self) -> int:
        return len(self.losses)

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> dict[str, torch.Tensor]:
        prefix = f"{sample_list.dataset_type}/{sample_list.dataset_name}"
        return {
            f"{prefix}/{name}": loss(sample_list, model_output)
            for name, loss in zip(self.names, self.losses)
        }


def _targets(sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
    return model_output["targets"] if "targets" in model_output else sample_list["targets"]


@registry.register_loss("cross_entropy")
class CrossEntropyLoss(nn.Module):
    def __init__(self, **params: Any) -> None:
        super().__init__()
        self.params = params

    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        return F.cross_entropy(model_output["scores"], _targets(sample_list, model_output).long(), **self.params)


@registry.register_loss("binary_cross_entropy_with_logits")
class BinaryCrossEntropyWithLogits(nn.Module):
    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores = model_output["scores"]
        targets = _targets(sample_list, model_output).to(scores.dtype).reshape(scores.shape)
        return F.binary_cross_entropy_with_logits(scores, targets)


@registry.register_loss("mse")
class MSELoss(nn.Module):
    def forward(self, sample_list: SampleList, model_output: dict[str, Any]) -> torch.Tensor:
        scores = model_output["scores"]
        return F.mse_loss(scores, _targets(sample_list, model_output).to(scores.dtype).reshape(scores.shape))
