"""Detection samples from a video2shop-format dataset (`dataset_config.<name>.task: detection`).

The retrieval data already holds boxes: a tracklet box per annotated video frame and optionally a
shop box per shop image. Served for detection, each item is one full image (a frame decoded at an
annotated frame, or a shop image) with every known box on it, labelled category index + 1 (0 is
the detector's background). A video linked to several products gives each frame all their boxes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from mmf_ext.common.sample import Sample, SampleList
from mmf_ext.datasets.base_dataset import BaseDataset
from mmf_ext.utils.errors import ConfigError
from video2shop.datasets.manifest import ManifestError, ProductEntry
from video2shop.modules.detection_metrics import per_image_list
from video2shop.video.image_io import read_rgb
from video2shop.video.reader import VideoReadError, read_frames
from video2shop.video.sampling import evenly_spaced, interpolate_box

logger = logging.getLogger("mmf_ext")
TASKS = ("retrieval", "detection")
SHOP_WITHOUT_BOX = ("skip", "whole")


def dataset_task(config: DictConfig, name: str) -> str:
    """The task a video2shop dataset serves: `retrieval` (default) or `detection`."""
    task = str(config.task)
    if task not in TASKS:
        raise ConfigError(f"dataset_config.{name}.task={task!r}; choose {' or '.join(TASKS)}")
    return task


@dataclass(frozen=True)
class DetectionImage:
    """One detection item: where its pixels come from and its boxes (xyxy pixels, labels >= 1)."""

    image_id: str
    kind: str  # "video" (a frame) or "shop"
    path: Path
    frame: int | None
    boxes: tuple[tuple[float, float, float, float], ...]
    labels: tuple[int, ...]


def _pick_frames(annotated: list[int], count: int | None) -> list[int]:
    if not count or count >= len(annotated):
        return annotated
    return sorted({annotated[i] for i in evenly_spaced(0, len(annotated) - 1, int(count))})


def detection_images(
    products: list[ProductEntry],
    categories: list[str],
    frames_per_video: int | None,
    video_frames: bool = True,
    shop_images: bool = True,
    shop_without_box: str = "skip",
) -> tuple[list[DetectionImage], int]:
    """The split's detection images, and how many boxes were left out for an unknown category."""
    label_of = {name: i + 1 for i, name in enumerate(categories)}
    unknown = 0
    images: list[DetectionImage] = []
    if video_frames:
        per_video: dict[Path, list[tuple[dict[int, list[float]], int]]] = {}
        for product in products:
            for video, tracklet in zip(product.video_paths, product.tracklets):
                if not tracklet:
                    continue  # no tracklet: the item's place in the frame is unknown
                if product.category not in label_of:
                    unknown += 1
                    continue
                per_video.setdefault(video, []).append((tracklet, label_of[product.category]))
        for video, tracks in per_video.items():
            frames = sorted({f for tracklet, _ in tracks for f in _pick_frames(sorted(tracklet), frames_per_video)})
            for frame in frames:
                covering = [(interpolate_box(t, frame), label) for t, label in tracks if min(t) <= frame <= max(t)]
                images.append(
                    DetectionImage(
                        f"{video.stem}@{frame}",
                        "video",
                        video,
                        frame,
                        tuple(tuple(float(v) for v in box) for box, _ in covering),
                        tuple(label for _, label in covering),
                    )
                )
    if shop_images:
        for product in products:
            for k, path in enumerate(product.image_paths):
                box = product.shop_boxes[k] if k < len(product.shop_boxes) else None
                if box is None and shop_without_box == "skip":
                    continue
                if product.category not in label_of:
                    unknown += 1
                    continue
                boxes = (tuple(float(v) for v in box),) if box is not None else ()
                images.append(
                    DetectionImage(
                        f"{product.product_id}/{path.name}", "shop", path, None, boxes, (label_of[product.category],)
                    )
                )
    return images, unknown


def _whole_image_boxes(item: DetectionImage, width: int, height: int) -> tuple[tuple[float, ...], ...]:
    return ((0.0, 0.0, float(width), float(height)),) if item.kind == "shop" and not item.boxes else item.boxes


class Video2ShopDetectionDataset(BaseDataset):
    """Full images with their boxes; training items are flipped and re-lit at random."""

    eval_sample_fields = ("image_id", "kind", "boxes", "labels")

    def __init__(
        self, name: str, config: DictConfig, split: str, images: list[DetectionImage], augment: bool, strict: bool
    ) -> None:
        super().__init__(name, config, split)
        self.images = images
        self.augment = augment and split == "train"
        self.strict = strict
        self.failed: set[str] = set()

    def __len__(self) -> int:
        return len(self.images)

    def _pixels(self, item: DetectionImage) -> np.ndarray | None:
        if item.kind == "shop":
            return read_rgb(item.path)
        try:
            frames, read = read_frames(item.path, [int(item.frame)])
        except VideoReadError as error:
            if self.strict:
                raise
            if str(item.path) not in self.failed:
                self.failed.add(str(item.path))
                logger.warning("skipping unreadable video: %s", error)
            return None
        return frames[0]

    def __getitem__(self, index: int) -> Sample:
        item = self.images[index]
        image = self._pixels(item)
        if image is None:
            if self.dataset_type == "train":
                return self[(index + 1) % len(self)]
            # evaluation keeps the image as a miss: black, as large as its boxes
            width = int(np.ceil(max([b[2] for b in item.boxes], default=32)))
            height = int(np.ceil(max([b[3] for b in item.boxes], default=32)))
            image = np.zeros((height, width, 3), np.uint8)
        height, width = image.shape[:2]
        boxes = np.array(_whole_image_boxes(item, width, height), np.float32).reshape(-1, 4)
        labels = np.array(item.labels[: len(boxes)], np.int64)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        keep = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
        boxes, labels = boxes[keep], labels[keep]
        if self.augment:
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,)).item()))
            if rng.random() < 0.5:
                image = image[:, ::-1]
                boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
            image = np.clip(image.astype(np.float32) * rng.uniform(0.8, 1.2), 0, 255).astype(np.uint8)
        return Sample(
            image=torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            boxes=torch.from_numpy(boxes),
            labels=torch.from_numpy(labels),
            image_id=item.image_id,
            kind=item.kind,
        )

    def format_for_prediction(self, sample_list: SampleList, model_output: dict[str, Any]) -> list[dict[str, Any]]:
        """One row per predicted box: image, kind, box, score, label and category name."""
        names = list(model_output.get("category_names") or [])
        rows = []
        outputs = zip(*(per_image_list(model_output[k]) for k in ("pred_boxes", "pred_scores", "pred_labels")))
        for image_id, kind, (boxes, scores, labels) in zip(sample_list.image_id, sample_list.kind, outputs):
            for box, score, label in zip(boxes.tolist(), scores.tolist(), labels.tolist()):
                rows.append(
                    {
                        "image_id": image_id,
                        "kind": kind,
                        "box": [round(v, 2) for v in box],
                        "score": round(score, 4),
                        "label": int(label) - 1,
                        "category": names[label - 1] if 0 < label <= len(names) else None,
                    }
                )
        return rows


def detection_dataset(
    name: str, config: DictConfig, split: str, products: list[ProductEntry], categories: list[str]
) -> Video2ShopDetectionDataset:
    """The split's detection dataset, from the products the builder has parsed and checked."""
    options = config.detection
    shop_without_box = str(options.shop_images_without_box)
    if shop_without_box not in SHOP_WITHOUT_BOX:
        raise ConfigError(
            f"dataset_config.{name}.detection.shop_images_without_box={shop_without_box!r}; choose skip or whole"
        )
    count_key = "frames_per_video" if split == "train" else "eval_frames_per_video"
    count = options.get(count_key, 8)
    images, unknown = detection_images(
        products,
        categories,
        int(count) if count else None,
        bool(options.video_frames),
        bool(options.shop_images),
        shop_without_box,
    )
    if unknown:
        logger.info(
            "%s %s: %d videos or shop images left out of detection: their category is not in the category list",
            name,
            split,
            unknown,
        )
    if not images:
        raise ManifestError(
            f"dataset {name} split {split}: no boxes to detect; detection needs tracklets or shop_boxes and a "
            f"`category` from dataset_config.{name}.categories on each product (see projects/video2shop/README.md)"
        )
    return Video2ShopDetectionDataset(name, config, split, images, bool(options.augment), bool(config.strict))
