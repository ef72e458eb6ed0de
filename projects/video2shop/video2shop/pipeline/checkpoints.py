"""The checkpoints the pipeline reads, checked before anything is built from them.

A user who swaps `--checkpoint` and `--detector`, or gives a checkpoint written before any training
update, must get one line saying so, not a run that silently finds nothing or ranks at random. So
every checkpoint is read once here: the run config it carries (or its run's config.yaml; see
mmf_ext.utils.build) names the model it holds, and its "global_step" says whether it was trained.
Messages name the checkpoint as the user gave it (`label`, e.g. "--detector save/d/best.ckpt").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from mmf_ext.common.registry import registry
from mmf_ext.utils.build import checkpoint_run_config
from mmf_ext.utils.checkpoint import load_checkpoint_file
from mmf_ext.utils.errors import UserError

DETECTOR_MODEL = "clothing_detector"
TRAIN_RETRIEVAL = "mmf_run config=projects/video2shop/configs/asymnet.yaml model=asymnet dataset=synthetic_video2shop"
TRAIN_DETECTOR = (
    "mmf_run config=projects/video2shop/configs/detector.yaml model=clothing_detector dataset=synthetic_video2shop"
)
MISSING_CHECKPOINT = "checkpoint not found; train one with mmf_run (it writes <save_dir>/current.ckpt)"


@dataclass(frozen=True)
class CheckpointFile:
    """A checkpoint read once: its file, how messages name it, its contents (and its run config)."""

    path: Path
    label: str
    state: dict[str, Any]

    @cached_property
    def config(self) -> DictConfig:
        """Its run config: the one it carries, else its run's config.yaml (a UserError when neither exists)."""
        return checkpoint_run_config(self.path, self.state)

    @property
    def model_name(self) -> str | None:
        name = self.config.get("model")
        return str(name) if name else None

    @property
    def updates(self) -> int:
        """The training updates behind its weights (0 when it records none)."""
        return int(self.state.get("global_step") or 0)


def read_checkpoint(
    path: str | os.PathLike | CheckpointFile, label: str | None = None, missing: str = MISSING_CHECKPOINT
) -> CheckpointFile:
    """The checkpoint at `path` with its run config; a missing file says `missing` (what to do)."""
    if isinstance(path, CheckpointFile):
        return path
    path = Path(path).expanduser()
    label = label or str(path)
    if path.is_dir():
        found = [name for name in ("best.ckpt", "current.ckpt") if (path / name).is_file()]
        hint = f"give {path / found[0]}" if found else "give the .ckpt file mmf_run wrote in its save dir"
        raise UserError(f"{label}: a folder, not a checkpoint file; {hint}")
    if not path.is_file():
        raise UserError(f"{label}: {missing}")
    state = load_checkpoint_file(path)
    return CheckpointFile(path, label, state)


def is_searchable(model_name: str | None) -> bool:
    """Whether search can run the model: it encodes shop images and frame sequences (AsymNet does)."""
    if not model_name or model_name not in registry.mapping["model_name_mapping"]:
        return False
    model_class = registry.get_model_class(model_name)
    return all(hasattr(model_class, method) for method in ("encode_images", "encode_trajectories"))


def searchable_models() -> list[str]:
    return sorted(name for name in registry.mapping["model_name_mapping"] if is_searchable(name))


def require_retrieval_model(checkpoint: CheckpointFile) -> None:
    """A one-line UserError unless the checkpoint holds a model search can run."""
    name = checkpoint.model_name
    if is_searchable(name):
        return
    expected = " or ".join(searchable_models()) or "asymnet"
    if name == DETECTOR_MODEL:
        hint = f"a clothing detector goes to --detector; give the {expected} run's checkpoint here"
    else:
        hint = f"train one with {TRAIN_RETRIEVAL}"
    raise UserError(
        f"{checkpoint.label}: holds model {name or '(none named)'} (its run config's `model`), not a retrieval model "
        f"video2shop search can run ({expected}); {hint}"
    )


def require_detector_model(checkpoint: CheckpointFile, config: DictConfig | None = None) -> None:
    """A one-line UserError unless the checkpoint (or the run config given for it) is a clothing detector's."""
    config = checkpoint.config if config is None else config
    name = config.get("model")
    if name in (None, DETECTOR_MODEL) and DETECTOR_MODEL in (config.get("model_config") or {}):
        return
    hint = "a retrieval model goes to --checkpoint; " if is_searchable(name) else ""
    raise UserError(
        f"{checkpoint.label}: holds model {name or '(none named)'} (its run config's `model`), not a {DETECTOR_MODEL}; "
        f"{hint}give a clothing detector's checkpoint ({TRAIN_DETECTOR})"
    )


def require_trained(checkpoint: CheckpointFile, allow_untrained: bool) -> str | None:
    """Refuse weights from before any training update, unless allowed: then the warning to print once."""
    if checkpoint.updates > 0:
        return None
    steps = checkpoint.state.get("global_step")
    recorded = f"global_step {steps}" if steps is not None else "no global_step"
    if not allow_untrained:
        raise UserError(
            f"{checkpoint.label}: records no training update ({recorded}): saved before training, or not by "
            "mmf_run; give a trained checkpoint, or pass --allow-untrained to use it anyway"
        )
    return f"{checkpoint.label}: records no training update ({recorded}); results from untrained weights mean nothing"
