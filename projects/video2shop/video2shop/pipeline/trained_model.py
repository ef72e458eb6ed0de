"""A trained retrieval model loaded from an `mmf_run` checkpoint, with the preprocessing it was trained with.

The crops a model reads (image size, frames per trajectory, context margin) are set by the dataset
config it was trained on, part of the run config the checkpoint carries (or, for older ones, the
run's config.yaml beside it; see mmf_ext.utils.build).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from mmf_ext.utils.build import build_model, load_weights
from video2shop.pipeline.checkpoints import CheckpointFile, read_checkpoint, require_retrieval_model


@dataclass
class TrainedModel:
    model: torch.nn.Module
    config: DictConfig
    checkpoint: Path
    image_size: int
    num_frames: int
    context_margin: float


def load_trained_model(
    checkpoint: str | os.PathLike | CheckpointFile, device: str | torch.device = "cpu"
) -> TrainedModel:
    """The run's model with the checkpoint's weights (strict), in eval mode on `device`.

    `checkpoint` is a path or one read already (read_checkpoint), whose label then names it in errors.
    """
    checkpoint = read_checkpoint(checkpoint)
    require_retrieval_model(checkpoint)
    config = checkpoint.config
    model = build_model(config, device=device)
    load_weights(model, checkpoint.state, checkpoint.label)
    model.eval()
    data = config.dataset_config[config.datasets]
    return TrainedModel(
        model, config, checkpoint.path, int(data.image_size), int(data.num_frames), float(data.context_margin)
    )
