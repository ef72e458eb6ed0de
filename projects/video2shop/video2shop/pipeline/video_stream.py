"""Frames of a user's video file, decoded one at a time so long videos never sit in memory.

Real footage lies: a header may claim more frames than exist (we stop at the last frame that
decodes and say so) or a wrong fps (only used to print times). OpenCV's decoder streams the
frames; where it cannot read a file or stops early, decord goes on from there
(video2shop.video.stream). A GIF, an empty or an undecodable file is one clear error naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from video2shop.video.reader import VideoReadError
from video2shop.video.stream import FrameStream, probe_video


@dataclass
class VideoInfo:
    path: Path
    claimed_frames: int
    fps: float
    width: int
    height: int
    decoders: str = ""  # after streaming: the decoders the frames came from ("opencv", "opencv+decord")
    shortfall: str | None = None  # after streaming: one line when frames the header claims did not decode


def open_video(path: str | os.PathLike) -> tuple[None, VideoInfo]:
    """(None, VideoInfo), or VideoReadError with the file and what to do. (The first item once held
    decord's reader; every read now opens its own, through `stream_frames`.)"""
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise VideoReadError(f"{path}: empty file, not a video")
    with path.open("rb") as handle:
        head = handle.read(6)
    if head in (b"GIF87a", b"GIF89a"):
        raise VideoReadError(f"{path}: a GIF image, not a video; convert it first (ffmpeg -i {path.name} out.mp4)")
    probe = probe_video(path)
    fps = probe.fps if np.isfinite(probe.fps) and probe.fps > 0 else 25.0
    return None, VideoInfo(path, probe.claimed_frames, fps, probe.width, probe.height)


def stream_frames(path: str | os.PathLike, claimed: int, stride: int = 1) -> FrameStream:
    """(frame index, RGB uint8 [H, W, 3]) for every `stride`-th frame that really decodes, in order.

    Iterate it once; afterwards its `shortfall()` is the one line to show when frames the header
    claims did not decode (None when none are missing), and `last_good` the last frame decoded.
    """
    return FrameStream(path, claimed, stride)
