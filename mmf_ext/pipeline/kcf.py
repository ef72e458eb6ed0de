"""One OpenCV contrib KCF tracker per object, with the first-update quirk worked around.

OpenCV's KCF does not search on its first `update()` after `init()`: it only trains on that frame
at the old position, so a moving object's box stays offset by the first frame's motion for the
rest of the track. Priming it with one update on the init frame itself fixes that (the tests
check a moving rectangle stays within a few pixels).
"""

from __future__ import annotations

from typing import Any, Mapping

import cv2
import numpy as np

from mmf_ext.pipeline.boxes import Box, from_xywh, to_xywh
from mmf_ext.utils.errors import ConfigError


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
    """Follows one box through frames given in OpenCV's BGR order."""

    def __init__(self, params: Any) -> None:
        self.params = params
        self._tracker: Any = None

    def init(self, frame_bgr: np.ndarray, box: Box) -> None:
        """(Re)start on `box` in this frame (a detection's correction starts a fresh filter)."""
        self._tracker = cv2.TrackerKCF_create(self.params)
        self._tracker.init(frame_bgr, to_xywh(box))
        self._tracker.update(frame_bgr)  # prime: the first update only trains (see the module doc)

    def update(self, frame_bgr: np.ndarray) -> tuple[bool, Box]:
        """(found, box) in the next frame; found is False when the peak response is too weak."""
        if self._tracker is None:
            raise RuntimeError("KCFTracker.update called before init")
        found, xywh = self._tracker.update(frame_bgr)
        box = from_xywh(xywh)
        return bool(found) and box[2] > box[0] and box[3] > box[1], box
