"""Shared helpers for benchmarks: timing with warm-up, a JSON last line, untrained models of the defaults."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import torch
from omegaconf import OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.utils.build import build_model
from mmf_ext.utils.configuration import load_yaml

TREES = {32: [2, 2, 2, 2, 2], 16: [2, 2, 2, 2], 8: [2, 2, 2]}  # fusion trees with that many leaves


def tree_of(leaves: int) -> list[int]:
    """Branch counts of a binary fusion tree with `leaves` leaves (one node of `leaves` branches otherwise)."""
    return TREES.get(leaves, [leaves])


def untrained_asymnet(overrides: dict[str, Any] | None = None) -> torch.nn.Module:
    """An untrained AsymNet of its default config with `overrides` (model_config.asymnet keys), by build_model."""
    defaults = load_yaml(registry.get_model_class("asymnet").config_path())
    return build_model(OmegaConf.merge(defaults, {"model": "asymnet", "model_config": {"asymnet": overrides or {}}}))


def timed(function: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> float:
    """Median seconds of `repeats` calls after `warmup` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def print_result(result: dict[str, Any]) -> None:
    result = {"torch_threads": torch.get_num_threads(), **result}
    print(json.dumps(result))
