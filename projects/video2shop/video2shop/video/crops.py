"""The one crop path: a frame or shop image and a box into the crop the model reads.

Training and evaluation (trajectory crops and shop images), catalog indexing and video search all
call `model_crop`, so what a served model reads is made exactly as what it was trained on: the box
grown by the context margin and clipped to the image, then resized with OpenCV's area filter to a
square uint8 CHW crop.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

CROP_VERSION = 1  # bump whenever model_crop's output for the same image, box, margin and size changes
# sha256 of model_crop's crops of a fixed image (tests/video2shop/video/test_code_versions.py): update with the version
CROP_FINGERPRINT = "fc78749e250dde1d97340336083db9c6520078104e9bda06aa1e45c1929da33f"


def crop_box(frame: np.ndarray, box: Sequence[float], margin: float) -> np.ndarray:
    """The box grown by `margin` of its size on every side, clipped to the frame (the frame when too small)."""
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = int(max(0, np.floor(x1 - dx))), int(max(0, np.floor(y1 - dy)))
    right, bottom = int(min(width, np.ceil(x2 + dx))), int(min(height, np.ceil(y2 + dy)))
    if right - left < 2 or bottom - top < 2:
        return frame
    return frame[top:bottom, left:right]


def model_crop(image: np.ndarray, box: Sequence[float] | None, margin: float, size: int) -> np.ndarray:
    """RGB uint8 [H, W, 3] and a box (x1, y1, x2, y2; None: the whole image) -> uint8 [3, size, size]."""
    region = crop_box(image, list(box), margin) if box is not None else image
    resized = cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(resized.transpose(2, 0, 1))
