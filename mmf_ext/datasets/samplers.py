"""Samplers that make training resumable and evaluation exact under any world size.

Training: the run is one deterministic stream of global batches (a fresh permutation per data
epoch, seeded), `batches_per_step` of them per optimizer step (MMF's training.update_frequency:
gradients accumulate over them), cut into blocks of `steps_per_block` steps; Lightning's epoch is
one block. Each iteration starts at the trainer's current global step (restored from a checkpoint
on resume), so a resumed run continues on exactly the batches an uninterrupted run would see.
Each rank takes its slice of every global batch, so the global batch is the same for one or many
processes.

Evaluation: rank r takes indices r, r+W, r+2W, ... with no padding, so no item is seen twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch.utils.data import Sampler


class StepBatchSampler(Sampler[list[int]]):
    """Yields this rank's index lists for the global steps of one block (set by set_epoch)."""

    def __init__(
        self,
        dataset_size: int,
        global_batch_size: int,
        total_steps: int,
        steps_per_block: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle: bool = True,
        current_step: Callable[[], int] | None = None,
        batches_per_step: int = 1,
    ) -> None:
        if dataset_size <= 0:
            raise ValueError("the training dataset is empty; check the dataset's train split")
        if global_batch_size % world_size != 0:
            raise ValueError(
                f"training.batch_size={global_batch_size} is not divisible by the world size "
                f"{world_size}; choose a multiple of {world_size}"
            )
        self.dataset_size = dataset_size
        self.global_batch_size = global_batch_size
        self.local_batch_size = global_batch_size // world_size
        self.total_steps = total_steps
        self.steps_per_block = max(1, steps_per_block)
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.shuffle = shuffle
        self.block = 0
        self.current_step = current_step
        self.batches_per_step = max(1, batches_per_step)
        # A data epoch is as many full global batches as fit (at least one, sampling with wrap).
        self.steps_per_data_epoch = max(1, dataset_size // global_batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.block = epoch

    def _block_steps(self) -> range:
        start = self.current_step() if self.current_step is not None else self.block * self.steps_per_block
        stop = min((start // self.steps_per_block + 1) * self.steps_per_block, self.total_steps)
        return range(start, max(start, stop))

    def __len__(self) -> int:
        return len(self._block_steps()) * self.batches_per_step

    def _permutation(self, data_epoch: int) -> torch.Tensor:
        if not self.shuffle:
            order = torch.arange(self.dataset_size)
        else:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + data_epoch)
            order = torch.randperm(self.dataset_size, generator=generator)
        needed = self.steps_per_data_epoch * self.global_batch_size
        if needed > self.dataset_size:  # fewer items than one global batch: wrap around
            order = order.repeat(math.ceil(needed / self.dataset_size))[:needed]
        return order

    def __iter__(self) -> Iterator[list[int]]:
        cached_epoch, order = -1, None
        for step in self._block_steps():
            for part in range(self.batches_per_step):
                batch = step * self.batches_per_step + part
                data_epoch, position = divmod(batch, self.steps_per_data_epoch)
                if data_epoch != cached_epoch:
                    cached_epoch, order = data_epoch, self._permutation(data_epoch)
                start = position * self.global_batch_size + self.rank * self.local_batch_size
                yield order[start : start + self.local_batch_size].tolist()


class UnpaddedShardSampler(Sampler[int]):
    """Rank r of W yields r, r+W, ...: every item exactly once over all ranks, no padding."""

    def __init__(self, dataset_size: int, rank: int = 0, world_size: int = 1) -> None:
        self.dataset_size = dataset_size
        self.rank = rank
        self.world_size = world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.dataset_size, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.dataset_size, self.world_size))
