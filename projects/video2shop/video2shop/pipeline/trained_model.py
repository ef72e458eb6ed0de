"""A trained retrieval model loaded from an `mmf_run` checkpoint, with the preprocessing it was trained with.

The crops a model reads (image size, frames per trajectory, context margin) are set by the dataset
config it was trained on, part of the run config the checkpoint carries (or, for older ones, the
run's config.yaml beside it; see mmf_ext.utils.build).
"""

from __future__ import annotations

import copy
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


def without_pretrained_files(config: DictConfig) -> DictConfig:
    """The run config with its IFN's `pretrained` file unset: the checkpoint's weights replace it, and the machine
    that searches need not have the file the training run started from."""
    config = copy.deepcopy(config)
    ifn = ((config.get("model_config") or {}).get(config.get("model")) or {}).get("ifn")
    if ifn is not None and "pretrained" in ifn:
        ifn.pretrained = None
    return config


def load_trained_model(
    checkpoint: str | os.PathLike | CheckpointFile, device: str | torch.device = "cpu"
) -> TrainedModel:
    """The run's model with the checkpoint's weights (strict), in eval mode on `device`.

    `checkpoint` is a path or one read already (read_checkpoint), whose label then names it in errors.
    """
    checkpoint = read_checkpoint(checkpoint)
    require_retrieval_model(checkpoint)
    config = checkpoint.config
    model = build_model(without_pretrained_files(config), device=device)
    load_weights(model, checkpoint.state, checkpoint.label)
    model.eval()
    data = config.dataset_config[config.datasets]
    return TrainedModel(
        model, config, checkpoint.path, int(data.image_size), int(data.num_frames), float(data.context_margin)
    )
