"""Which checkpoint a run starts from, and how much of it it takes (MMF's checkpoint.* keys).

- `checkpoint.resume`: continue from <save_dir>/current.ckpt (best.ckpt with `resume_best`) when
  it exists, with its step count, optimizer and scheduler state.
- `checkpoint.resume_file=PATH`: the same from a file (when `resume` finds nothing).
- `checkpoint.resume_pretrained`: only the model weights of resume_file, renamed by
  `pretrained_state_mapping`.
- `checkpoint.reset.{all, optimizer, counts, fp16_scaler}`: what not to take from a full checkpoint:
  `all` keeps only the weights, `counts` restarts at update 0 with the optimizer state, `optimizer`
  keeps the count with a fresh optimizer and scheduler, `fp16_scaler` drops the loss scaler.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from mmf_ext.utils.build import saved_model_name, weights_mismatch
from mmf_ext.utils.checkpoint import load_checkpoint_file, load_model_weights, save_checkpoint_file
from mmf_ext.utils.errors import ConfigError

logger = logging.getLogger("mmf_ext")


@dataclass
class StartPoint:
    """What Lightning resumes from (`ckpt_path`) and what the trainer loads itself."""

    ckpt_path: str | None = None
    source: str | None = None  # the checkpoint file the run resumes from, as the user named it
    weights_from: str | None = None  # model weights only (resume_pretrained, reset.all, reset.counts)
    optimizer_state: list[dict[str, Any]] | None = None  # reset.counts: restored at train start
    temporary: Path | None = None  # a stripped copy of the checkpoint, deleted after the run


def resume_source(config: DictConfig, save_dir: Path) -> str | None:
    """The checkpoint file a run resumes from, by MMF's precedence, or None for a fresh start."""
    checkpoint = config.checkpoint
    if checkpoint.resume or checkpoint.resume_best:
        path = save_dir / ("best.ckpt" if checkpoint.resume_best else "current.ckpt")
        if path.is_file():
            logger.info("resuming from %s", path)
            return str(path)
        if checkpoint.resume_best and not checkpoint.resume_file:
            raise ConfigError(f"checkpoint.resume_best=true but {path} does not exist")
        if not checkpoint.resume_file:
            logger.info("checkpoint.resume=true but %s does not exist yet; starting fresh", path)
    if checkpoint.resume_file:
        path = Path(checkpoint.resume_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"checkpoint.resume_file={checkpoint.resume_file}: no such file")
        return str(path)
    return None


def start_point(config: DictConfig, save_dir: Path) -> StartPoint:
    """Combine the resume source with resume_pretrained and the checkpoint.reset flags."""
    source = resume_source(config, save_dir)
    if config.checkpoint.resume_pretrained:
        if not config.checkpoint.resume_file:
            raise ConfigError("checkpoint.resume_pretrained=true needs checkpoint.resume_file=PATH")
        return StartPoint(weights_from=str(Path(config.checkpoint.resume_file).expanduser()))
    if source is None:
        return StartPoint()
    reset = config.checkpoint.reset
    if reset.all:
        return StartPoint(source=source, weights_from=source)
    if reset.counts:
        state = load_checkpoint_file(source)
        return StartPoint(source=source, weights_from=source, optimizer_state=list(state.get("optimizer_states") or []))
    if reset.optimizer or reset.fp16_scaler:
        copy = _stripped_copy(source, save_dir, reset)
        return StartPoint(ckpt_path=str(copy), source=source, temporary=copy)
    return StartPoint(ckpt_path=source, source=source)


def _stripped_copy(source: str, save_dir: Path, reset: DictConfig) -> Path:
    """A copy of the checkpoint without the optimizer / scheduler or the loss-scaler state."""
    state = load_checkpoint_file(source)
    if reset.optimizer:
        state["optimizer_states"], state["lr_schedulers"] = [], []
    if reset.fp16_scaler:
        for key in [k for k in state if "scaler" in k or k == "native_amp_scaling_state"]:
            state.pop(key)
    path = save_dir / ".resume_with_reset.ckpt"
    save_checkpoint_file(state, path)
    logger.info(
        "resuming from %s with checkpoint.reset %s",
        source,
        {k: v for k, v in OmegaConf.to_container(reset).items() if v},
    )
    return path


def check_start_checkpoint(model: torch.nn.Module, config: DictConfig, point: StartPoint) -> None:
    """A checkpoint of another model, or whose weights do not fit, is one line before anything runs."""
    path = point.source or point.weights_from
    if path is None:
        return
    state = load_checkpoint_file(path)
    saved = saved_model_name(state)
    if saved is not None and saved != config.model and not config.checkpoint.resume_pretrained:
        raise ConfigError(
            f"{path}: holds a model={saved} checkpoint, but this run is model={config.model}; give a {config.model} "
            "checkpoint (or checkpoint.resume_pretrained=true with checkpoint.pretrained_state_mapping)"
        )
    weights = state.get("state_dict")
    if config.checkpoint.resume_pretrained or not isinstance(weights, Mapping):
        return  # a mapping loads part of a checkpoint on purpose
    mismatch = weights_mismatch(model, weights)
    if mismatch:
        raise ConfigError(f"{path}: its weights do not fit model={config.model} as configured ({mismatch})")


def load_start_weights(model: torch.nn.Module, config: DictConfig, point: StartPoint) -> None:
    """Weights the trainer loads itself (pretrained, reset.all, reset.counts), before Lightning starts."""
    if point.weights_from is None:
        return
    mapping = config.checkpoint.pretrained_state_mapping if config.checkpoint.resume_pretrained else None
    mapping = OmegaConf.to_container(mapping, resolve=True) if mapping is not None else None
    missing, unexpected = load_model_weights(model, point.weights_from, mapping or None)
    logger.info(
        "loaded model weights from %s (%d missing, %d unexpected keys)",
        point.weights_from,
        len(missing),
        len(unexpected),
    )
