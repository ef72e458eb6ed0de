"""Shared helpers for benchmarks: timing with warm-up, and a JSON last line."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import torch


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
