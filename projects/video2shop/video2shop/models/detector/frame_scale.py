"""The scale the detector saw video frames at in training, so that search can show it frames at that scale.

torchvision's detection transform resizes each image so its short side is `min_size`, unless its
long side would then pass `max_size`. A detector learns clothing at the pixel size it saw it, and
training frames have one shape (the synthetic videos: 112x112). At search time frames have any
shape: with the training config's min_size = max_size = 112 a 16:9 frame of any resolution
becomes 112x63, its clothing at half the trained scale. So training records the short side the
network saw its video frames at (`frame_short_side`, stored in the checkpoint), and the pipeline's
detector resizes every frame to that short side whatever its size and aspect ratio (the long side
capped only at MAX_ASPECT times it). Checkpoints without the record use min(min_size, max_size),
the short side a square training frame got.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import torch

MAX_ASPECT = 8  # frames wider than this (long side / short side) are shrunk further, to bound memory
KEEP = 4096  # short sides kept for the median (training frames of one dataset vary little)


def network_short_side(height: int, width: int, min_size: float, max_size: float) -> float:
    """The short side torchvision's GeneralizedRCNNTransform resizes an image of this size to."""
    short, long = min(height, width), max(height, width)
    return short * min(min_size / short, max_size / long)


class FrameScaleRecord:
    """The network-input short sides of the training video frames seen; their median is what is stored."""

    def __init__(self, min_size: float, max_size: float) -> None:
        self.min_size, self.max_size = float(min_size), float(max_size)
        self.sides: list[float] = []
        self.loaded: float | None = None  # the value of a checkpoint resumed from

    def observe(self, images: Sequence[torch.Tensor], kinds: Sequence[str] | None) -> None:
        """Record the video frames of a training batch (all images when the batch names no kinds)."""
        for k, image in enumerate(images):
            if len(self.sides) >= KEEP:
                return
            if kinds is not None and k < len(kinds) and kinds[k] != "video":
                continue
            height, width = image.shape[-2:]
            self.sides.append(network_short_side(int(height), int(width), self.min_size, self.max_size))

    def value(self) -> float | None:
        return statistics.median(self.sides) if self.sides else self.loaded


def frame_short_side(saved: Mapping[str, Any] | None, min_size: float, max_size: float) -> int:
    """The short side to resize search frames to: the recorded training scale, else min(min_size, max_size)."""
    recorded = (saved or {}).get("frame_short_side")
    return int(round(float(recorded))) if recorded else int(min(min_size, max_size))
