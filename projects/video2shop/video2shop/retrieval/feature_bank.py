"""Gallery features computed once and kept on disk, tied to the checkpoint that produced them.

The bank stores the features, their gallery ids and the fingerprint of the checkpoint; loading it
for another checkpoint is refused, so stale features are never scored. Writes are atomic.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from mmf_ext.utils.errors import UserError
from mmf_ext.utils.file_io import atomic_write


class StaleFeatureBank(UserError):
    """A feature bank made by another checkpoint or config."""


def file_fingerprint(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def save_feature_bank(
    path: str | os.PathLike, features: torch.Tensor, ids: list[str], fingerprint: str, extra: dict | None = None
) -> Path:
    if features.shape[0] != len(ids):
        raise ValueError(f"{len(ids)} ids for {features.shape[0]} feature rows")
    payload = {
        "features": features.detach().cpu().contiguous(),
        "ids": list(ids),
        "fingerprint": fingerprint,
        "extra": dict(extra or {}),
    }
    return atomic_write(path, lambda handle: torch.save(payload, handle))


def load_feature_bank(path: str | os.PathLike, fingerprint: str | None = None) -> tuple[torch.Tensor, list[str], dict]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: feature bank not found; build it with `video2shop index`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated or foreign file
        raise UserError(
            f"{path}: not a readable feature bank ({str(error).splitlines()[0][:100]}); rebuild it"
        ) from None
    if fingerprint is not None and payload.get("fingerprint") != fingerprint:
        raise StaleFeatureBank(
            f"{path}: made by another checkpoint (fingerprint {str(payload.get('fingerprint'))[:12]}); "
            "rebuild it for this one"
        )
    return payload["features"], list(payload["ids"]), dict(payload.get("extra") or {})
