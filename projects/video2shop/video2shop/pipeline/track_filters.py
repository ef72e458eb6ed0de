"""Clean-up of finished tracks: too short ones go, and duplicates of one item keep only the best.

Two tracks of one item appear when a KCF failure or a missed detection splits it and a later
detection starts it again while the first still runs, or when two detections of different
categories fall on one garment. They overlap in time with boxes on top of each other; the longer
one (then the better scored, then the older) is kept, since trajectories want length.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from video2shop.pipeline.boxes import iou_matrix
from video2shop.pipeline.track_types import Track


def shared_frame_iou(first: Track, second: Track) -> tuple[int, float]:
    """(number of frames both tracks cover, mean IoU of their boxes on those frames)."""
    positions = {frame: i for i, frame in enumerate(second.frames)}
    pairs = [(first.boxes[i], second.boxes[positions[f]]) for i, f in enumerate(first.frames) if f in positions]
    if not pairs:
        return 0, 0.0
    iou = iou_matrix([a for a, _ in pairs], [b for _, b in pairs])
    return len(pairs), float(torch.diagonal(iou).mean())


def remove_duplicates(tracks: Sequence[Track], duplicate_iou: float) -> list[Track]:
    """Tracks minus those whose shared frames with a kept track have mean IoU above `duplicate_iou`."""
    ranked = sorted(tracks, key=lambda t: (-len(t), -t.mean_score, t.track_id))
    kept: list[Track] = []
    for track in ranked:
        duplicate = False
        for other in kept:
            if track.end < other.start or other.end < track.start:
                continue
            shared, mean_iou = shared_frame_iou(track, other)
            if shared and mean_iou > duplicate_iou:
                duplicate = True
                break
        if not duplicate:
            kept.append(track)
    return sorted(kept, key=lambda t: (t.start, t.track_id))


def drop_short(tracks: Sequence[Track], min_length: int) -> list[Track]:
    return [t for t in tracks if len(t) >= min_length]
