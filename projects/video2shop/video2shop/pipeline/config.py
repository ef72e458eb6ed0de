"""The pipeline's settings: video2shop/configs/pipeline/defaults.yaml < a user file < key=value overrides.

Overrides are strict as in `mmf_run` (an unknown key names the closest ones, a true/false key takes
only true or false), so a typo in a tracking parameter is an error instead of a silently ignored value.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mmf_ext.utils.config_keys import Schema, layer_value_message, unknown_key_message
from mmf_ext.utils.configuration import apply_overrides, load_yaml, parse_opts
from mmf_ext.utils.errors import ConfigError
from video2shop.paths import CONFIG_DIR
from video2shop.pipeline.person_detectors import PersonDetectorSettings
from video2shop.pipeline.shots import ShotSettings
from video2shop.pipeline.subjects import PeopleSettings
from video2shop.pipeline.track_types import TrackerConfig

PIPELINE_DEFAULTS = CONFIG_DIR / "pipeline" / "defaults.yaml"
OPEN_SECTIONS = ("pipeline.tracker.kcf.", "pipeline.persons.regions.")  # a user file may add keys here


def load_pipeline_config(path: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> DictConfig:
    """The merged pipeline config; the user file may only set keys the defaults know."""
    config = load_yaml(PIPELINE_DEFAULTS)
    defaults = Schema(OmegaConf.merge(config), checked_sections=set())  # also checks true/false values
    if path is not None:
        user = load_yaml(Path(path))
        for key in _leaf_keys(user):
            known = OmegaConf.select(config, key, default="__missing__") != "__missing__"
            if not known and not key.startswith(OPEN_SECTIONS):
                raise ConfigError(unknown_key_message(config, key, str(path)))
            wrong_type = layer_value_message(config, user, key, str(path))
            if wrong_type:
                raise ConfigError(wrong_type)
        config = OmegaConf.merge(config, user)
    return apply_overrides(config, parse_opts(overrides), defaults)


def _leaf_keys(config: DictConfig, prefix: str = "") -> list[str]:
    keys = []
    for key, value in config.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        keys.extend(_leaf_keys(value, full) if isinstance(value, DictConfig) else [full])
    return keys


def tracker_config(config: DictConfig) -> TrackerConfig:
    """The validated tracker settings of a pipeline config."""
    return TrackerConfig.from_config(config.pipeline.tracker)


def shot_settings(config: DictConfig) -> ShotSettings:
    """The validated shot-cutting settings of a pipeline config."""
    return ShotSettings.from_config(config.pipeline.shots)


def person_detector_settings(config: DictConfig) -> PersonDetectorSettings:
    """The validated person-detector settings of a pipeline config."""
    return PersonDetectorSettings.from_config(config.pipeline.person_detector)


def people_settings(config: DictConfig) -> PeopleSettings:
    """The validated person-region settings of a pipeline config."""
    return PeopleSettings.from_config(config.pipeline.persons)
