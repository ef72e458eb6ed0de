"""Gallery features computed once and kept on disk, tied to the checkpoint they came from.

The bank file holds the features, the gallery ids and a fingerprint (checkpoint file hash +
model config). Writes are atomic (temporary file in the same folder, then os.replace), so a
crash never leaves a half-written bank. A bank whose fingerprint differs from the current
checkpoint/config is stale: `load` refuses it and `load_or_build` rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch


class StaleFeatureBank(RuntimeError):
    pass


def file_sha256(path: str | Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(checkpoint: str | Path | None, config: Any = None) -> str:
    """Checkpoint content hash + canonical JSON of the config -> one hex string."""
    digest = hashlib.sha256()
    digest.update((file_sha256(checkpoint) if checkpoint is not None else "no-checkpoint").encode())
    if config is not None:
        try:
            from omegaconf import OmegaConf

            if OmegaConf.is_config(config):
                config = OmegaConf.to_container(config, resolve=True)
        except ImportError:  # pragma: no cover
            pass
        digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    return digest.hexdigest()


class FeatureBank:
    def __init__(self, path: str | Path, fingerprint: str) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint

    def save(self, features: torch.Tensor, gallery_ids: list[Any], extra: dict[str, Any] | None = None) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"fingerprint": self.fingerprint, "features": features.detach().cpu(),
                   "gallery_ids": list(gallery_ids), "extra": extra or {}}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(payload, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return self.path

    def is_fresh(self) -> bool:
        if not self.path.exists():
            return False
        try:
            return torch.load(self.path, map_location="cpu", weights_only=False)["fingerprint"] == self.fingerprint
        except Exception:
            return False

    def load(self) -> tuple[torch.Tensor, list[Any]]:
        payload = torch.load(self.path, map_location="cpu", weights_only=False)
        if payload.get("fingerprint") != self.fingerprint:
            raise StaleFeatureBank(f"feature bank {self.path} was built from another checkpoint/config; rebuild it")
        return payload["features"], payload["gallery_ids"]

    def load_or_build(self, build: Callable[[], tuple[torch.Tensor, list[Any]]]) -> tuple[torch.Tensor, list[Any]]:
        """The stored features when fresh; otherwise `build()` them, store atomically and return them."""
        if self.is_fresh():
            return self.load()
        features, ids = build()
        self.save(features, ids)
        return features, list(ids)
