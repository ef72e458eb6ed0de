"""Checkpoint I/O: atomic writes, weights-only loads, and loading weights into a model.

A checkpoint is written to a temporary file and renamed into place, so a run killed while saving
keeps its previous good checkpoint. Loading uses torch.load(weights_only=True): a checkpoint is
untrusted input and must not run code.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from mmf_ext.utils.errors import UserError
from mmf_ext.utils.file_io import atomic_write


def save_checkpoint_file(checkpoint: dict[str, Any], path: str | os.PathLike) -> Path:
    return atomic_write(path, lambda handle: torch.save(checkpoint, handle))


def load_checkpoint_file(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found; check checkpoint.resume_file or the save dir")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(
            f"{path}: not a loadable weights-only checkpoint ({first}); it may be truncated, "
            "corrupt or hold arbitrary Python objects"
        ) from None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O with atomic saves and weights-only loads."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        save_checkpoint_file(checkpoint, path)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: Any = None) -> dict[str, Any]:
        return load_checkpoint_file(path, map_location=map_location or "cpu")


def load_model_weights(
    model: torch.nn.Module,
    path: str | os.PathLike,
    mapping: dict[str, str] | None = None,
    strict: bool = False,
) -> tuple[list[str], list[str]]:
    """Load a checkpoint's weights into `model`, renaming key prefixes by `mapping` first.

    Returns (missing, unexpected) key lists, as load_state_dict does.
    """
    checkpoint = load_checkpoint_file(path)
    state = checkpoint.get("state_dict", checkpoint.get("model", checkpoint))
    if not isinstance(state, dict):
        raise UserError(f"{path}: holds no state_dict")
    for source, target in (mapping or {}).items():
        if not isinstance(source, str) or not isinstance(target, str):
            raise UserError(
                f"checkpoint.pretrained_state_mapping: {source!r}: {target!r} must map a key prefix to a key prefix "
                "(quote prefixes with dots in YAML, e.g. 'backbone.': 'ifn.backbone.')"
            )
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new_key = key
        for source, target in (mapping or {}).items():
            if new_key.startswith(source):
                new_key = target + new_key[len(source) :]
                break
        if hasattr(model, "format_state_key"):
            new_key = model.format_state_key(new_key)
        renamed[new_key] = value
    if mapping:
        targets = tuple(mapping.values())
        own = model.state_dict()
        renamed = {k: v for k, v in renamed.items() if k in own and (not targets or k.startswith(targets))}
    result = model.load_state_dict(renamed, strict=strict)
    return list(result.missing_keys), list(result.unexpected_keys)
