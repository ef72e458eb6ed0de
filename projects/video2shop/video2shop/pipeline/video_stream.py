"""Frames of a user's video file, decoded in small batches so long videos never sit in memory.

Real footage lies: a header may claim more frames than exist (we stop at the last frame that
decodes) or a wrong fps (only used to print times). A GIF, an empty or an undecodable file is one
clear error naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from video2shop.video.reader import VideoReadError, open_reader, unpad_rgb


@dataclass
class VideoInfo:
    path: Path
    claimed_frames: int
    fps: float
    width: int
    height: int


def open_video(path: str | os.PathLike):
    """(decord reader, VideoInfo), or VideoReadError with the file and what to do."""
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise VideoReadError(f"{path}: empty file, not a video")
    with path.open("rb") as handle:
        head = handle.read(6)
    if head in (b"GIF87a", b"GIF89a"):
        raise VideoReadError(f"{path}: a GIF image, not a video; convert it first (ffmpeg -i {path.name} out.mp4)")
    reader = open_reader(path)
    claimed = len(reader)
    if claimed == 0:
        raise VideoReadError(f"{path}: the video holds no frames")
    fps = float(reader.get_avg_fps() or 0.0)
    height, width = reader[0].shape[:2] if claimed else (0, 0)
    return reader, VideoInfo(path, claimed, fps if np.isfinite(fps) and fps > 0 else 25.0, int(width), int(height))


def stream_frames(
    path: str | os.PathLike, claimed: int, stride: int = 1, batch: int = 16
) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, RGB uint8 [H, W, 3]) for every `stride`-th frame that really decodes, in order.

    A failed batch read (past the real end of a lying header, or a damaged stretch) leaves decord's
    reader unusable, so the file is opened again and that batch read frame by frame up to the
    first frame that does not decode.
    """
    path = Path(path)
    reader = open_reader(path)
    indices = list(range(0, claimed, max(1, stride)))
    for start in range(0, len(indices), batch):
        wanted = indices[start : start + batch]
        try:
            frames = list(unpad_rgb(reader.get_batch(wanted).asnumpy()))
        except Exception:
            reader = open_reader(path)
            frames = []
            for index in wanted:
                try:
                    frames.append(unpad_rgb(reader[index].asnumpy()))
                except Exception:
                    yield from zip(wanted, frames)
                    return
        yield from zip(wanted, frames)
