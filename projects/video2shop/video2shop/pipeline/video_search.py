"""From a video file to ranked shop items: cut into shots, detect, track, crop, encode, score against a gallery.

The video is streamed. What each trajectory follows (a shot's whole frame, a tracked item, a
tracked person's clothing region) is pipeline/subjects.py's; each keeps a bounded, evenly spaced
set of its crops (when the set is full every other crop is dropped and the keeping stride
doubles), so memory does not grow with the video's length. A finished subject becomes one
trajectory of `num_frames` crops evenly spaced over its span, the sampling the model was trained
with, and is scored against every gallery image (exactly, or through the gallery's shortlist index
when it has one); a product's score is its best image's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from video2shop.pipeline.gallery import Gallery
from video2shop.pipeline.shots import ShotCutter, ShotSettings
from video2shop.pipeline.subjects import PeopleSettings, SearchTimings, TrackedSubjects, WholeShots
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
    kind: str = "clothing"  # a tracked item, a person's region or a whole shot (pipeline.subjects.KINDS)
    shot: int | None = None  # None for a photo's trajectories (a photo has no shots)
    person: int | None = None  # the person's number in the video (kind "person")
    region: str | None = None  # the clothing region of that person (pipeline.persons.regions)

    def describe(self) -> str:
        """What it follows, for people: `Dress`, `person 2, upper body`, `shot 1, whole frame`."""
        if self.kind == "person":
            return f"person {self.person}, {(self.region or '').replace('_', ' ')}"
        if self.kind == "shot":
            return "whole frame" if self.shot is None else f"shot {self.shot}, whole frame"
        return self.category or "clothing"

    def middle_frame(self) -> int:
        """The frame halfway through the trajectory's span (the report shows it whole)."""
        return (self.frames[0] + self.frames[-1]) // 2

    def box_at(self, frame: int) -> tuple[float, float, float, float]:
        """The box on `frame`: the tracked box of the nearest tracked frame (a whole-shot trajectory
        records its two ends only, with the same box)."""
        nearest = min(range(len(self.frames)), key=lambda k: abs(self.frames[k] - frame))
        return tuple(self.boxes[nearest])


def collect_crops(
    info: VideoInfo,
    items: WholeShots | TrackedSubjects,
    image_size: int,
    margin: float,
    frame_stride: int,
    crop_capacity: int,
    timings: SearchTimings,
) -> dict[Hashable, CropBuffer]:
    """Stream the video once: the crops of each subject key (model_crop of its box on the frame; of the
    whole frame for None), each in a bounded buffer; `info.decoders` and `info.shortfall` say afterwards
    which decoders the frames came from and whether frames the header claims did not decode."""
    buffers: dict[Hashable, CropBuffer] = {}
    clock = time.perf_counter()
    stream = stream_frames(info.path, info.claimed_frames, frame_stride)
    for index, frame in stream:
        timings.decode_s += time.perf_counter() - clock
        timings.frames += 1
        for key, box in items.boxes(index, frame).items():
            buffers.setdefault(key, CropBuffer(crop_capacity)).add(
                index, lambda b=box, f=frame: model_crop(f, b, margin, image_size)
            )
        clock = time.perf_counter()
    if timings.frames == 0:
        raise VideoReadError(f"{info.path}: no frame could be decoded (truncated or corrupt file)")
    info.decoders, info.shortfall = "+".join(stream.decoders), stream.shortfall()
    return buffers


def find_trajectories(
    video: str,
    trained: TrainedModel,
    detector: Any | None,
    tracker_config: Any,
    frame_stride: int = 1,
    crop_capacity: int = 64,
    timings: SearchTimings | None = None,
    length: int | None = None,
    shots: ShotSettings | None = None,
    people: PeopleSettings | None = None,
) -> tuple[VideoInfo, list[Trajectory]]:
    """Decode the video in a stream, cut into shots (`shots`, None: the defaults); with a detector, track every
    item (with `people`, every person's clothing regions) within each shot; without, each shot's whole frame is
    one trajectory (pipeline/subjects.py).

    Each trajectory holds `length` crops (None: the model's trained `num_frames`) evenly spaced over
    its track; the model cuts sliding windows itself when `length` exceeds its leaves.
    """
    timings = timings or SearchTimings()
    _, info = open_video(video)
    length = int(length or trained.num_frames)
    cutter = ShotCutter(shots)
    if detector is None:
        items: WholeShots | TrackedSubjects = WholeShots(cutter, info.width, info.height)
    else:
        items = TrackedSubjects(detector, tracker_config, cutter, timings, info.width, info.height, people)
    buffers = collect_crops(
        info, items, trained.image_size, trained.context_margin, frame_stride, crop_capacity, timings
    )
    trajectories = []
    for subject in items.finish():
        buffer = buffers.get(subject.key)
        if buffer is None or not buffer.crops:
            continue
        crop_frames, crops = buffer.sample(subject.frames[0], subject.frames[-1], length)
        trajectories.append(
            Trajectory(
                len(trajectories),
                list(subject.frames),
                [tuple(b) for b in subject.boxes],
                subject.category,
                crops,
                crop_frames,
                subject.score,
                kind=subject.kind,
                shot=subject.shot,
                person=subject.person,
                region=subject.region,
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
