"""From a video file to ranked shop items: detect, track, crop, encode, score against a gallery.

The video is streamed. Every track keeps a bounded, evenly spaced set of its crops (when the set is
full every other crop is dropped and the keeping stride doubles), so memory does not grow with the
video's length. A finished track becomes one trajectory of `num_frames` crops evenly spaced over
its span, the sampling the model was trained with, and is scored against every gallery image
(exactly, or through the gallery's shortlist index when it has one); a product's score is its best
image's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from video2shop.pipeline.boxes import Box
from video2shop.pipeline.gallery import Gallery
from video2shop.pipeline.track_types import Track
from video2shop.pipeline.tracking import MultiObjectTracker
from video2shop.pipeline.trained_model import TrainedModel
from video2shop.pipeline.video_stream import VideoInfo, open_video, stream_frames
from video2shop.retrieval.search import search
from video2shop.video.crops import model_crop
from video2shop.video.reader import VideoReadError

logger = logging.getLogger("mmf_ext")


class CropBuffer:
    """At most `capacity` crops of one track, evenly spaced over the frames seen so far."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(2, capacity)
        self.stride = 1
        self.seen = 0
        self.frames: list[int] = []
        self.crops: list[np.ndarray] = []

    def add(self, frame: int, crop: Callable[[], np.ndarray]) -> None:
        if self.seen % self.stride == 0:
            self.frames.append(frame)
            self.crops.append(crop())
            if len(self.crops) >= self.capacity:
                self.frames, self.crops = self.frames[::2], self.crops[::2]
                self.stride *= 2
        self.seen += 1

    def sample(self, first: int, last: int, count: int) -> tuple[list[int], np.ndarray]:
        """`count` crops evenly spaced over the kept ones within [first, last] (repeats when fewer)."""
        kept = [k for k, f in enumerate(self.frames) if first <= f <= last] or list(range(len(self.frames)))
        picks = [kept[min(len(kept) - 1, int((i + 0.5) * len(kept) / count))] for i in range(count)]
        return [self.frames[p] for p in picks], np.stack([self.crops[p] for p in picks])


@dataclass
class Trajectory:
    trajectory_id: int
    frames: list[int]
    boxes: list[tuple[float, float, float, float]]
    category: str | None
    crops: np.ndarray  # [num_frames, 3, S, S] uint8
    crop_frames: list[int]
    detection_score: float = 0.0
    results: list[dict[str, Any]] = field(default_factory=list)

    def middle_frame(self) -> int:
        """The frame halfway through the trajectory's span (the report shows it whole)."""
        return (self.frames[0] + self.frames[-1]) // 2

    def box_at(self, frame: int) -> tuple[float, float, float, float]:
        """The box on `frame`: the tracked box of the nearest tracked frame (a whole-frame trajectory
        records its two ends only, with the same box)."""
        nearest = min(range(len(self.frames)), key=lambda k: abs(self.frames[k] - frame))
        return tuple(self.boxes[nearest])


@dataclass
class SearchTimings:
    decode_s: float = 0.0
    detect_s: float = 0.0
    track_s: float = 0.0
    score_s: float = 0.0
    frames: int = 0
    detected_frames: int = 0


class TrackedItems:
    """Where the clothing is on each frame: the detector's boxes followed by the tracker."""

    def __init__(self, detector: Any, tracker_config: Any, timings: SearchTimings) -> None:
        self.detector, self.timings = detector, timings
        self.tracker = MultiObjectTracker(tracker_config)

    def boxes(self, index: int, frame: np.ndarray) -> dict[int, Box]:
        """{track id: box} of the tracks alive on this frame."""
        detections = None
        if self.tracker.wants_detections():
            begin = time.perf_counter()
            detections = self.detector.detect([frame])[0]
            self.timings.detect_s += time.perf_counter() - begin
            self.timings.detected_frames += 1
        begin = time.perf_counter()
        alive = self.tracker.update(index, frame, detections)
        self.timings.track_s += time.perf_counter() - begin
        return alive

    def finish(self) -> list[Track]:
        return self.tracker.finish()


def collect_crops(
    info: VideoInfo,
    items: TrackedItems | None,
    image_size: int,
    margin: float,
    frame_stride: int,
    crop_capacity: int,
    timings: SearchTimings,
) -> tuple[dict[int, CropBuffer], int]:
    """Stream the video once: each track's crops (model_crop of its box; without items, of the whole
    frame, as track 0) in a bounded buffer, and the index of the last frame decoded; `info.shortfall`
    says afterwards whether frames the header claims did not decode."""
    buffers: dict[int, CropBuffer] = {}
    last_index = -1
    clock = time.perf_counter()
    stream = stream_frames(info.path, info.claimed_frames, frame_stride)
    for index, frame in stream:
        timings.decode_s += time.perf_counter() - clock
        timings.frames += 1
        boxes: dict[int, Box | None] = {0: None} if items is None else items.boxes(index, frame)
        for track_id, box in boxes.items():
            buffers.setdefault(track_id, CropBuffer(crop_capacity)).add(
                index, lambda b=box, f=frame: model_crop(f, b, margin, image_size)
            )
        last_index = index
        clock = time.perf_counter()
    if timings.frames == 0:
        raise VideoReadError(f"{info.path}: no frame could be decoded (truncated or corrupt file)")
    info.decoders, info.shortfall = "+".join(stream.decoders), stream.shortfall()
    return buffers, last_index


def find_trajectories(
    video: str,
    trained: TrainedModel,
    detector: Any | None,
    tracker_config: Any,
    frame_stride: int = 1,
    crop_capacity: int = 64,
    timings: SearchTimings | None = None,
    length: int | None = None,
) -> tuple[VideoInfo, list[Trajectory]]:
    """Decode the video in a stream; with a detector, track every item; without, the whole frame is one trajectory.

    Each trajectory holds `length` crops (None: the model's trained `num_frames`) evenly spaced over
    its track; the model cuts sliding windows itself when `length` exceeds its leaves.
    """
    timings = timings or SearchTimings()
    _, info = open_video(video)
    length = int(length or trained.num_frames)
    items = TrackedItems(detector, tracker_config, timings) if detector is not None else None
    buffers, last_index = collect_crops(
        info, items, trained.image_size, trained.context_margin, frame_stride, crop_capacity, timings
    )
    if items is None:
        crop_frames, crops = buffers[0].sample(0, last_index, length)
        full = (0.0, 0.0, float(info.width), float(info.height))
        return info, [Trajectory(0, [0, last_index], [full, full], None, crops, crop_frames)]
    trajectories = []
    for track in items.finish():
        buffer = buffers.get(track.track_id)
        if buffer is None or not buffer.crops:
            continue
        crop_frames, crops = buffer.sample(track.start, track.end, length)
        trajectories.append(
            Trajectory(
                len(trajectories),
                list(track.frames),
                [tuple(b) for b in track.boxes],
                track.category,
                crops,
                crop_frames,
                track.mean_score,
            )
        )
    return info, trajectories


@torch.no_grad()
def rank_products(
    trained: TrainedModel,
    gallery: Gallery,
    trajectories: list[Trajectory],
    topk: int = 20,
    shortlist_size: int = 1000,
    memory_budget_mb: float | None = None,
) -> None:
    """Fill each trajectory's `results`: the top-k products (best image per product) with scores.

    Every gallery image is scored exactly, or, when the gallery has a shortlist index, the
    `shortlist_size` images its surrogate shortlists (video2shop.retrieval.search).
    """
    if not trajectories:
        return
    model = trained.model
    device = next(model.parameters()).device
    features = gallery.features.to(device)
    shortlist = gallery.shortlist(model, features, shortlist_size)  # built once for all trajectories
    for trajectory in trajectories:
        frames = model.encode_images(torch.from_numpy(trajectory.crops)[None].to(device))
        states = model.encode_trajectories(frames)  # [1, W, L, D]: sliding windows
        if shortlist is None:
            scores = search(model, states, features, memory_budget_mb=memory_budget_mb)[0]
            rows = torch.arange(len(scores))
        else:
            scores, rows = search(model, states, features, shortlist=shortlist, topk=shortlist.size)
            scores, rows = scores[0], rows[0]
        trajectory.results = _best_per_product(gallery, scores, rows, topk)


def _best_per_product(gallery: Gallery, scores: torch.Tensor, rows: torch.Tensor, topk: int) -> list[dict[str, Any]]:
    best: dict[str, tuple[float, int]] = {}
    for score, row in zip(scores.tolist(), rows.tolist()):
        product = gallery.product_ids[row]
        if product not in best or score > best[product][0]:
            best[product] = (score, row)
    ranked = sorted(best.items(), key=lambda item: -item[1][0])[:topk]
    return [
        {"rank": r + 1, "product_id": product, "item_id": gallery.ids[row], "score": round(score, 6)}
        for r, (product, (score, row)) in enumerate(ranked)
    ]
