"""Training threads follow other processes' load: lowered while they hold CPUs, restored when they stop."""

import time
from types import SimpleNamespace

import torch

from mmf_cli.run import run
from mmf_ext.trainers.callbacks import LoadAwareThreads
from mmf_ext.utils import cpu_load
from mmf_ext.utils.cpu_load import CpuSample
from tests.helpers import plugin_opts


class _Clock:
    """Samples whose other processes' load is what the test says, one interval apart."""

    def __init__(self) -> None:
        self.time = self.busy = self.own = 0.0
        self.others = 0.0

    def advance(self, seconds: float) -> None:
        self.time += seconds
        self.own += 2.0 * seconds
        self.busy += (2.0 + self.others) * seconds

    def sample(self, cpus):
        return CpuSample(self.time, self.busy, self.own)


def _batches(callback, clock, monkeypatch, trainer, count, others):
    clock.others = others
    for _ in range(count):
        monkeypatch.setattr("mmf_ext.utils.cpu_load.time.monotonic", lambda: clock.time)
        callback.on_train_batch_start(trainer, None, None, 0)
        clock.advance(1.0)
        trainer.global_step += 1
        callback.on_train_batch_end(trainer, None, None, None, 0)


def test_threads_drop_beside_a_busy_process_and_come_back_when_it_ends(two_threads, monkeypatch, framework_log):
    clock = _Clock()
    callback = LoadAwareThreads(interval_s=3.0, cpus={0, 1}, sampler=clock.sample)
    trainer = SimpleNamespace(global_step=0)
    callback.on_train_start(trainer, None)
    seen = []
    for others in (0.0, 0.2, 1.0, 1.0, 0.0, 0.0):  # idle, noise, one busy process, it ends
        _batches(callback, clock, monkeypatch, trainer, 3, others)
        seen.append(torch.get_num_threads())
    callback.on_train_end(trainer, None)
    # each group of batches runs at what the interval before it measured
    assert seen == [2, 2, 2, 1, 1, 2]
    assert torch.get_num_threads() == 2
    assert "other processes kept 1.0 of 2 CPUs busy: training at 1 intra-op thread from update 9" in framework_log.text
    assert "6 of 18 training batches ran at fewer than 2 intra-op threads" in framework_log.text


def test_an_idle_run_keeps_its_threads_and_says_nothing(two_threads, monkeypatch, framework_log):
    clock = _Clock()
    callback = LoadAwareThreads(interval_s=3.0, cpus={0, 1}, sampler=clock.sample)
    trainer = SimpleNamespace(global_step=0)
    callback.on_train_start(trainer, None)
    _batches(callback, clock, monkeypatch, trainer, 12, 0.3)
    callback.on_train_end(trainer, None)
    assert torch.get_num_threads() == 2 and callback.batches_fewer == 0
    assert "training at" not in framework_log.text and "fewer than" not in framework_log.text


def test_no_proc_means_no_change(two_threads, monkeypatch):
    callback = LoadAwareThreads(interval_s=0.0, cpus={0, 1}, sampler=lambda cpus: None)
    trainer = SimpleNamespace(global_step=0)
    callback.on_train_start(trainer, None)
    callback.on_train_batch_start(trainer, None, None, 0)
    assert torch.get_num_threads() == 2


def test_a_run_on_the_cpu_lowers_its_threads_under_load_unless_told_not_to(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setattr("mmf_ext.trainers.callbacks.threads.INTERVAL_S", 0.0)
    # ten CPUs' worth of other processes' time per second, none of it ours
    monkeypatch.setattr(cpu_load, "sample", lambda cpus: CpuSample(time.monotonic(), 10 * time.monotonic(), 0.0))
    before = torch.get_num_threads()
    try:
        args = ("training.max_updates=4", "run_type=train", "training.cpu_threads=2")
        run(plugin_opts(tmp_path / "adapts", *args))
        log = (tmp_path / "adapts" / "train.log").read_text()
        assert "training threads follow other processes' load, read every 0 s: at most 2, fewer while" in log
        assert "CPUs busy: training at 1 intra-op thread from update 0 (configured 2" in log
        assert "4 of 4 training batches ran at fewer than 2 intra-op threads" in log
        assert torch.get_num_threads() == 2  # restored for what follows training
        run(plugin_opts(tmp_path / "fixed", *args, "training.load_aware_threads=false"))
        fixed = (tmp_path / "fixed" / "train.log").read_text()
        assert "training at 1 intra-op" not in fixed and "follow other processes' load" not in fixed
    finally:
        torch.set_num_threads(before)
