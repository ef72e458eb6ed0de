"""The CPU thread policy: how many threads torch and the DataLoader workers use.

torch starts one intra-op thread per CPU it sees and ignores the cgroup CPU quota, and every
parallel op waits at a barrier for all of its threads. When the threads outnumber the CPUs this
process really gets (a quota, DataLoader workers beside the model, other jobs on the machine), the
barriers wait on descheduled threads and throughput collapses. So threads are chosen here, once, from
the CPUs the process may use: its affinity mask and its cgroup quota (v2 `cpu.max`, v1
`cpu.cfs_quota_us` / `cpu.cfs_period_us`), shared by the processes of one node.

Precedence: OMP_NUM_THREADS (then MKL_NUM_THREADS) when the user set it, then `training.cpu_threads`,
then the automatic choice. DataLoader workers always run one torch thread (`worker_init`), and take
from the model the CPUs they keep busy: one each, unless the dataset says its items are cheaper to
serve (BaseDatasetBuilder.worker_cpu_share, e.g. read from a cache of decoded frames).
Chunked CPU loops choose between these threads and one by measured pace: mmf_ext.utils.adaptive_threads.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from mmf_ext.utils.cpu_kernels import describe_cpu_kernels
from mmf_ext.utils.errors import ConfigError, UserError
from mmf_ext.utils.thread_pools import set_intra_op_threads

logger = logging.getLogger("mmf_ext")

ENV_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # the user's word on intra-op threads, in this order
WORKER_THREADS = 1  # torch threads per DataLoader worker: workers run side by side, one per CPU
INTER_OP_THREADS = 1  # nothing here forks inter-op work (torch.jit.fork); one thread keeps the pool idle
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


@dataclass(frozen=True)
class CpuBudget:
    """The CPUs this process may use: its affinity mask and its cgroup quota (in CPUs; None: no quota)."""

    affinity: int
    quota: float | None

    @property
    def usable(self) -> int:
        """The affinity, capped by the quota rounded down (a 1.5-CPU quota runs one thread at full speed)."""
        if self.quota is None:
            return self.affinity
        return max(1, min(self.affinity, math.floor(self.quota)))

    def describe(self) -> str:
        quota = "none" if self.quota is None else f"{self.quota:g} CPUs"
        return f"{self.usable} CPUs usable: affinity {self.affinity}, cgroup quota {quota}"


@dataclass(frozen=True)
class ThreadPlan:
    """The threads chosen, and why (`source`: auto, training.cpu_threads=N or the environment variable)."""

    intra_op: int
    inter_op: int
    workers: int
    worker_threads: int
    budget: CpuBudget
    source: str
    worker_cpu_share: float = 1.0  # the share of a CPU each worker keeps busy (the dataset's word)

    def describe(self) -> str:
        why = "" if self.source == "auto" else f" ({self.source})"
        share = "" if self.worker_cpu_share == 1.0 or not self.workers else f", ~{self.worker_cpu_share:g} CPU each"
        return (
            f"CPU threads: {self.intra_op} intra-op{why}, {self.inter_op} inter-op; "
            f"{self.workers} DataLoader workers x {self.worker_threads} thread{share} ({self.budget.describe()})"
        )


# -- what the process may use ------------------------------------------------------------------
def affinity_cpus() -> int:
    """CPUs in this process's affinity mask (taskset, cpuset); os.cpu_count() where there is no mask."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _quota_v2(folder: Path) -> float | None:
    """`cpu.max` holds `QUOTA PERIOD` in microseconds, or `max PERIOD` for no limit."""
    text = _read(folder / "cpu.max")
    if not text:
        return None
    fields = text.split()
    if len(fields) != 2 or not fields[0].isdigit() or not fields[1].isdigit() or int(fields[1]) == 0:
        return None  # `max`: no limit (anything unreadable is treated alike)
    return int(fields[0]) / int(fields[1])


def _quota_v1(folder: Path) -> float | None:
    """`cpu.cfs_quota_us` (-1: no limit) over `cpu.cfs_period_us`."""
    quota, period = _read(folder / "cpu.cfs_quota_us") or "", _read(folder / "cpu.cfs_period_us") or ""
    if not quota.isdigit() or not period.isdigit() or int(quota) == 0 or int(period) == 0:
        return None  # -1: no limit (anything unreadable is treated alike)
    return int(quota) / int(period)


def _with_ancestors(mount: Path, relative: str) -> list[Path]:
    """The process's cgroup folder and every folder above it up to the mount (each level's limit applies)."""
    folder = mount / relative.strip("/") if relative.strip("/") else mount
    folders = [folder, *[p for p in folder.parents if p == mount or mount in p.parents]]
    return folders if folder.is_dir() else [mount]  # a container shows its own cgroup at the mount


def cgroup_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The tightest CPU quota (in CPUs) of this process's cgroup and its ancestors, v2 or v1; None: none."""
    text = _read(proc_cgroup) or ""
    quotas: list[float] = []
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, relative = rest.partition(":")
        if hierarchy == "0" and controllers == "":  # cgroup v2 (unified)
            mount, reader = (root / "unified" if (root / "unified").is_dir() else root), _quota_v2
        elif "cpu" in controllers.split(","):  # cgroup v1, mounted as cpu, cpu,cpuacct or cpuacct,cpu
            mount = next((root / name for name in (controllers, "cpu", "cpu,cpuacct") if (root / name).is_dir()), None)
            reader = _quota_v1
            if mount is None:
                continue
        else:
            continue
        quotas += [q for q in (reader(folder) for folder in _with_ancestors(mount, relative)) if q is not None]
    return min(quotas) if quotas else None


def cpu_budget() -> CpuBudget:
    return CpuBudget(affinity_cpus(), cgroup_quota())


# -- the choice ----------------------------------------------------------------------------------
def check_cpu_threads(value: Any, key: str = "training.cpu_threads") -> int | None:
    """null (automatic) or a whole number of threads >= 1; anything else is a one-line ConfigError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{key}={value!r}: give a whole number of intra-op threads >= 1, or null for the automatic choice"
        )
    return int(value)


def environment_threads(environ: Mapping[str, str]) -> tuple[str, int] | None:
    """The first of OMP_NUM_THREADS, MKL_NUM_THREADS the user set, with its thread count (OpenMP's `4,2`: 4)."""
    for name in ENV_VARIABLES:
        text = environ.get(name, "").strip()
        if not text:
            continue
        head = text.split(",")[0].strip()
        if not head.isdigit() or int(head) < 1:
            raise UserError(
                f"{name}={text!r}: give a whole number of threads >= 1, or unset it for the automatic choice"
            )
        return name, int(head)
    return None


def check_worker_cpu_share(value: Any) -> float:
    """A dataset's worker_cpu_share: a number in [0, 1]; anything else is a programming error, said in one line."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"worker_cpu_share={value!r}: a dataset builder must give a share of one CPU in [0, 1]")
    return float(value)


def worker_cpus(workers: int, worker_cpu_share: float = 1.0) -> int:
    """The CPUs `workers` DataLoader workers keep busy, to the nearest whole CPU (ten at 0.05 each: one; two: none)."""
    return int(max(0, workers) * check_worker_cpu_share(worker_cpu_share) + 0.5)


def auto_intra_op(usable: int, workers: int, processes: int, worker_cpu_share: float = 1.0) -> int:
    """One process's share of the usable CPUs less the CPUs its DataLoader workers keep busy, at least one.

    Workers that decode and augment beside the model take a CPU each; intra-op threads beyond the
    CPUs left to the model wait at every barrier for a thread that was descheduled (measured:
    docs/coming_from_mmf.md#cpu-threads). Workers that read prepared items take almost none, and
    leaving them a CPU would idle it (measured there too).
    """
    share = max(1, usable // max(1, processes))
    return max(1, share - worker_cpus(workers, worker_cpu_share))


def thread_plan(
    cpu_threads: int | None = None,
    num_workers: int = 0,
    processes: int = 1,
    budget: CpuBudget | None = None,
    environ: Mapping[str, str] | None = None,
    worker_cpu_share: float = 1.0,
) -> ThreadPlan:
    """The threads for one process of `processes` on this node, with `num_workers` DataLoader workers
    that each keep `worker_cpu_share` of a CPU busy."""
    budget = budget if budget is not None else cpu_budget()
    share = check_worker_cpu_share(worker_cpu_share)
    forced = check_cpu_threads(cpu_threads)
    from_env = environment_threads(os.environ if environ is None else environ)
    if from_env is not None:
        name, count = from_env
        wins = " over training.cpu_threads" if forced is not None else ""
        intra, source = count, f"{name}={count} set in the environment: it wins{wins}"
    elif forced is not None:
        intra, source = forced, f"training.cpu_threads={forced}"
    else:
        intra, source = auto_intra_op(budget.usable, num_workers, processes, share), "auto"
    return ThreadPlan(intra, INTER_OP_THREADS, int(num_workers), WORKER_THREADS, budget, source, share)


def apply_thread_plan(plan: ThreadPlan) -> ThreadPlan:
    """Set torch's pools to the plan; returns the plan as applied (the inter-op pool is fixed once started)."""
    set_intra_op_threads(plan.intra_op)  # torch's pool and any library's own (mmf_ext.utils.thread_pools)
    if torch.get_num_interop_threads() != plan.inter_op:
        with contextlib.suppress(RuntimeError):  # set once per process, before inter-op work: keep what runs
            torch.set_num_interop_threads(plan.inter_op)
    return replace(plan, intra_op=torch.get_num_threads(), inter_op=torch.get_num_interop_threads())


def apply_thread_policy(
    cpu_threads: int | None = None,
    num_workers: int = 0,
    processes: int = 1,
    log: bool = True,
    worker_cpu_share: float = 1.0,
) -> ThreadPlan:
    """Choose and set this process's threads, logging the choice in one line: the one entry for every command."""
    plan = apply_thread_plan(thread_plan(cpu_threads, num_workers, processes, worker_cpu_share=worker_cpu_share))
    if log:
        logger.info(plan.describe())
        logger.info(describe_cpu_kernels())
    return plan


def worker_init(worker_id: int, rank: int = 0) -> None:
    """A DataLoader worker's start: one torch thread, then Lightning's seeding when the run is seeded.

    OpenCV's pool is left alone: `cv2.setNumThreads` in a forked worker whose parent had started
    that pool (a run that generated its synthetic dataset first) hung in pthread_cond_destroy, and
    the workers' OpenCV calls (resizing crops) are small.

    The framework's loaders install this, which stops Lightning from adding its own seeding
    worker_init_fn, so that seeding is called here (as Lightning would: PL_SEED_WORKERS).
    """
    torch.set_num_threads(WORKER_THREADS)
    if int(os.environ.get("PL_SEED_WORKERS", "0") or 0):
        from lightning.fabric.utilities.seed import pl_worker_init_function  # noqa: PLC0415  (only when seeded)

        pl_worker_init_function(worker_id, rank)
