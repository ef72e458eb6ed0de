"""Turn a (video, tracklet) into the uint8 crops a model reads, through the frame cache."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from video2shop.datasets.manifest import ManifestError
from video2shop.video.cache import FrameCache
from video2shop.video.crops import model_crop
from video2shop.video.reader import VideoReadError, frame_count, read_frames
from video2shop.video.sampling import evenly_spaced, interpolate_box
from video2shop.video.versions import input_code

logger = logging.getLogger("mmf_ext")


class TrajectoryLoader:
    """Samples `num_frames` crops of a clothing trajectory, decoding each video once.

    An unreadable video is remembered in `failed` (path -> reason), so this process never tries
    to decode it again. `warn=False` leaves the per-file warning to the caller: a dataset read by
    DataLoader workers reports through its samples, and the builder warns once per file in the
    main process (each worker has its own copy of this object).
    """

    def __init__(
        self, num_frames: int, image_size: int, margin: float, cache: FrameCache, strict: bool, warn: bool = True
    ) -> None:
        self.num_frames = num_frames
        self.image_size = image_size
        self.margin = margin
        self.cache = cache
        self.strict = strict
        self.warn = warn
        self.failed: dict[str, str] = {}

    def params(self, tracklet: dict[int, list[float]] | None) -> dict:
        """The frame cache's key besides the file: everything that changes the crops, the code's versions included."""
        digest = hashlib.sha1(json.dumps(sorted((tracklet or {}).items())).encode()).hexdigest()[:16]
        return {
            "frames": self.num_frames,
            "size": self.image_size,
            "margin": self.margin,
            "tracklet": digest,
            "code": input_code(),
        }

    def decode(self, video: Path, tracklet: dict[int, list[float]] | None) -> np.ndarray:
        """Crops [T, 3, S, S]: the tracklet's box (interpolated) on T frames evenly spaced over its span,
        or T whole frames evenly spaced over the video when there is no tracklet."""
        if not tracklet:
            frames, _ = read_frames(video, None, count=self.num_frames)
            return np.stack([model_crop(frame, None, self.margin, self.image_size) for frame in frames])
        first, last = min(tracklet), max(tracklet)
        last = min(last, frame_count(video) - 1)
        first = min(first, last)
        frames, read = read_frames(video, evenly_spaced(first, last, self.num_frames))
        self._check_boxes(video, tracklet, frames.shape[2], frames.shape[1])
        boxes = [interpolate_box(tracklet, index) for index in read]
        return np.stack([model_crop(frame, box, self.margin, self.image_size) for frame, box in zip(frames, boxes)])

    @staticmethod
    def _check_boxes(video: Path, tracklet: dict[int, list[float]], width: int, height: int) -> None:
        for frame_index, (x1, y1, x2, y2) in tracklet.items():
            if x2 > width + 1 or y2 > height + 1:
                raise ManifestError(
                    f"{video}: tracklet box {[x1, y1, x2, y2]} at frame {frame_index} lies outside the "
                    f"{width}x{height} frame; fix the manifest's tracklets (video2shop validate lists them all)"
                )

    def load(self, video: Path, tracklet: dict[int, list[float]] | None) -> np.ndarray | None:
        """Crops [T, 3, S, S] uint8, or None for an unreadable video (strict: raise)."""
        shape = (self.num_frames, 3, self.image_size, self.image_size)
        if str(video) in self.failed and not self.strict:
            return None
        try:
            return self.cache.get_or_create(video, self.params(tracklet), shape, lambda: self.decode(video, tracklet))
        except VideoReadError as error:
            if self.strict:
                raise VideoReadError(
                    f"{error} (strict: true; repair or remove the file, or set strict: false to skip it)"
                ) from None
            self.failed[str(video)] = str(error)
            if self.warn:
                logger.warning("skipping unreadable video: %s", error)
            return None
