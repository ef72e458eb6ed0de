"""Builders `video2shop`, `movingfashion` and `synthetic_video2shop` (registered by name).

All three read the same format from `data_dir`; `movingfashion` is the official layout as-is,
`video2shop` adds the documented extensions, and `synthetic_video2shop` first generates its data
into `env.data_dir` (deterministically, once; later runs reuse it).
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.datasets.base_dataset_builder import BaseDatasetBuilder
from mmf_ext.datasets.builders.video2shop.categories import PAPER_CATEGORIES
from mmf_ext.datasets.builders.video2shop.dataset import ShopImages, Video2ShopEvalDataset, Video2ShopTrainDataset
from mmf_ext.datasets.builders.video2shop.manifest import (
    ManifestError, check_files, parse_distractors, parse_manifest,
)
from mmf_ext.datasets.builders.video2shop.trajectories import TrajectoryLoader
from mmf_ext.datasets.video.cache import FrameCache

logger = logging.getLogger("mmf_ext")
CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs" / "datasets"


class Video2ShopBuilder(BaseDatasetBuilder):
    """Reads a folder in the video2shop format (see projects/video2shop/README.md)."""

    name = "video2shop"

    def __init__(self) -> None:
        super().__init__(self.name)

    @classmethod
    def config_path(cls) -> str:
        return str(CONFIG_DIR / cls.name / "defaults.yaml")

    def data_dir(self, config: DictConfig) -> Path:
        if not config.get("data_dir"):
            raise ManifestError(f"dataset_config.{self.name}.data_dir is not set; point it at your dataset folder")
        return Path(str(config.data_dir)).expanduser()

    def _categories(self, config: DictConfig) -> list[str]:
        categories = config.get("categories")
        return list(OmegaConf.to_container(categories)) if categories else list(PAPER_CATEGORIES)

    def _split_file(self, config: DictConfig, split: str) -> str:
        mapping = config.get("split_files") or {}
        return str(mapping.get(split, split))

    def load(self, config: DictConfig, split: str):
        root = self.data_dir(config)
        if not root.is_dir():
            raise ManifestError(f"{root}: dataset folder not found; set dataset_config.{self.name}.data_dir or env.data_dir")
        manifest_name = self._split_file(config, split)
        if not (root / f"{manifest_name}.json").exists() and split == "val":
            logger.info("%s has no val.json; validating on the test split", root)
            manifest_name = self._split_file(config, "test")
        products = parse_manifest(root, manifest_name)
        distractors = parse_distractors(root) if split != "train" else []
        only = config.get("category_filter")
        if only:  # category-specific models (paper Sec. 5): train and evaluate on one category
            known = sorted({p.category for p in products if p.category})
            if only not in known:
                raise ManifestError(f"dataset_config.{self.name}.category_filter={only!r}: no such category in "
                                    f"{root / (manifest_name + '.json')}; categories there: {', '.join(known) or 'none'}")
            products = [p for p in products if p.category == only]
            distractors = [d for d in distractors if d.category == only]
        problems = [p for p in check_files(products, distractors) if "has no videos" not in p]
        if problems:
            more = f" (and {len(problems) - 1} more; run `video2shop validate {root}`)" if len(problems) > 1 else ""
            raise ManifestError(f"{root / (manifest_name + '.json')}: {problems[0]}{more}")
        cache_root = Path(str(config.cache_dir)) / self.name if config.get("use_cache", True) and config.get("cache_dir") else None
        trajectories = TrajectoryLoader(int(config.num_frames), int(config.image_size), float(config.context_margin),
                                         FrameCache(cache_root), bool(config.get("strict", False)))
        shop = ShopImages(int(config.image_size), float(config.context_margin))
        categories = self._categories(config)
        if split == "train":
            return Video2ShopTrainDataset(self.name, config, [p for p in products if p.video_paths], trajectories, shop, categories)
        return Video2ShopEvalDataset(self.name, config, split, products, distractors, trajectories, shop, categories)


@registry.register_builder("video2shop")
class OwnDataBuilder(Video2ShopBuilder):
    name = "video2shop"


@registry.register_builder("movingfashion")
class MovingFashionBuilder(Video2ShopBuilder):
    """MovingFashion's official layout (videos/, imgs/, train.json, test.json) read as-is."""

    name = "movingfashion"


@registry.register_builder("synthetic_video2shop")
class SyntheticBuilder(Video2ShopBuilder):
    """The built-in default: generated on first use into env.data_dir, then reused."""

    name = "synthetic_video2shop"

    def build(self, config: DictConfig, split: str) -> None:
        root = self.data_dir(config)
        if (root / "test.json").exists():
            return
        from mmf_ext.datasets.builders.video2shop.synthetic import generate

        logger.info("generating the synthetic dataset into %s (once)", root)
        try:
            generate(root, products=int(config.products), seed=int(config.seed), frames=int(config.video_frames))
        except FileExistsError:
            if not (root / "test.json").exists():
                raise ManifestError(f"{root}: exists but holds no synthetic dataset; delete it or set data_dir") from None
