"""Builders `video2shop`, `movingfashion` and `synthetic_video2shop` (registered by name).

All three read the same format from `data_dir`; `movingfashion` is the official layout as-is,
`video2shop` adds the documented extensions, and `synthetic_video2shop` first generates its data
into `env.data_dir` (deterministically, once; later runs reuse it while its generator stamp says it
is what this code and these parameters make, and generate it again otherwise).

Unreadable videos are found inside DataLoader workers, whose logs and counters never reach the
run; so samples carry them (`skipped_videos`), and the builder, in the main process, warns once
per file at first sight and logs a summary line when each stage (fit, validate, test, predict)
ends.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.datasets.base_dataset_builder import BaseDatasetBuilder
from video2shop.datasets.categories import PAPER_CATEGORIES
from video2shop.datasets.dataset import ShopImages, Video2ShopEvalDataset, Video2ShopTrainDataset
from video2shop.datasets.detection import dataset_task, detection_dataset
from video2shop.datasets.manifest import (
    Distractor,
    ManifestError,
    ProductEntry,
    check_files,
    parse_distractors,
    parse_manifest,
)
from video2shop.datasets.synthetic import ensure_generated
from video2shop.datasets.trajectories import TrajectoryLoader
from video2shop.paths import dataset_defaults
from video2shop.video.cache import FrameCache

logger = logging.getLogger("mmf_ext")
CACHED_WORKER_CPU_SHARE = 0.05  # a worker reading the frame cache (measured about 0.02; some headroom)


class Video2ShopBuilder(BaseDatasetBuilder):
    """Reads a folder in the video2shop format (see projects/video2shop/README.md)."""

    name = "video2shop"

    def __init__(self) -> None:
        super().__init__(self.name)
        self.skipped_videos: dict[str, tuple[str, str]] = {}  # path -> (split, reason), in first-seen order

    @classmethod
    def config_path(cls) -> str:
        return dataset_defaults(cls.name)

    def data_dir(self, config: DictConfig) -> Path:
        if not config.data_dir:
            raise ManifestError(f"dataset_config.{self.name}.data_dir is not set; point it at your dataset folder")
        return Path(str(config.data_dir)).expanduser()

    def _categories(self, config: DictConfig) -> list[str]:
        categories = config.categories
        return list(OmegaConf.to_container(categories)) if categories else list(PAPER_CATEGORIES)

    def _split_file(self, config: DictConfig, split: str) -> str:
        mapping = config.split_files or {}
        return str(mapping.get(split, split))

    def load(self, config: DictConfig, split: str):
        root = self.data_dir(config)
        if not root.is_dir():
            raise ManifestError(
                f"{root}: dataset folder not found; set dataset_config.{self.name}.data_dir or env.data_dir"
            )
        manifest_name = self._split_file(config, split)
        if not (root / f"{manifest_name}.json").exists() and split == "val":
            logger.info("%s has no val.json; validating on the test split", root)
            manifest_name = self._split_file(config, "test")
        products = parse_manifest(root, manifest_name)
        distractors = parse_distractors(root) if split != "train" else []
        only = config.category_filter
        if only:  # category-specific models (paper Sec. 5): train and evaluate on one category
            known = sorted({p.category for p in products if p.category})
            if only not in known:
                raise ManifestError(
                    f"dataset_config.{self.name}.category_filter={only!r}: no such category in "
                    f"{root / (manifest_name + '.json')}; categories there: {', '.join(known) or 'none'}"
                )
            products = [p for p in products if p.category == only]
            distractors = [d for d in distractors if d.category == only]
        problems = [p for p in check_files(products, distractors) if "has no videos" not in p]
        if problems:
            more = f" (and {len(problems) - 1} more; run `video2shop validate {root}`)" if len(problems) > 1 else ""
            raise ManifestError(f"{root / (manifest_name + '.json')}: {problems[0]}{more}")
        if dataset_task(config, self.name) == "detection":  # full images with their boxes (clothing_detector)
            return detection_dataset(self.name, config, split, products, self._categories(config))
        categories = self._categories(config)
        self._check_retrieval_manifest(config, root / f"{manifest_name}.json", products, distractors, categories)
        cache_root = Path(str(config.cache_dir)) / self.name if config.use_cache and config.cache_dir else None
        trajectories = TrajectoryLoader(
            int(config.num_frames),
            int(config.image_size),
            float(config.context_margin),
            FrameCache(cache_root),
            bool(config.strict),
            warn=False,
        )
        shop = ShopImages(int(config.image_size), float(config.context_margin))
        if split == "train":
            return Video2ShopTrainDataset(
                self.name, config, [p for p in products if p.video_paths], trajectories, shop, categories
            )
        return Video2ShopEvalDataset(self.name, config, split, products, distractors, trajectories, shop, categories)

    def _check_retrieval_manifest(
        self,
        config: DictConfig,
        manifest: Path,
        products: list[ProductEntry],
        distractors: list[Distractor],
        categories: list[str],
    ) -> None:
        """Problems only retrieval trips over: a category outside the list (its index would silently be -1,
        dropping it from within-category evaluation) and a distractor that shares a product's id (it
        would count as a correct answer)."""
        known = set(categories)
        named = [(p.category, f"product {p.product_id!r}") for p in products] + [
            (d.category, f"distractor {d.distractor_id!r}") for d in distractors
        ]
        for category, owner in named:
            if category is not None and category not in known:
                which = f"dataset_config.{self.name}.categories" if config.categories else "the paper's 14 categories"
                raise ManifestError(
                    f"{manifest}: {owner} has category {category!r}, which is not in {which}; "
                    f"set dataset_config.{self.name}.categories to the full list of your categories"
                )
        product_ids = {p.product_id for p in products}
        for distractor in distractors:
            if distractor.distractor_id in product_ids:
                raise ManifestError(
                    f"{manifest.parent / 'distractors.json'}: distractor id {distractor.distractor_id!r} is also "
                    f"a product id in {manifest.name}; give distractors ids no product uses"
                )

    def worker_cpu_share(self) -> float:
        """With the frame cache, a worker reads decoded trajectory crops and small shop images: measured about
        2% of a core each beside the default AsymNet run (docs/coming_from_mmf.md#cpu-threads), so the workers
        leave every CPU to the model. Decoding every video (no cache) or full detection images: a CPU each.
        The first pass over a split fills the cache, with the workers busier for that pass."""
        config = self.config
        if config is None or not (config.use_cache and config.cache_dir):
            return 1.0
        return 1.0 if dataset_task(config, self.name) == "detection" else CACHED_WORKER_CPU_SHARE

    # -- unreadable videos: reported in the main process -----------------------------------
    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Take the batch's `skipped_videos` out of it and warn about each file the first time it is seen."""
        entries = batch.pop("skipped_videos", None) if isinstance(batch, dict) else None
        for per_sample in entries or []:
            for split, path, reason in per_sample or []:
                if path not in self.skipped_videos:
                    self.skipped_videos[path] = (split, reason)
                    logger.warning("%s %s: skipping unreadable video: %s", self.name, split, reason)
        return batch

    def skipped_summary(self) -> str | None:
        """One line: how many unreadable videos were skipped so far in this run, by split."""
        if not self.skipped_videos:
            return None
        by_split: dict[str, int] = {}
        for split, _ in self.skipped_videos.values():
            by_split[split] = by_split.get(split, 0) + 1
        counts = ", ".join(f"{split}: {count}" for split, count in by_split.items())
        return (
            f"{self.name}: {len(self.skipped_videos)} unreadable video(s) skipped in this run ({counts}); each is "
            f"named in a warning above; evaluation counts an unreadable query as a miss; "
            f"dataset_config.{self.name}.strict=true makes them errors"
        )

    def teardown(self, stage: str) -> None:
        summary = self.skipped_summary()
        if summary:
            logger.warning("%s", summary)


@registry.register_builder("video2shop")
class OwnDataBuilder(Video2ShopBuilder):
    name = "video2shop"


@registry.register_builder("movingfashion")
class MovingFashionBuilder(Video2ShopBuilder):
    """MovingFashion's official layout (videos/, imgs/, train.json, test.json) read as-is."""

    name = "movingfashion"


@registry.register_builder("synthetic_video2shop")
class SyntheticBuilder(Video2ShopBuilder):
    """The built-in default: generated on first use into env.data_dir, then reused while its stamp
    matches this generator's version and parameters (video2shop.datasets.synthetic.ensure_generated)."""

    name = "synthetic_video2shop"

    def build(self, config: DictConfig, split: str) -> None:
        root = self.data_dir(config)
        ensure_generated(root, products=int(config.products), seed=int(config.seed), frames=int(config.video_frames))
