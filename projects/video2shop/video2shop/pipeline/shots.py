"""Shots and empty stretches of a streamed video, from colour histograms (OpenCV).

Real footage is cut: a track must not run across a cut, and with no detector each shot, not the
whole video, is one trajectory. A cut is where consecutive frames' colour distributions jump: each
fed frame, downscaled, gives a hue-saturation-value histogram (cv2.calcHist) and its Bhattacharyya
distance (cv2.compareHist) to the previous frame's. Within a shot people walk and the camera pans,
which moves pixels but barely changes the colours present; a cut to another scene changes them at
once. How far apart two frames of one shot are depends on the footage (0.03 between frames of a
calm clip, up to 0.63 in our synthetic videos, whose augmentations flash the light and throw in
occluders), so a new shot starts where the distance is both at least `cut_distance` and at least
`cut_ratio` times the mean of the last `window` distances within shots (the adaptive rule of
PySceneDetect's AdaptiveDetector, looking back only). A cut between two shots of much the same
colours (two views of one room) stays below the threshold and is not cut. Gradual fades and
dissolves spread the change over many frames and are not cut (a fade through black still ends the
shot at its black frames). An empty frame (black, or a flat title card: grey levels whose standard
deviation is below `empty_std`) belongs to no shot and ends the one before it.

PySceneDetect would do this, but it requires the `opencv-python` package (or -headless), a second
OpenCV build beside our opencv-contrib-python-headless that overwrites its `cv2` module; so this
is a few lines of OpenCV instead. Only the previous frame's histogram is kept: memory is constant.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from video2shop.pipeline.settings import require, settings_from_config


@dataclass(frozen=True)
class ShotSettings:
    """`pipeline.shots` (video2shop/configs/pipeline/defaults.yaml says what each does)."""

    enabled: bool = True
    frame_side: int = 160
    hue_bins: int = 8
    saturation_bins: int = 4
    value_bins: int = 4
    cut_distance: float = 0.75
    cut_ratio: float = 3.0
    window: int = 8
    empty_std: float = 8.0
    min_frames: int = 8

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | None, where: str = "pipeline.shots") -> ShotSettings:
        settings = settings_from_config(cls, node, where)
        require(
            where,
            [
                ("frame_side", settings.frame_side, settings.frame_side >= 16, "at least 16"),
                ("hue_bins", settings.hue_bins, 1 <= settings.hue_bins <= 180, "in [1, 180]"),
                ("saturation_bins", settings.saturation_bins, 1 <= settings.saturation_bins <= 256, "in [1, 256]"),
                ("value_bins", settings.value_bins, 1 <= settings.value_bins <= 256, "in [1, 256]"),
                ("cut_distance", settings.cut_distance, 0.0 < settings.cut_distance <= 1.0, "in (0, 1]"),
                ("cut_ratio", settings.cut_ratio, settings.cut_ratio >= 1.0, "at least 1"),
                ("window", settings.window, settings.window >= 1, "at least 1"),
                ("empty_std", settings.empty_std, settings.empty_std >= 0.0, "at least 0"),
                ("min_frames", settings.min_frames, settings.min_frames >= 1, "at least 1"),
            ],
        )
        return settings


@dataclass
class Shot:
    """A run of non-empty fed frames without a cut: its id (in order) and first and last frame indices."""

    shot_id: int
    first: int
    last: int
    frames: int = 1  # frames fed in it


class ShotCutter:
    """Fed every frame in order, says which shot it belongs to (None: an empty frame)."""

    def __init__(self, settings: ShotSettings | None = None) -> None:
        self.settings = settings or ShotSettings()
        self.shots: list[Shot] = []
        self._previous: np.ndarray | None = None  # the last non-empty frame's histogram, None after an empty frame
        self._recent: deque[float] = deque(maxlen=self.settings.window)  # distances between frames of one shot

    def observe(self, index: int, frame: np.ndarray) -> int | None:
        """The shot id of this RGB uint8 [H, W, 3] frame, or None when it is empty."""
        if not self.settings.enabled:
            if not self.shots:
                self.shots.append(Shot(0, index, index, 0))
            return self._extend(index)
        small = self._downscaled(frame)
        if float(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).std()) < self.settings.empty_std:
            self._previous = None
            return None
        histogram = self._histogram(small)
        cut = self._previous is None
        if not cut:
            distance = float(cv2.compareHist(self._previous, histogram, cv2.HISTCMP_BHATTACHARYYA))
            cut = self._is_cut(distance)
            if not cut:
                self._recent.append(distance)
        self._previous = histogram
        if cut:
            self.shots.append(Shot(len(self.shots), index, index, 0))
        return self._extend(index)

    def _is_cut(self, distance: float) -> bool:
        """At least cut_distance and cut_ratio times the recent mean (never before a distance is known)."""
        if not self._recent or distance < self.settings.cut_distance:
            return False
        return distance >= self.settings.cut_ratio * (sum(self._recent) / len(self._recent))

    def kept(self) -> list[Shot]:
        """The shots of at least `min_frames` fed frames (shorter ones are flashes or glitches)."""
        return [shot for shot in self.shots if shot.frames >= self.settings.min_frames]

    def _extend(self, index: int) -> int:
        shot = self.shots[-1]
        shot.last, shot.frames = index, shot.frames + 1
        return shot.shot_id

    def _downscaled(self, frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        scale = self.settings.frame_side / max(height, width)
        if scale >= 1.0:
            return frame
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)

    def _histogram(self, small: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)  # OpenCV's 8-bit hue is 0..179
        s = self.settings
        bins = [s.hue_bins, s.saturation_bins, s.value_bins]
        histogram = cv2.calcHist([hsv], [0, 1, 2], None, bins, [0, 180, 0, 256, 0, 256])
        return cv2.normalize(histogram, None, alpha=1.0, norm_type=cv2.NORM_L1)
