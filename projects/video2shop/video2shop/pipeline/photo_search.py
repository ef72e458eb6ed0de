"""A still photo as a query: each clothing box in it (or the whole photo) is a trajectory of one frame.

A photo of someone wearing a shop item is street-to-shop's most common first query. It is read
like a video of one frame: with a detector, every box it finds that the tracker would start a
track on (pipeline.tracker: `min_detection_score`, `min_box_size`; a box overlapping a better one
by `match_iou` is a second detection of the same item) becomes its own trajectory; without one,
the whole photo is one trajectory. With a person detector (`people` given), each person box found
gives one trajectory per clothing region (pipeline/person_regions.py), as a tracked person does in
a video; a photo without people is then searched whole when `whole_shot_fallback` says so. Each
trajectory holds one model crop; the model loops a trajectory shorter
than its leaves over them itself (AsymNet.encode_trajectories), so a photo is scored as a video
whose frames all show it, by the same `rank_products` as a video.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from video2shop.pipeline.catalog import IMAGE_SUFFIXES
from video2shop.pipeline.subjects import PeopleSettings
from video2shop.pipeline.track_types import TrackerConfig
from video2shop.pipeline.tracking import already_taken, usable_detections
from video2shop.pipeline.trained_model import TrainedModel
from video2shop.pipeline.video_search import Trajectory
from video2shop.pipeline.video_stream import VideoInfo
from video2shop.video.crops import model_crop
from video2shop.video.image_io import read_rgb

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".3gp")


def query_files(folder: Path) -> list[Path]:
    """The videos and photos in a folder and its subfolders, by suffix, in path order."""
    suffixes = VIDEO_SUFFIXES + IMAGE_SUFFIXES
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in suffixes and p.is_file())


def is_photo(path: str | os.PathLike) -> bool:
    """A still image (by its suffix, as the catalog's images: .jpg, .jpeg, .png, .bmp, .webp)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def photo_boxes(image: np.ndarray, detector: Any, config: TrackerConfig) -> list[Any]:
    """The detector's boxes in the photo that the tracker would start tracks on, best first, one per item."""
    height, width = image.shape[:2]
    kept: list[Any] = []
    for detection in usable_detections(detector.detect([image])[0], config, width, height):
        if not already_taken(detection, [(d.box, d.label) for d in kept], config):
            kept.append(detection)
    return kept


def find_photo_trajectories(
    photo: str | os.PathLike,
    trained: TrainedModel,
    detector: Any | None,
    tracker_config: TrackerConfig,
    people: PeopleSettings | None = None,
) -> tuple[VideoInfo, list[Trajectory]]:
    """The photo's trajectories of one crop each: one per detected item (with `people`, one per region of each
    detected person), or the whole photo without a detector.

    The VideoInfo describes the photo as a video of one frame (decoders "image").
    """
    path = Path(photo)
    image = read_rgb(path)  # one line naming the file when it is not a readable image
    height, width = image.shape[:2]
    info = VideoInfo(path, 1, 1.0, int(width), int(height), decoders="image")
    margin, size = trained.context_margin, trained.image_size
    whole = (0.0, 0.0, float(width), float(height))

    def crop(box: tuple[float, ...] | None) -> np.ndarray:
        return model_crop(image, box, margin, size)[None]

    if detector is None:
        return info, [Trajectory(0, [0], [whole], None, crop(None), [0], kind="shot")]
    trajectories: list[Trajectory] = []
    for number, detection in enumerate(photo_boxes(image, detector, tracker_config)):
        box = tuple(float(v) for v in detection.box)
        score = float(detection.score)
        if people is None:
            trajectories.append(Trajectory(len(trajectories), [0], [box], detection.category, crop(box), [0], score))
            continue
        for region in people.regions:
            part = region.box(box)
            trajectories.append(
                Trajectory(
                    len(trajectories),
                    [0],
                    [part],
                    None,
                    crop(part),
                    [0],
                    score,
                    kind="person",
                    person=number,
                    region=region.name,
                )
            )
    if people is not None and people.whole_shot_fallback and not trajectories:
        trajectories.append(Trajectory(0, [0], [whole], None, crop(None), [0], kind="shot"))
    return info, trajectories
