"""Where the plugin's own files live: its component defaults under configs/."""

from __future__ import annotations

from pathlib import Path

PLUGIN_ROOT = Path(__file__).resolve().parent
CONFIG_DIR = PLUGIN_ROOT / "configs"


def model_defaults(name: str) -> str:
    """The defaults yaml of one of the plugin's models (`model_config: {<name>: ...}`)."""
    return str(CONFIG_DIR / "models" / name / "defaults.yaml")


def dataset_defaults(name: str) -> str:
    """The defaults yaml of one of the plugin's datasets (`dataset_config: {<name>: ...}`)."""
    return str(CONFIG_DIR / "datasets" / name / "defaults.yaml")
