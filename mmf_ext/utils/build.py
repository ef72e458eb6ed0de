"""One model factory: a run config's registered model, built, optionally with a checkpoint's weights.

The trainer, inference and every tool that needs a model build it here, so a model is constructed
one way everywhere: `registry.get_model_class(config.model)(config.model_config[config.model])`,
then `build()` and `init_losses()`.

It is also MMF's `mmf.utils.build`: `build_model`, `build_config`, `build_trainer`,
`build_optimizer`, `build_scheduler`, `build_processors` keep MMF's signatures.

Checkpoints describe themselves: the trainer stores the resolved run config in each checkpoint
under "config" (a plain dict). A checkpoint without it is read with its run's config.yaml, beside
the checkpoint or one folder up (`<save_dir>/models/model_<step>.ckpt`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.datasets.processors import build_processors
from mmf_ext.modules.optimizers import build_optimizer
from mmf_ext.modules.schedulers import build_scheduler
from mmf_ext.utils.checkpoint import load_checkpoint_file
from mmf_ext.utils.configuration import Configuration, load_yaml
from mmf_ext.utils.errors import ConfigError, UserError

__all__ = [
    "CONFIG_KEY",
    "build_config",
    "build_model",
    "build_optimizer",
    "build_processors",
    "build_scheduler",
    "build_trainer",
    "checkpoint_run_config",
    "find_run_config",
    "load_weights",
]

CONFIG_KEY = "config"  # where a checkpoint keeps the resolved run config it was trained with


def find_run_config(checkpoint: str | os.PathLike) -> Path:
    """The config.yaml of the run that wrote `checkpoint`: beside it, or one folder up."""
    checkpoint = Path(checkpoint)
    for folder in (checkpoint.parent, checkpoint.parent.parent):
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    raise UserError(
        f"{checkpoint}: holds no run config and there is no config.yaml beside it or one folder up; "
        "pass a checkpoint from an mmf_run save dir"
    )


def checkpoint_run_config(checkpoint: str | os.PathLike, state: Mapping[str, Any] | None = None) -> DictConfig:
    """The run config `checkpoint` was trained with: its own "config" entry, else its run's config.yaml.

    `state` is the checkpoint already loaded (load_checkpoint_file), to read the file once.
    """
    if state is None:
        state = load_checkpoint_file(checkpoint)
    saved = state.get(CONFIG_KEY)
    if isinstance(saved, Mapping):
        return OmegaConf.create(dict(saved))
    return load_yaml(find_run_config(checkpoint))


def build_model(
    config: DictConfig | None = None,
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
) -> Any:
    """The registered model `config.model`, built from `config.model_config[config.model]`.

    `config` is the whole run config (`model`, `model_config`, ...), or None to use the
    checkpoint's (see checkpoint_run_config). With a `checkpoint` its "state_dict" is loaded
    strictly (a mismatch is a one-line UserError) and the model returned in eval mode; the model
    is moved to `device` when one is given. MMF's form, the model's own section with its `model`
    name (`build_model(config.model_config.<name>)`), is accepted too.
    """
    state = load_checkpoint_file(checkpoint) if checkpoint is not None else None
    if config is None:
        if state is None:
            raise ValueError("build_model needs a run config or a checkpoint")
        config = checkpoint_run_config(checkpoint, state)
    name = config.get("model") if isinstance(config, DictConfig) else None
    if not name:
        raise ConfigError("the run config names no model (its `model` key is empty); give the run's config")
    model_config = (config.get("model_config") or {}).get(name) if "model_config" in config else config
    if model_config is None:
        raise ConfigError(f"the run config has no model_config.{name}; give the config the model was trained with")
    model = registry.get_model_class(str(name))(model_config)
    model.build()
    model.init_losses()
    if state is not None:
        load_weights(model, state, checkpoint)
        model.eval()
    if device is not None:
        model.to(device)
    return model


def weights_mismatch(model: torch.nn.Module, weights: Mapping[str, Any]) -> str | None:
    """How a state dict fails to fit `model` (counts and one example key), or None when it fits."""
    own = model.state_dict()
    missing = [key for key in own if key not in weights]
    unexpected = [key for key in weights if key not in own]
    resized = [key for key in weights if key in own and tuple(own[key].shape) != tuple(weights[key].shape)]
    if not (missing or unexpected or resized):
        return None
    example = (missing or unexpected or resized)[0]
    return (
        f"{len(missing)} missing, {len(unexpected)} unexpected, {len(resized)} differently shaped weights, "
        f"e.g. {example}"
    )


def saved_model_name(state: Mapping[str, Any]) -> str | None:
    """The model a checkpoint's own run config names (checkpoints written by mmf_run carry it)."""
    saved = state.get(CONFIG_KEY)
    return str(saved.get("model")) if isinstance(saved, Mapping) and saved.get("model") else None


def load_weights(model: torch.nn.Module, state: Mapping[str, Any], checkpoint: str | os.PathLike) -> None:
    """A loaded checkpoint's "state_dict" into `model`, every key and shape matching (else a one-line UserError)."""
    weights = state.get("state_dict")
    if not isinstance(weights, Mapping):
        raise UserError(f"{checkpoint}: holds no state_dict; give a checkpoint written by mmf_run")
    mismatch = weights_mismatch(model, weights)
    if mismatch:
        raise UserError(f"{checkpoint}: does not fit model {type(model).__name__} of its run config ({mismatch})")
    model.load_state_dict(weights)


def build_config(configuration: Configuration) -> DictConfig:
    """MMF's `build_config(configuration)`: the run config of a Configuration, registered for the run."""
    config = configuration.get_config()
    registry.register("config", config)
    return config


def build_trainer(config: DictConfig) -> Any:
    """MMF's `build_trainer(config)`: the registered trainer named by training.trainer."""
    return registry.get_trainer_class(str(config.training.trainer))(config)
