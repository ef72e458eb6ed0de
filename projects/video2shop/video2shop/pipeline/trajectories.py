"""Unify tracks to trajectories of exactly T frames, as AsymNet reads them (the paper: T = 32).

A track longer than T is covered by sliding windows of T frames (the same `window_starts` that
AsymNet uses on long trajectories, so the pipeline and the model cut windows alike); a shorter
one is looped (frames repeat in order, as AsymNet loops a short trajectory) or resampled
(frames spread evenly over the track, some repeated).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from video2shop.models.asymnet.model import window_starts
from video2shop.pipeline.boxes import Box
from video2shop.pipeline.track_types import Track
from mmf_ext.utils.errors import ConfigError

SHORT_MODES = ("loop", "resample")


@dataclass(frozen=True)
class Trajectory:
    """T frames of one track: frame indices and boxes, with the track's identity and category."""

    track_id: int
    window: int  # position of this window among the track's windows
    frames: tuple[int, ...]
    boxes: tuple[Box, ...]
    label: int = -1
    category: str | None = None

    def __len__(self) -> int:
        return len(self.frames)


def unified_positions(length: int, window: int, short: str = "loop") -> list[list[int]]:
    """Positions into a track of `length` frames: one list of `window` positions per trajectory."""
    if window < 1:
        raise ConfigError(f"pipeline.trajectories.length={window}: must be at least 1")
    if short not in SHORT_MODES:
        raise ConfigError(f"pipeline.trajectories.short={short!r}; choose {' or '.join(SHORT_MODES)}")
    if length < 1:
        return []
    if length >= window:
        return [list(range(start, start + window)) for start in window_starts(length, window)]
    if short == "loop":
        return [[i % length for i in range(window)]]
    return [np.round(np.linspace(0, length - 1, window)).astype(int).tolist()]


def unify_track(track: Track, length: int = 32, short: str = "loop") -> list[Trajectory]:
    """The track as trajectories of exactly `length` frames (several when it is longer)."""
    return [
        Trajectory(track.track_id, w, tuple(track.frames[p] for p in positions), tuple(track.boxes[p] for p in positions),
                   track.label, track.category)
        for w, positions in enumerate(unified_positions(len(track), length, short))
    ]


def unify_tracks(tracks: Sequence[Track], length: int = 32, short: str = "loop") -> list[Trajectory]:
    return [trajectory for track in tracks for trajectory in unify_track(track, length, short)]
