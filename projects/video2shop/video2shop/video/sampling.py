"""Deterministic frame sampling: which frames a trajectory reads, and which windows a model cuts.

Frames are evenly spaced over the tracklet span (or the whole video); boxes missing on a sampled
frame are interpolated from the nearest annotated neighbours (the crop itself: video/crops.py).
A trajectory longer than a model's leaves is covered by sliding windows (`window_starts`).
"""

from __future__ import annotations

import math

import numpy as np

SAMPLING_VERSION = 1  # bump whenever evenly_spaced or interpolate_box pick other frames or boxes for the same input
# sha256 of their answers on fixed inputs (tests/video2shop/video/test_code_versions.py): update with the version
SAMPLING_FINGERPRINT = "bccfe2ae95f2476d455c779e2eec709650beb24ed446d870426ce74a2ca44998"


def evenly_spaced(start: int, stop: int, count: int) -> list[int]:
    """`count` frame indices spread evenly over [start, stop] (inclusive), centred in their bins."""
    if stop < start:
        raise ValueError(f"empty frame span [{start}, {stop}]")
    span = stop - start + 1
    positions = start + (np.arange(count) + 0.5) * span / count
    return [int(min(stop, max(start, p))) for p in np.floor(positions)]


def interpolate_box(tracklet: dict[int, list[float]], frame: int) -> list[float]:
    """The box at `frame`, linearly interpolated between annotated neighbours (or the nearest)."""
    if frame in tracklet:
        return list(tracklet[frame])
    keys = sorted(tracklet)
    before = [k for k in keys if k < frame]
    after = [k for k in keys if k > frame]
    if not before:
        return list(tracklet[after[0]])
    if not after:
        return list(tracklet[before[-1]])
    a, b = before[-1], after[0]
    w = (frame - a) / (b - a)
    return [(1 - w) * x + w * y for x, y in zip(tracklet[a], tracklet[b])]


def window_starts(length: int, window: int) -> list[int]:
    """Sliding-window starts that cover a trajectory of `length` with windows of `window`."""
    if length <= window:
        return [0]
    count = math.ceil(length / window)
    return [round(i * (length - window) / (count - 1)) for i in range(count)]
