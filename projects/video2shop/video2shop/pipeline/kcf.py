"""One OpenCV contrib KCF tracker per object, with the first-update quirk worked around.

OpenCV's KCF does not search on its first `update()` after `init()`: it only trains on that frame
at the old position, so a moving object's box stays offset by the first frame's motion for the
rest of the track. Priming it with one update on the init frame itself fixes that (the tests
check a moving rectangle stays within a few pixels).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from mmf_ext.utils.errors import ConfigError
from video2shop.pipeline.boxes import Box, from_xywh, to_xywh


def kcf_params(options: Mapping[str, Any] | None, where: str = "pipeline.tracker.kcf") -> Any:
    """cv2.TrackerKCF_Params with the given fields set; an unknown field is a ConfigError."""
    params = cv2.TrackerKCF_Params()
    known = sorted(name for name in dir(params) if not name.startswith("_"))
    for name, value in (options or {}).items():
        if name not in known:
            raise ConfigError(f"{where}.{name} is not a KCF parameter; choose from {', '.join(known)}")
        current = getattr(params, name)
        setattr(params, name, type(current)(value))
    return params


class KCFTracker:
    """Follows one box through frames given in OpenCV's BGR order.

    With `box_size`, the filter runs on the frame scaled (once per init) so that the box's longer
    side is at most `box_size` pixels: OpenCV's KCF costs grow with the box's area at full
    resolution (about 2 ms for an 80x120 box, 30 ms for 400x300 on one core), while a correlation
    filter needs no more than a few dozen pixels to follow an item.
    """

    def __init__(self, params: Any, box_size: int = 0) -> None:
        self.params = params
        self.box_size = int(box_size)
        self.scale = 1.0
        self._tracker: Any = None

    def _scaled(self, frame_bgr: np.ndarray) -> np.ndarray:
        if self.scale >= 1.0:
            return frame_bgr
        height, width = frame_bgr.shape[:2]
        size = (max(1, round(width * self.scale)), max(1, round(height * self.scale)))
        return cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA)

    def init(self, frame_bgr: np.ndarray, box: Box) -> None:
        """(Re)start on `box` in this frame (a detection's correction starts a fresh filter)."""
        longer = max(box[2] - box[0], box[3] - box[1])
        self.scale = min(1.0, self.box_size / longer) if self.box_size > 0 and longer > 0 else 1.0
        scaled = self._scaled(frame_bgr)
        self._tracker = cv2.TrackerKCF_create(self.params)
        self._tracker.init(scaled, to_xywh(tuple(v * self.scale for v in box)))
        self._tracker.update(scaled)  # prime: the first update only trains (see the module doc)

    def update(self, frame_bgr: np.ndarray) -> tuple[bool, Box]:
        """(found, box) in the next frame; found is False when the peak response is too weak."""
        if self._tracker is None:
            raise RuntimeError("KCFTracker.update called before init")
        found, xywh = self._tracker.update(self._scaled(frame_bgr))
        box = tuple(v / self.scale for v in from_xywh(xywh))
        return bool(found) and box[2] > box[0] and box[3] > box[1], box
