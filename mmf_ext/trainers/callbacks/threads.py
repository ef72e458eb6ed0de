"""Training threads that follow the machine's load: fewer intra-op threads while other processes hold CPUs.

The thread policy picks the threads at start (mmf_ext.utils.threads). When another job takes a core
later, each training step's parallel ops wait at their barriers for the thread that shares a core
with it: measured on 2 cores beside one busy process, an IFN step took 2.3x its idle time at 2
threads and 1.0x its one-thread time at 1 thread (projects/video2shop/RESULTS.md, "Speed"). So
every `interval_s` this callback reads how many CPUs others kept busy (mmf_ext.utils.cpu_load) and
runs the next steps at the CPUs left, never above the configured threads. On an idle machine it
never changes them, so an idle run trains exactly the model it trained before; a run that changed
them says so at its end, as its figures can differ from an idle run's (another thread count sums in
another order). `training.load_aware_threads=false` keeps the configured threads throughout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

from mmf_ext.utils import cpu_load

logger = logging.getLogger("mmf_ext")
INTERVAL_S = 5.0  # long enough that a command run beside for a second does not change the threads


class LoadAwareThreads(Callback):
    def __init__(
        self,
        interval_s: float | None = None,
        cpus: set[int] | None = None,
        sampler: Callable[[set[int]], cpu_load.CpuSample | None] | None = None,
    ) -> None:
        self.follower = cpu_load.LoadFollower(INTERVAL_S if interval_s is None else interval_s, cpus, sampler)
        self.batches = self.batches_fewer = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.follower.start()
        self.batches = self.batches_fewer = 0
        if self.follower.following:
            logger.info(
                "training threads follow other processes' load, read every %g s: at most %d, fewer while "
                "others keep CPUs busy (training.load_aware_threads=false: fixed)",
                self.follower.interval_s,
                self.follower.configured,
            )

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        others = self.follower.update()
        if others is None:
            return
        threads = self.follower.threads
        logger.info(
            "other processes kept %.1f of %d CPUs busy: training at %d intra-op thread%s from update %d "
            "(configured %d; training.load_aware_threads)",
            others,
            len(self.follower.cpus),
            threads,
            "" if threads == 1 else "s",
            trainer.global_step,
            self.follower.configured,
        )

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.batches += 1
        self.batches_fewer += torch.get_num_threads() < self.follower.configured

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.follower.stop()  # evaluation and what follows run at the configured threads
        if self.batches_fewer:
            logger.info(
                "%d of %d training batches ran at fewer than %d intra-op threads beside other processes' load: "
                "the trained model can differ slightly from an idle run's (training.load_aware_threads=false "
                "keeps the threads fixed)",
                self.batches_fewer,
                self.batches,
                self.follower.configured,
            )
