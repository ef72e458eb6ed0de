"""Crop-and-resize shared by indexing and search, the same preprocessing the datasets apply."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from video2shop.video.sampling import crop_box


def crop_resize(image: np.ndarray, box: Sequence[float] | None, margin: float, size: int) -> np.ndarray:
    """RGB [H, W, 3] -> CHW uint8 [3, size, size]: the box grown by `margin` (whole image without a box)."""
    if box is not None:
        image = crop_box(image, list(box), margin)
    resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(resized.transpose(2, 0, 1))
