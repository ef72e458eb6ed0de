"""A deterministic two-class problem: the label is whether the first feature is positive."""

from __future__ import annotations

from pathlib import Path

import torch

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import Sample
from mmf_ext.datasets.base_dataset import BaseDataset
from mmf_ext.datasets.base_dataset_builder import BaseDatasetBuilder


class AlwaysOneDataset(BaseDataset):
    eval_sample_fields = ("targets",)

    def __init__(self, config, split: str) -> None:
        super().__init__("always_one", config, split)
        sizes = {"train": int(config.train_size), "val": int(config.val_size), "test": int(config.test_size)}
        generator = torch.Generator().manual_seed({"train": 0, "val": 1, "test": 2}[split])
        self.features = torch.randn(sizes[split], 8, generator=generator)
        self.targets = (self.features[:, 0] > 0).long()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> Sample:
        return Sample(features=self.features[index], targets=self.targets[index])


@registry.register_builder("always_one")
class AlwaysOneBuilder(BaseDatasetBuilder):
    def __init__(self) -> None:
        super().__init__("always_one")

    @classmethod
    def config_path(cls) -> str:
        return str(Path(__file__).with_name("dataset.yaml"))

    def load(self, config, split: str):
        return AlwaysOneDataset(config, split)
