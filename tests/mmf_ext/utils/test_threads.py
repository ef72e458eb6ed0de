"""The thread policy (mmf_ext.utils.threads): usable CPUs from affinity and cgroup files, precedence, workers."""

import random
from functools import partial

import pytest
import torch
from lightning.fabric.utilities.seed import pl_worker_init_function
from torch.utils.data import DataLoader, Dataset

from mmf_ext.utils import threads
from mmf_ext.utils.errors import ConfigError, UserError
from mmf_ext.utils.threads import CpuBudget, cgroup_quota, thread_plan, worker_init

TWO = CpuBudget(affinity=2, quota=None)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- the CPUs the process may use -------------------------------------------------------------------
def test_cgroup_v2_quota_is_read_from_cpu_max(tmp_path):
    proc = write(tmp_path / "proc_cgroup", "0::/\n")
    write(tmp_path / "cg" / "cpu.max", "150000 100000\n")
    assert cgroup_quota(tmp_path / "cg", proc) == 1.5
    write(tmp_path / "cg" / "cpu.max", "max 100000\n")
    assert cgroup_quota(tmp_path / "cg", proc) is None
    write(tmp_path / "cg" / "cpu.max", "garbled\n")
    assert cgroup_quota(tmp_path / "cg", proc) is None


def test_cgroup_v2_takes_the_tightest_limit_of_the_cgroup_and_its_parents(tmp_path):
    proc = write(tmp_path / "proc_cgroup", "0::/jobs/mine\n")
    write(tmp_path / "cg" / "jobs" / "mine" / "cpu.max", "max 100000")
    write(tmp_path / "cg" / "jobs" / "cpu.max", "300000 100000")
    write(tmp_path / "cg" / "cpu.max", "800000 100000")
    assert cgroup_quota(tmp_path / "cg", proc) == 3.0


def test_cgroup_v1_quota_is_read_from_cfs_quota_and_period(tmp_path):
    proc = write(tmp_path / "proc_cgroup", "5:memory:/x\n4:cpu,cpuacct:/docker/abc\n")
    folder = tmp_path / "cg" / "cpu,cpuacct" / "docker" / "abc"
    write(folder / "cpu.cfs_quota_us", "200000\n")
    write(folder / "cpu.cfs_period_us", "100000\n")
    assert cgroup_quota(tmp_path / "cg", proc) == 2.0
    write(folder / "cpu.cfs_quota_us", "-1\n")
    assert cgroup_quota(tmp_path / "cg", proc) is None


def test_cgroup_v1_inside_a_container_reads_the_mount_itself(tmp_path):
    """/proc shows the host's path, but the container's own cgroup is mounted at the top."""
    proc = write(tmp_path / "proc_cgroup", "4:cpu,cpuacct:/kubepods/pod1/c2\n")
    write(tmp_path / "cg" / "cpu,cpuacct" / "cpu.cfs_quota_us", "50000")
    write(tmp_path / "cg" / "cpu,cpuacct" / "cpu.cfs_period_us", "100000")
    assert cgroup_quota(tmp_path / "cg", proc) == 0.5


def test_no_cgroup_files_is_no_quota(tmp_path):
    assert cgroup_quota(tmp_path / "nothing", tmp_path / "no_proc_file") is None


def test_usable_cpus_are_the_affinity_capped_by_the_quota_rounded_down():
    assert CpuBudget(8, None).usable == 8
    assert CpuBudget(8, 2.5).usable == 2
    assert CpuBudget(8, 0.5).usable == 1  # a fraction of a CPU still runs one thread
    assert CpuBudget(2, 6.0).usable == 2
    assert CpuBudget(8, 2.5).describe() == "2 CPUs usable: affinity 8, cgroup quota 2.5 CPUs"


def test_the_real_budget_is_within_the_affinity():
    budget = threads.cpu_budget()
    assert 1 <= budget.usable <= budget.affinity == threads.affinity_cpus()


# -- the choice ---------------------------------------------------------------------------------------
def test_automatic_threads_share_the_usable_cpus_among_the_nodes_processes():
    assert thread_plan(None, 0, 1, CpuBudget(8, None), environ={}).intra_op == 8
    assert thread_plan(None, 0, 2, CpuBudget(8, None), environ={}).intra_op == 4
    assert thread_plan(None, 0, 4, CpuBudget(2, None), environ={}).intra_op == 1
    assert thread_plan(None, 0, 1, CpuBudget(8, 3.0), environ={}).intra_op == 3


def test_automatic_threads_leave_one_cpu_to_each_dataloader_worker_and_keep_one():
    assert thread_plan(None, 4, 1, CpuBudget(16, None), environ={}).intra_op == 12
    assert thread_plan(None, 2, 2, CpuBudget(16, None), environ={}).intra_op == 6  # 8 CPUs per process
    assert thread_plan(None, 4, 1, CpuBudget(4, None), environ={}).intra_op == 1
    plan = thread_plan(None, 2, 1, TWO, environ={})
    assert (plan.intra_op, plan.inter_op, plan.workers, plan.worker_threads, plan.source) == (1, 1, 2, 1, "auto")
    assert plan.describe() == (
        "CPU threads: 1 intra-op, 1 inter-op; 2 DataLoader workers x 1 thread "
        "(2 CPUs usable: affinity 2, cgroup quota none)"
    )


def test_workers_of_a_dataset_serving_prepared_items_leave_their_cpus_to_the_model():
    cached = thread_plan(None, 2, 1, TWO, environ={}, worker_cpu_share=0.05)
    assert cached.intra_op == 2 and cached.worker_cpu_share == 0.05
    assert cached.describe() == (
        "CPU threads: 2 intra-op, 1 inter-op; 2 DataLoader workers x 1 thread, ~0.05 CPU each "
        "(2 CPUs usable: affinity 2, cgroup quota none)"
    )
    assert thread_plan(None, 10, 1, CpuBudget(16, None), environ={}, worker_cpu_share=0.05).intra_op == 15
    assert thread_plan(None, 4, 1, CpuBudget(16, None), environ={}, worker_cpu_share=0.5).intra_op == 14
    assert thread_plan(None, 2, 1, TWO, environ={}, worker_cpu_share=0.0).intra_op == 2
    assert (
        thread_plan(None, 0, 1, TWO, environ={}, worker_cpu_share=0.05)
        .describe()
        .startswith("CPU threads: 2 intra-op, 1 inter-op; 0 DataLoader workers x 1 thread (")
    )


@pytest.mark.parametrize("share", [-0.1, 1.5, "cheap", True, None])
def test_a_builders_worker_cpu_share_outside_zero_to_one_is_refused_in_one_line(share):
    with pytest.raises(ValueError, match=r"^worker_cpu_share=.*a share of one CPU in \[0, 1\]$"):
        thread_plan(None, 2, 1, TWO, environ={}, worker_cpu_share=share)


def test_training_cpu_threads_forces_the_intra_op_threads():
    plan = thread_plan(3, 2, 1, TWO, environ={})
    assert plan.intra_op == 3 and plan.source == "training.cpu_threads=3"
    assert plan.describe().startswith("CPU threads: 3 intra-op (training.cpu_threads=3), 1 inter-op; 2 DataLoader")


def test_the_users_environment_variables_win_and_say_so():
    plan = thread_plan(3, 0, 1, TWO, environ={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "2"})
    assert plan.intra_op == 1
    assert "OMP_NUM_THREADS=1 set in the environment: it wins over training.cpu_threads" in plan.describe()
    assert thread_plan(None, 0, 1, TWO, environ={"MKL_NUM_THREADS": "2"}).intra_op == 2
    assert thread_plan(None, 0, 1, TWO, environ={"OMP_NUM_THREADS": "3,1"}).intra_op == 3  # OpenMP's nested list
    assert thread_plan(None, 0, 1, CpuBudget(4, None), environ={"OMP_NUM_THREADS": " "}).intra_op == 4  # empty: unset


@pytest.mark.parametrize("value", [0, -2, 1.5, "two", True])
def test_a_bad_cpu_threads_value_is_one_line_naming_the_key(value):
    with pytest.raises(ConfigError, match=r"^training\.cpu_threads=.*whole number .*null for the automatic"):
        thread_plan(value, 0, 1, TWO, environ={})


def test_a_bad_environment_value_is_one_line_naming_the_variable():
    with pytest.raises(UserError, match="OMP_NUM_THREADS='lots': give a whole number"):
        thread_plan(None, 0, 1, TWO, environ={"OMP_NUM_THREADS": "lots"})


def test_applying_a_plan_sets_torchs_threads_and_reports_what_runs():
    before = torch.get_num_threads()
    try:
        applied = threads.apply_thread_plan(thread_plan(2, 0, 1, TWO, environ={}))
        assert torch.get_num_threads() == 2 == applied.intra_op
        assert applied.inter_op == torch.get_num_interop_threads()
    finally:
        torch.set_num_threads(before)


# -- DataLoader workers -------------------------------------------------------------------------------
def test_worker_init_sets_one_torch_thread():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        worker_init(0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_worker_init_keeps_lightnings_seeding_of_a_seeded_run(monkeypatch):
    monkeypatch.setenv("PL_SEED_WORKERS", "1")
    drawn = []
    for init in (partial(worker_init, rank=1), partial(pl_worker_init_function, rank=1)):
        torch.manual_seed(7 + 2)  # a worker's torch seed: base seed + worker id
        init(2)
        drawn.append((torch.rand(1).item(), random.random()))
    assert drawn[0] == drawn[1]


class _WhatTheWorkerSees(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        return torch.tensor([torch.get_num_threads()])


def test_the_frameworks_loaders_start_their_workers_with_worker_init():
    from mmf_ext.datasets.base_dataset_builder import BaseDatasetBuilder
    from mmf_ext.utils.configuration import default_config

    builder = BaseDatasetBuilder("probe")
    run_config = default_config()
    run_config.training.num_workers = 2
    builder.configure(None, run_config)
    kwargs = builder._loader_kwargs()
    assert kwargs["worker_init_fn"].func is worker_init
    loader = DataLoader(_WhatTheWorkerSees(), batch_size=1, num_workers=2, worker_init_fn=kwargs["worker_init_fn"])
    assert torch.cat(list(loader))[:, 0].tolist() == [1.0] * 4
    run_config.training.num_workers = 0
    assert builder._loader_kwargs()["worker_init_fn"] is None
