"""A trained retrieval model loaded from an `mmf_run` checkpoint, with the preprocessing it was trained with.

A checkpoint alone does not say how crops were made; the run's saved config.yaml (beside the
checkpoint, or one folder up for models/model_<step>.ckpt) does: image size, frames per trajectory
and context margin come from the dataset config the model was trained on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from mmf_ext.utils.errors import UserError


@dataclass
class TrainedModel:
    model: torch.nn.Module
    config: DictConfig
    checkpoint: Path
    image_size: int
    num_frames: int
    context_margin: float


def find_run_config(checkpoint: Path) -> Path:
    for folder in (checkpoint.parent, checkpoint.parent.parent):
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    raise UserError(f"{checkpoint}: no config.yaml beside it or one folder up; pass a checkpoint from an mmf_run save dir")


def load_trained_model(checkpoint: str | os.PathLike, device: str | torch.device = "cpu") -> TrainedModel:
    """Build the run's model from its config.yaml and load the checkpoint's weights (strict)."""
    from mmf_ext.common.registry import registry
    from mmf_ext.utils.checkpoint import load_model_weights
    from mmf_ext.utils.configuration import load_yaml

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise UserError(f"{checkpoint}: checkpoint not found; train one with mmf_run (it writes <save_dir>/current.ckpt)")
    config = load_yaml(find_run_config(checkpoint))
    model = registry.get_model_class(config.model)(config.model_config[config.model])
    model.build()
    missing, unexpected = load_model_weights(model, checkpoint, strict=False)
    if missing or unexpected:
        raise UserError(f"{checkpoint}: does not fit model {config.model!r} of its config.yaml "
                        f"({len(missing)} missing, {len(unexpected)} unexpected weights, e.g. {(missing or unexpected)[0]})")
    model.eval().to(device)
    data = config.dataset_config[config.datasets]
    return TrainedModel(model, config, checkpoint, int(data.get("image_size", 64)), int(data.get("num_frames", 8)),
                        float(data.get("context_margin", 0.1)))
