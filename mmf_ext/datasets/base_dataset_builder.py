"""BaseDatasetBuilder: MMF's builder contract on a LightningDataModule.

`build(config, split)` prepares data once on the main process (generate, download from a local
mirror, index); `load(config, split)` returns the split's BaseDataset. As in MMF, datasets are
loaded through `load_dataset`, which also builds the processors of `config.processors`
(`dataset.init_processors()`). The dataloaders are made here so every builder gets the
resumable training stream and exact evaluation shards.
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import lightning.pytorch as pl
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

from mmf_ext.common.sample import Sample, collate_samples
from mmf_ext.datasets.samplers import StepBatchSampler, UnpaddedShardSampler
from mmf_ext.utils.distributed import get_rank, get_world_size
from mmf_ext.utils.threads import worker_init

SPLITS = ("train", "val", "test")


class IndexedDataset(Dataset):
    """Adds `sample_index` (the item's position in its split) to every Sample."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Sample:
        sample = self.dataset[index]
        sample["sample_index"] = index
        return sample


class BaseDatasetBuilder(pl.LightningDataModule):
    """Subclass, register with `@registry.register_builder("name")`, implement load()."""

    def __init__(self, dataset_name: str | None = None, *args: Any, **kwargs: Any) -> None:
        # MMF passed *args/**kwargs on to Lightning, whose DataModule takes none; they are ignored.
        super().__init__()
        self.dataset_name = dataset_name if dataset_name is not None else f"dataset_{uuid.uuid4().hex[:6]}"
        self.config: DictConfig | None = None  # this dataset's section of dataset_config
        self.run_config: DictConfig | None = None  # the whole run config (training.*, env.*)
        self.datasets: dict[str, Any] = {}

    # -- MMF contract -----------------------------------------------------------------------
    @property
    def dataset_name(self) -> str:
        return self._dataset_name

    @dataset_name.setter
    def dataset_name(self, dataset_name: str) -> None:
        self._dataset_name = dataset_name

    @classmethod
    def config_path(cls) -> str | None:
        return None

    def build(self, config: DictConfig, split: str) -> None:
        """One-time preparation for a split; runs on the main process only."""

    def worker_cpu_share(self) -> float:
        """The share of one CPU a DataLoader worker of this dataset keeps busy while the model trains.

        The thread policy leaves the workers that many CPUs (mmf_ext.utils.threads). 1.0: a worker
        decodes and transforms every item (MMF's datasets); a dataset that serves prepared items
        (e.g. decoded frames read from a cache) says less, so its idle CPUs go to the model.
        """
        return 1.0

    def load(self, config: DictConfig, split: str) -> Dataset:
        raise NotImplementedError("This dataset builder doesn't implement a load method")

    def build_dataset(self, config: DictConfig, dataset_type: str = "train", *args: Any, **kwargs: Any) -> None:
        """MMF's entry to `build`; do not override (override `build`)."""
        self.build(config, dataset_type, *args, **kwargs)

    def load_dataset(self, config: DictConfig, dataset_type: str = "train", *args: Any, **kwargs: Any) -> Any:
        """`load` the split, name it, and build its processors; do not override (override `load`)."""
        dataset = self.load(config, dataset_type, *args, **kwargs)
        if dataset is not None:
            if getattr(dataset, "dataset_name", None) is None:
                dataset.dataset_name = self.dataset_name
            dataset.dataset_type = dataset_type
            if hasattr(dataset, "init_processors"):
                dataset.init_processors()
        return dataset

    @property
    def train_dataset(self) -> Any:
        return self.datasets.get("train")

    @train_dataset.setter
    def train_dataset(self, dataset: Any) -> None:
        self.datasets["train"] = dataset

    @property
    def val_dataset(self) -> Any:
        return self.datasets.get("val")

    @val_dataset.setter
    def val_dataset(self, dataset: Any) -> None:
        self.datasets["val"] = dataset

    @property
    def test_dataset(self) -> Any:
        return self.datasets.get("test")

    @test_dataset.setter
    def test_dataset(self, dataset: Any) -> None:
        self.datasets["test"] = dataset

    # -- wiring by the trainer --------------------------------------------------------------
    def configure(self, dataset_config: DictConfig, run_config: DictConfig) -> None:
        self.config = dataset_config
        self.run_config = run_config

    def prepare_data(self, config: DictConfig | None = None, *args: Any, **kwargs: Any) -> None:
        if config is not None:  # MMF passes the dataset config here; Lightning passes nothing
            self.config = config
        for split in SPLITS:
            self.build_dataset(self.config, split)

    def setup(self, stage: str | None = None, config: DictConfig | None = None) -> None:
        if config is not None:
            self.config = config
        wanted = {
            "fit": ("train", "val"),
            "validate": ("val",),
            "test": ("test",),
            "predict": (self.predict_split(),),
        }.get(stage or "", SPLITS)
        for split in wanted:
            if split not in self.datasets:
                self.datasets[split] = self.load_dataset(self.config, split)

    def predict_split(self) -> str:
        split = (self.config or {}).get("predict_split", "test") if self.config is not None else "test"
        return str(split)

    def get_dataset(self, split: str) -> Any:
        if split not in self.datasets:
            self.setup({"train": "fit", "val": "validate", "test": "test"}.get(split, "predict"))
        return self.datasets.get(split)

    def collate_fn(self, samples: list[Sample]) -> Any:
        batch = collate_samples(samples)
        batch.dataset_name = self.dataset_name
        batch.dataset_type = samples[0].get("dataset_type") if samples else None
        return batch

    def _num_workers(self) -> int:
        return int(self.run_config.training.num_workers) if self.run_config is not None else 0

    def _loader_kwargs(self) -> dict[str, Any]:
        """training.num_workers (one torch thread each, seeded as Lightning seeds), pin_memory, persistent_workers."""
        workers = self._num_workers()
        training = self.run_config.training if self.run_config is not None else None
        return {
            "num_workers": workers,
            "worker_init_fn": partial(worker_init, rank=get_rank()) if workers > 0 else None,
            "collate_fn": self.collate_fn,
            "persistent_workers": bool(training.persistent_workers) and workers > 0 if training is not None else False,
            "pin_memory": bool(training.pin_memory) if training is not None else False,
        }

    def train_dataloader(self) -> DataLoader:
        dataset = self.get_dataset("train")
        training = self.run_config.training
        sampler = StepBatchSampler(
            dataset_size=len(dataset),
            global_batch_size=int(training.batch_size),
            total_steps=int(training.max_updates),
            steps_per_block=int(training.checkpoint_interval),
            rank=get_rank(),
            world_size=get_world_size(),
            seed=int(training.seed or 0),
            current_step=self._global_step,
            batches_per_step=int(training.update_frequency),
        )
        return DataLoader(IndexedDataset(dataset), batch_sampler=sampler, **self._loader_kwargs())

    def _global_step(self) -> int:
        trainer = getattr(self, "trainer", None)
        return int(trainer.global_step) if trainer is not None else 0

    def _eval_dataloader(self, split: str) -> DataLoader:
        dataset = self.get_dataset(split)
        sampler = UnpaddedShardSampler(len(dataset), rank=get_rank(), world_size=get_world_size())
        batch_size = self.run_config.evaluation.batch_size or self.run_config.training.batch_size
        local = max(1, int(batch_size) // get_world_size())
        kwargs = self._loader_kwargs()
        kwargs["persistent_workers"] = False
        return DataLoader(IndexedDataset(dataset), sampler=sampler, batch_size=local, **kwargs)

    def val_dataloader(self) -> DataLoader:
        return self._eval_dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_dataloader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._eval_dataloader(self.predict_split())
