"""MMF's training / distributed keys mapped onto Lightning (mmf_ext.trainers.lightning_setup)."""

import os

import pytest
from omegaconf import OmegaConf

from mmf_ext.trainers import lightning_setup as setup
from mmf_ext.utils.configuration import default_config
from mmf_ext.utils.distributed import LaunchInfo
from mmf_ext.utils.errors import ConfigError

NO_LAUNCHER = LaunchInfo("none", 1, 0, 0, 1, 1)
TORCHRUN_2 = LaunchInfo("torchrun", 2, 0, 0, 2, 1)


def config(**sections):
    return OmegaConf.merge(default_config(), sections)


def test_world_size_starts_processes_without_a_launcher_unless_no_spawn():
    plan = setup.device_plan(config(training={"device": "cpu"}, distributed={"world_size": 2}), NO_LAUNCHER)
    assert (plan.accelerator, plan.devices, plan.num_nodes, plan.backend) == ("cpu", 2, 1, "gloo")
    plan = setup.device_plan(config(distributed={"world_size": 2, "no_spawn": True}), NO_LAUNCHER)
    assert plan.world_size == 1
    assert setup.device_plan(config(), NO_LAUNCHER).world_size == 1  # the CPU: one process


def test_the_launcher_decides_and_a_contradicting_world_size_is_one_line():
    assert setup.device_plan(config(), TORCHRUN_2).devices == 2
    with pytest.raises(ConfigError, match="distributed.world_size=4 but the launcher .* started 2 processes"):
        setup.device_plan(config(distributed={"world_size": 4}), TORCHRUN_2)
    with pytest.raises(ConfigError, match="training.device='xla'"):
        setup.device_plan(config(training={"device": "xla"}), NO_LAUNCHER)


def test_init_method_and_port_become_the_rendezvous_address(monkeypatch):
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    setup.apply_init_method(config(distributed={"init_method": "tcp://10.1.2.3:23456"}))
    assert (os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"]) == ("10.1.2.3", "23456")
    setup.apply_init_method(config(distributed={"port": 29999}))
    assert os.environ["MASTER_PORT"] == "29999"
    with pytest.raises(ConfigError, match="write tcp://HOST:PORT"):
        setup.apply_init_method(config(distributed={"init_method": "file:///tmp/x"}))


def test_fp16_clipping_and_find_unused_parameters():
    cpu = setup.DevicePlan("cpu", 2, 1, "gloo")
    assert setup.precision(config(training={"fp16": True}), cpu) == "bf16-mixed"
    assert setup.precision(config(training={"fp16": True}), setup.DevicePlan("gpu", 1, 1, "nccl")) == "16-mixed"
    assert setup.gradient_clipping(config(training={"clip_gradients": True, "max_grad_l2_norm": 0.25})) == {
        "gradient_clip_val": 0.25,
        "gradient_clip_algorithm": "norm",
    }
    assert setup.gradient_clipping(config()) == {"gradient_clip_val": None}
    with pytest.raises(ConfigError, match="needs training.max_grad_l2_norm"):
        setup.gradient_clipping(config(training={"clip_gradients": True}))
    assert setup.strategy(config(training={"find_unused_parameters": True}), cpu)._ddp_kwargs == {
        "find_unused_parameters": True
    }


def test_batch_size_per_device_and_max_epochs_follow_mmf():
    assert setup.global_batch_size(config(training={"batch_size_per_device": 4}), 2) == 8
    with pytest.raises(ConfigError, match="not divisible by the 3 processes"):
        setup.global_batch_size(config(training={"batch_size": 8}), 3)
    # 64 items, batch 8: 8 batches an epoch; update_frequency 2: 4 updates an epoch; max_epochs wins
    both = config(training={"max_updates": 100, "max_epochs": 3, "batch_size": 8, "update_frequency": 2})
    assert setup.max_updates(both, 64) == 12
    with pytest.raises(ConfigError, match="set training.max_updates or training.max_epochs"):
        setup.max_updates(config(), 64)


def test_wandb_without_the_package_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "wandb", None)  # as if not installed
    with pytest.raises(ConfigError, match="needs the wandb package"):
        setup.loggers(config(training={"wandb": {"enabled": True}}), tmp_path, tmp_path)


def test_cpu_threads_share_the_nodes_cpus_among_its_processes(monkeypatch):
    import torch

    from mmf_ext.utils.threads import cpu_budget

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    before, two_processes = torch.get_num_threads(), setup.DevicePlan("cpu", 2, 1, "gloo")
    try:
        plan = setup.cpu_threads(config(training={"num_workers": 0}), two_processes, log=False)
        assert plan.intra_op == max(1, cpu_budget().usable // 2) == torch.get_num_threads()
        with pytest.raises(ConfigError, match="training.cpu_threads='auto'"):
            setup.cpu_threads(config(training={"cpu_threads": "auto"}), two_processes, log=False)
    finally:
        torch.set_num_threads(before)
