"""The detector's category list: its own config, else the dataset's, else the paper's 14.

Class k + 1 of the detector is category k of this list (0 is background), the same list and order
the video2shop datasets label boxes with, so a model and its training data always agree.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from mmf_ext.utils.errors import ConfigError
from video2shop.datasets.categories import PAPER_CATEGORIES


def _names(value: Any, where: str) -> list[str]:
    names = OmegaConf.to_container(value, resolve=True) if isinstance(value, (ListConfig, DictConfig)) else value
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where}={names!r}: expected a non-empty list of category names")
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: category names must be unique")
    return list(names)


def detector_categories(model_config: Any, run_config: DictConfig | None = None) -> list[str]:
    """Category names for the detector's classes 1..N (index 0 is background)."""
    if model_config is not None and model_config.get("categories"):
        return _names(model_config.categories, "model_config.clothing_detector.categories")
    if run_config is not None and run_config.get("datasets") and run_config.get("dataset_config"):
        for name in str(run_config.datasets).split(","):
            section = run_config.dataset_config.get(name.strip())
            if section is not None and section.get("categories"):
                return _names(section.categories, f"dataset_config.{name.strip()}.categories")
    return list(PAPER_CATEGORIES)
