"""Reading sampled frames from real video files with decord, robust to lying headers.

Headers may claim more frames than exist, or a wrong fps: we ask decord for the frame count, try
a batch read of the wanted indices, and if that fails decode sequentially what really exists and
clamp the indices to it. Unreadable files raise VideoReadError naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mmf_ext.utils.errors import UserError


class VideoReadError(UserError):
    """A video that cannot be decoded at all."""


def _open(path: Path):
    import decord

    if not path.is_file():
        raise VideoReadError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise VideoReadError(f"{path}: empty video file")
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    except Exception as error:  # decord raises its own DECORDError types
        raise VideoReadError(f"{path}: cannot decode video ({str(error).splitlines()[0][:120]})") from None


def frame_count(path: str | os.PathLike) -> int:
    """Frames that really decode (the header's count, verified by reading the last one)."""
    reader = _open(Path(path))
    claimed = len(reader)
    if claimed == 0:
        raise VideoReadError(f"{path}: video has no frames")
    try:
        reader[claimed - 1]
        return claimed
    except Exception:
        return len(_decode_all(reader, claimed))


def unpad_rgb(frames: np.ndarray) -> np.ndarray:
    """Undo decord's row padding: for widths whose RGB row is padded to 4 bytes a pixel (e.g. 48),
    decord returns [..., H, W, 4] holding W*3 RGB bytes then padding in each row."""
    if frames.shape[-1] == 3:
        return frames
    *lead, height, width, channels = frames.shape
    rows = frames.reshape(*lead, height, width * channels)[..., : width * 3]
    return np.ascontiguousarray(rows.reshape(*lead, height, width, 3))


def _decode_all(reader, claimed: int) -> list[np.ndarray]:
    frames = []
    for index in range(claimed):
        try:
            frames.append(unpad_rgb(reader[index].asnumpy()))
        except Exception:
            break
    return frames


def read_frames(path: str | os.PathLike, indices: list[int] | None = None, count: int | None = None) -> tuple[np.ndarray, list[int]]:
    """RGB frames [N, H, W, 3] at `indices` (clamped to what exists), and the indices read.

    With `indices=None`, `count` frames evenly spaced over the whole video are read.
    """
    from mmf_ext.datasets.video.sampling import evenly_spaced

    path = Path(path)
    reader = _open(path)
    claimed = len(reader)
    if claimed == 0:
        raise VideoReadError(f"{path}: video has no frames")
    if indices is None:
        indices = evenly_spaced(0, claimed - 1, int(count or 1))
    wanted = [min(max(0, i), claimed - 1) for i in indices]
    try:
        frames = unpad_rgb(reader.get_batch(wanted).asnumpy())
        return frames, wanted
    except Exception:
        decoded = _decode_all(_open(path), claimed)
    if not decoded:
        raise VideoReadError(f"{path}: no frame could be decoded (truncated or corrupt file)")
    wanted = [min(i, len(decoded) - 1) for i in wanted]
    return np.stack([decoded[i] for i in wanted]), wanted
