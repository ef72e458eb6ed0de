"""Video2shop datasets: training trajectories with 2S shop images, and evaluation queries + gallery.

Training (paper Sec. 5, Alg. 1): each item is one trajectory with S positive and S negative shop
images, so a trajectory is encoded once per batch and shared by its 2S pairs. Negatives come from
other products, from the same category first (`same_category_negative_share`).
Evaluation: one query per test video (a video linked to several products keeps all of them as
correct answers), then the gallery: every split product's shop images plus distractors.
Unreadable videos: a training item moves on to the next readable trajectory; an evaluation query
keeps its place with `valid=False` (the metric counts it as a miss). Either way the sample carries
`skipped_videos` [(split, path, reason)], which the builder reports in the main process.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from omegaconf import DictConfig

from mmf_ext.common.sample import Sample, SampleList
from mmf_ext.datasets.base_dataset import BaseDataset
from video2shop.datasets.manifest import Distractor, ManifestError, ProductEntry
from video2shop.datasets.trajectories import TrajectoryLoader
from video2shop.retrieval.predictions import retrieval_prediction_rows
from video2shop.video.crops import model_crop
from video2shop.video.image_io import read_rgb

logger = logging.getLogger("mmf_ext")


class ShopImages:
    """Shop images cropped to their shop box (with margin) and resized, memoised per process."""

    def __init__(self, image_size: int, margin: float) -> None:
        self.image_size = image_size
        self.margin = margin
        self._memo: dict[tuple[str, tuple | None], np.ndarray] = {}

    def load(self, path: Path, box: list[float] | None) -> np.ndarray:
        key = (str(path), tuple(box) if box else None)
        if key not in self._memo:
            self._memo[key] = model_crop(read_rgb(path), box, self.margin, self.image_size)
        return self._memo[key]


def _category_index(categories: list[str], name: str | None) -> int:
    if name is None:
        return -1
    try:
        return categories.index(name)
    except ValueError:
        return -1


def _augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mild shop-image augmentation: flip, small crop-and-resize, brightness."""
    out = image
    if rng.random() < 0.5:
        out = out[:, :, ::-1]
    size = out.shape[-1]
    crop = int(size * rng.uniform(0.85, 1.0))
    y, x = rng.integers(0, size - crop + 1, 2)
    out = np.ascontiguousarray(out[:, y : y + crop, x : x + crop].transpose(1, 2, 0))
    out = cv2.resize(out, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    out = np.clip(out * rng.uniform(0.85, 1.15), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(2, 0, 1))


class Video2ShopTrainDataset(BaseDataset):
    eval_sample_fields = ("product_id", "category")

    def __init__(
        self,
        name: str,
        config: DictConfig,
        products: list[ProductEntry],
        trajectories: TrajectoryLoader,
        shop: ShopImages,
        categories: list[str],
    ) -> None:
        super().__init__(name, config, "train")
        self.products = {p.product_id: p for p in products}
        self.items = [(p.product_id, v, p.tracklets[i]) for p in products for i, v in enumerate(p.video_paths)]
        self.trajectories = trajectories
        self.shop = shop
        self.categories = categories
        self.positives = int(config.positives_per_trajectory)
        self.same_category_share = float(config.same_category_negative_share)
        self.augment = bool(config.augment)
        self.by_category: dict[str | None, list[str]] = {}
        for product in products:
            self.by_category.setdefault(product.category, []).append(product.product_id)
        self.product_ids = list(self.products)
        if len(self.product_ids) < 2:
            raise ManifestError(
                f"dataset {name}: training needs at least two products with videos to draw negatives, "
                f"found {len(self.product_ids)}; add products or widen category_filter"
            )

    def __len__(self) -> int:
        return len(self.items)

    def _shop_image(self, product: ProductEntry, rng: np.random.Generator) -> np.ndarray:
        k = int(rng.integers(0, len(product.image_paths)))
        image = self.shop.load(product.image_paths[k], product.shop_boxes[k] if product.shop_boxes else None)
        return _augment(image, rng) if self.augment else image

    def _negative_ids(self, product: ProductEntry, rng: np.random.Generator) -> list[str]:
        same = [p for p in self.by_category.get(product.category, []) if p != product.product_id]
        others = [p for p in self.product_ids if p != product.product_id]
        chosen = []
        for _ in range(self.positives):
            pool = same if same and rng.random() < self.same_category_share else others
            chosen.append(pool[int(rng.integers(0, len(pool)))])
        return chosen

    def __getitem__(self, index: int) -> Sample:
        skipped: list[tuple[str, str, str]] = []
        for step in range(len(self.items)):  # unreadable video: use the next readable one instead
            product_id, video, tracklet = self.items[(index + step) % len(self.items)]
            crops = self.trajectories.load(video, tracklet)
            if crops is not None:
                break
            skipped.append(("train", str(video), self.trajectories.failed.get(str(video), "unreadable")))
        else:
            raise ManifestError(
                f"dataset {self.dataset_name} train: none of its {len(self.items)} videos can be decoded "
                f"({skipped[0][2]}); check the files with `video2shop validate`"
            )
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,)).item()))
        product = self.products[product_id]
        positives = [self._shop_image(product, rng) for _ in range(self.positives)]
        negatives = [self._shop_image(self.products[n], rng) for n in self._negative_ids(product, rng)]
        labels = torch.cat([torch.ones(self.positives), torch.zeros(self.positives)])
        sample = Sample(
            video=torch.from_numpy(np.ascontiguousarray(crops)),
            images=torch.from_numpy(np.stack(positives + negatives)),
            labels=labels,
            product_id=product_id,
            category=_category_index(self.categories, product.category),
        )
        if skipped:
            sample.skipped_videos = skipped
        return sample


class Video2ShopEvalDataset(BaseDataset):
    """All queries first (one per video), then all gallery items."""

    eval_sample_fields = (
        "is_query",
        "query_id",
        "target_ids",
        "gallery_id",
        "category",
        "category_name",
        "source",
        "valid",
    )

    def __init__(
        self,
        name: str,
        config: DictConfig,
        split: str,
        products: list[ProductEntry],
        distractors: list[Distractor],
        trajectories: TrajectoryLoader,
        shop: ShopImages,
        categories: list[str],
    ) -> None:
        super().__init__(name, config, split)
        self.trajectories = trajectories
        self.shop = shop
        self.categories = categories
        by_video: dict[str, dict[str, Any]] = {}
        for product in products:
            for i, video in enumerate(product.video_paths):
                query = by_video.setdefault(
                    str(video),
                    {
                        "video": video,
                        "tracklet": product.tracklets[i],
                        "targets": [],
                        "category": product.category,
                        "source": product.source,
                    },
                )
                query["targets"].append(product.product_id)
        self.queries = list(by_video.values())
        self.gallery: list[tuple[str, Path, list[float] | None, str | None]] = [
            (p.product_id, path, p.shop_boxes[k] if p.shop_boxes else None, p.category)
            for p in products
            for k, path in enumerate(p.image_paths)
        ]
        self.gallery += [(d.distractor_id, d.image_path, None, d.category) for d in distractors]
        self.topk = int(config.predict_topk)

    def __len__(self) -> int:
        return len(self.queries) + len(self.gallery)

    def __getitem__(self, index: int) -> Sample:
        if index < len(self.queries):
            query = self.queries[index]
            crops = self.trajectories.load(query["video"], query["tracklet"])
            valid = crops is not None
            if not valid:  # a placeholder of the right shape for the model; the metric counts a miss
                size = self.trajectories.image_size
                crops = np.zeros((self.trajectories.num_frames, 3, size, size), np.uint8)
            sample = Sample(
                is_query=True,
                video=torch.from_numpy(np.ascontiguousarray(crops)),
                query_id=Path(query["video"]).stem,
                target_ids=list(query["targets"]),
                category=_category_index(self.categories, query["category"]),
                source=int(query["source"]),
                category_name=query["category"] or "all",
                valid=valid,
            )
            if not valid:
                video = str(query["video"])
                sample.skipped_videos = [(self.dataset_type, video, self.trajectories.failed.get(video, "unreadable"))]
            return sample
        gallery_id, path, box, category = self.gallery[index - len(self.queries)]
        return Sample(
            is_query=False,
            image=torch.from_numpy(self.shop.load(path, box).copy()),
            gallery_id=gallery_id,
            category=_category_index(self.categories, category),
            category_name=category or "all",
            valid=True,
        )

    def format_for_prediction(self, sample_list: SampleList, model_output: dict[str, Any]) -> list[dict[str, Any]]:
        return retrieval_prediction_rows(sample_list, model_output, self.topk)
