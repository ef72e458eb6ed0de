"""Optimizers and schedulers from config: torch.optim / built-in schedules by name, or the registry."""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from omegaconf import DictConfig, OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.utils.errors import ConfigError


def build_optimizer(parameters: Iterable[torch.nn.Parameter], config: DictConfig) -> torch.optim.Optimizer:
    name = config.optimizer.type
    params = OmegaConf.to_container(config.optimizer.get("params") or {}, resolve=True)
    if registry.has("optimizer", name):
        optimizer_class = registry.get_optimizer_class(name)
    elif hasattr(torch.optim, name):
        optimizer_class = getattr(torch.optim, name)
    else:
        known = sorted(n for n in dir(torch.optim) if n[0].isupper() and n != "Optimizer")
        raise ConfigError(
            f"optimizer.type={name!r} is neither a torch.optim optimizer nor registered; "
            f"choose one of {', '.join(known + registry.names('optimizer'))}"
        )
    try:
        return optimizer_class(list(parameters), **params)
    except TypeError as error:
        raise ConfigError(f"optimizer.params {params} do not fit {name}: {error}") from None


def build_scheduler(optimizer: torch.optim.Optimizer, config: DictConfig, total_steps: int) -> Any:
    name = config.scheduler.get("type")
    if not name:
        return None
    params = OmegaConf.to_container(config.scheduler.get("params") or {}, resolve=True)
    if registry.has("scheduler", name):
        return registry.get_scheduler_class(name)(optimizer, **params)
    warmup = int(params.pop("warmup_steps", 0))
    if name in ("cosine", "warmup_cosine"):
        floor = float(params.pop("min_lr_ratio", 0.0))

        def cosine(step: int) -> float:
            if step < warmup:
                return (step + 1) / max(1, warmup)
            progress = (step - warmup) / max(1, total_steps - warmup)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
    if name in ("step", "warmup_step"):
        step_size = int(params.pop("step_size", max(1, total_steps // 3)))
        gamma = float(params.pop("gamma", 0.1))
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: ((s + 1) / max(1, warmup) if s < warmup else gamma ** ((s - warmup) // step_size))
        )
    if hasattr(torch.optim.lr_scheduler, name):
        return getattr(torch.optim.lr_scheduler, name)(optimizer, **params)
    raise ConfigError(
        f"scheduler.type={name!r} is unknown; use cosine, warmup_cosine, step, a torch.optim.lr_scheduler name, "
        f"or a registered scheduler ({', '.join(registry.names('scheduler')) or 'none registered'})"
    )
