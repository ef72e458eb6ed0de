"""Frame cache: sampled, resized crops stored once as uint8 arrays, keyed by video and sampling.

The key is the file's identity and the caller's parameters, which must name everything that changes
the crops: TrajectoryLoader.params gives the sampling, crop size and margin, the tracklet and the
versions of the decoding, sampling and crop code (video2shop.video.versions), so crops made by
other code are decoded again instead of reused.

The first pass decodes each video and writes its crops atomically; later epochs and DataLoader
workers only read the cache. A damaged entry (truncated, wrong shape) is detected and rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mmf_ext.utils.file_io import atomic_write_bytes


class FrameCache:
    def __init__(self, root: str | os.PathLike | None) -> None:
        self.root = Path(root) if root else None
        self.hits = 0
        self.misses = 0
        self.rebuilt = 0

    def key(self, video_path: str | os.PathLike, params: dict) -> str:
        """Video identity (path, byte size, mtime in ns) and sampling parameters, kept apart so a
        parameter can never overwrite the file's identity (an image `size` once hid the file size)."""
        path = Path(video_path)
        stat = path.stat() if path.exists() else None
        ident = {
            "video": str(path.resolve()),
            "file_bytes": stat.st_size if stat else 0,
            "file_mtime_ns": stat.st_mtime_ns if stat else 0,
            "params": params,
        }
        return hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.npy"

    def get_or_create(
        self,
        video_path: str | os.PathLike,
        params: dict,
        expected_shape: tuple[int, ...],
        make: Callable[[], np.ndarray],
    ) -> np.ndarray:
        if self.root is None:
            return make()
        path = self._path(self.key(video_path, params))
        if path.exists():
            try:
                array = np.load(path, allow_pickle=False)
                if array.shape == tuple(expected_shape) and array.dtype == np.uint8:
                    self.hits += 1
                    return array
            except (ValueError, OSError, EOFError):
                pass
            self.rebuilt += 1
        self.misses += 1
        array = make()
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array, dtype=np.uint8), allow_pickle=False)
        atomic_write_bytes(path, buffer.getvalue())
        return array
