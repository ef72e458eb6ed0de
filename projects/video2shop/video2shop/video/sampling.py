"""Deterministic frame sampling and trajectory crops.

Frames are evenly spaced over the tracklet span (or the whole video); boxes missing on a sampled
frame are interpolated from the nearest annotated neighbours; crops keep a context margin.
"""

from __future__ import annotations

import numpy as np


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


def crop_box(frame: np.ndarray, box: list[float], margin: float) -> np.ndarray:
    """The box grown by `margin` of its size on every side, clipped to the frame."""
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = int(max(0, np.floor(x1 - dx))), int(max(0, np.floor(y1 - dy)))
    right, bottom = int(min(width, np.ceil(x2 + dx))), int(min(height, np.ceil(y2 + dy)))
    if right - left < 2 or bottom - top < 2:
        return frame
    return frame[top:bottom, left:right]
