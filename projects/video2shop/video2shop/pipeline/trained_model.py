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

from mmf_ext.utils.build import build_model, checkpoint_run_config, load_weights
from mmf_ext.utils.checkpoint import load_checkpoint_file
from mmf_ext.utils.errors import UserError


@dataclass
class TrainedModel:
    model: torch.nn.Module
    config: DictConfig
    checkpoint: Path
    image_size: int
    num_frames: int
    context_margin: float


def load_trained_model(checkpoint: str | os.PathLike, device: str | torch.device = "cpu") -> TrainedModel:
    """The run's model with the checkpoint's weights (strict), in eval mode on `device`."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise UserError(
            f"{checkpoint}: checkpoint not found; train one with mmf_run (it writes <save_dir>/current.ckpt)"
        )
    state = load_checkpoint_file(checkpoint)
    config = checkpoint_run_config(checkpoint, state)
    model = build_model(config, device=device)
    load_weights(model, state, checkpoint)
    model.eval()
    data = config.dataset_config[config.datasets]
    return TrainedModel(
        model, config, checkpoint, int(data.image_size), int(data.num_frames), float(data.context_margin)
    )
