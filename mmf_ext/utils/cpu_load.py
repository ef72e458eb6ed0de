"""How many of this process's CPUs other processes keep busy: read from /proc, between two samples.

The thread policy (mmf_ext.utils.threads) chooses threads once, at start, from the CPUs the process
may use. Another job that starts later takes some of them, and then every parallel op of a long
training run waits at its barrier for a thread that shares a core with that job. Comparing the
busy time of the CPUs in the affinity mask (/proc/stat, per CPU) with this process's own CPU time
and that of its descendants in its process group (the DataLoader workers, /proc/<pid>/stat) says
how many CPUs the others hold, without trying another thread count (which would change the trained
numbers on an idle machine).
Where /proc cannot be read (not Linux), `sample` gives None and nothing adapts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from mmf_ext.utils.thread_pools import set_intra_op_threads

PROC = Path("/proc")


@dataclass(frozen=True)
class CpuSample:
    """Counters since boot, in CPU-seconds, at monotonic time `time_s`."""

    time_s: float
    busy_s: float  # the CPUs of the affinity mask: everything but idle and iowait (steal counts: another VM ran)
    own_s: float  # this process (all its threads) and its descendants in its process group, user + system


def _ticks_per_second() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


def busy_seconds(cpus: set[int], proc: Path = PROC) -> float | None:
    """Busy CPU-seconds of `cpus` from /proc/stat's `cpuN` lines; None when it cannot be read."""
    try:
        lines = (proc / "stat").read_text().splitlines()
    except OSError:
        return None
    ticks = 0
    found = False
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or not name[3:].isdigit() or int(name[3:]) not in cpus:
            continue
        fields = [int(value) for value in rest.split()[:8]]  # user nice system idle iowait irq softirq steal
        fields += [0] * (8 - len(fields))
        ticks += sum(fields) - fields[3] - fields[4]
        found = True
    return ticks / _ticks_per_second() if found else None


def _process_stat(pid: int | str, proc: Path) -> tuple[int, int] | None:
    """(process group, user + system time of the process and of its ended, waited-for children), or None
    if it has ended. A worker that ends between two samples moves from the living to its parent's
    children's time, so it is never counted as another process's load. The name may hold spaces and
    brackets."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # fields from the state (the 3rd) on: pgrp is the 5th, utime the 14th
    if len(fields) <= 14:
        return None
    return int(fields[2]), sum(int(value) for value in fields[11:15])


def _children(pid: int | str, proc: Path) -> list[str]:
    """The living children of every thread of `pid` (/proc/<pid>/task/<tid>/children)."""
    found: list[str] = []
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += (task / "children").read_text().split()
        except OSError:
            continue
    return found


def own_seconds(pid: int | str = "self", proc: Path = PROC) -> float:
    """CPU-seconds of the process and of its descendants in its process group: its DataLoader workers
    are this job's; a process it starts in a group of its own (a shell starts every job so; the
    benchmarks' competing load) is another job, whose time counts as the others'."""
    root = _process_stat(pid, proc)
    if root is None:
        return 0.0
    group, ticks = root
    pending, seen = _children(pid, proc), {str(pid)}
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        stat = _process_stat(current, proc)
        if stat is None or stat[0] != group:
            continue
        ticks += stat[1]
        pending += _children(current, proc)
    return ticks / _ticks_per_second()


def affinity() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def sample(cpus: set[int], proc: Path = PROC) -> CpuSample | None:
    """Now's counters, or None where /proc/stat has none of `cpus` (not Linux, or hidden)."""
    busy = busy_seconds(cpus, proc)
    if busy is None:
        return None
    return CpuSample(time.monotonic(), busy, own_seconds("self", proc))


def others_busy(before: CpuSample, after: CpuSample) -> float:
    """The CPUs other processes kept busy between two samples, on average (0 for an empty interval)."""
    elapsed = after.time_s - before.time_s
    if elapsed <= 0:
        return 0.0
    return max(0.0, (after.busy_s - before.busy_s) - (after.own_s - before.own_s)) / elapsed


def threads_beside(others: float, configured: int, cpus: int) -> int:
    """The intra-op threads to run beside `others` busy CPUs: the CPUs left, to the nearest whole one,
    at most `configured` and at least one (2 CPUs, one busy-looping process beside: 1 thread)."""
    left = int(cpus - others + 0.5)
    return max(1, min(configured, left))


class LoadFollower:
    """Intra-op threads that follow other processes' load: at most every `interval_s`, `update()` reads
    how many CPUs the others kept busy and sets torch's threads (and registered pools') to the CPUs
    left, never above `configured` (the threads when `start()` ran). A loop calls `update()` between
    its steps; nothing is tried, so an idle machine's threads, and numbers, never change."""

    def __init__(
        self,
        interval_s: float,
        cpus: set[int] | None = None,
        sampler: Callable[[set[int]], CpuSample | None] | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.cpus = cpus if cpus is not None else affinity()
        self.sampler = sampler or sample
        self.configured = torch.get_num_threads()
        self.threads = self.configured
        self.last: CpuSample | None = None
        self.started = False

    @property
    def following(self) -> bool:
        """Whether there is anything to follow: more than one configured thread and a readable /proc."""
        return self.last is not None

    def start(self) -> None:
        self.configured = self.threads = torch.get_num_threads()
        self.last = self.sampler(self.cpus) if self.configured > 1 else None  # one thread: nothing to lower
        self.started = True

    def update(self) -> float | None:
        """Set the threads for the next steps; the others' busy CPUs when the threads changed, else None."""
        if self.last is None or time.monotonic() - self.last.time_s < self.interval_s:
            return None
        now = self.sampler(self.cpus)
        if now is None:
            return None
        others = others_busy(self.last, now)
        self.last = now
        threads = threads_beside(others, self.configured, len(self.cpus))
        if threads == self.threads:
            return None
        self.threads = threads
        set_intra_op_threads(threads)
        return others

    def stop(self) -> None:
        """Back to the configured threads (what follows the loop runs at them)."""
        if torch.get_num_threads() != self.configured:
            set_intra_op_threads(self.configured)
        self.threads = self.configured

    @contextmanager
    def step(self) -> Iterator[float | None]:
        """One step of a loop that lives in its caller (a detector called once per frame): the caller's
        threads are the ceiling (a change of them starts afresh) and are restored after the step. Yields
        what `update()` returned: the others' busy CPUs when the threads changed."""
        current = torch.get_num_threads()
        if not self.started or current != self.configured:
            self.start()
        others = self.update()
        if torch.get_num_threads() != self.threads:
            set_intra_op_threads(self.threads)
        try:
            yield others
        finally:
            if torch.get_num_threads() != current:
                set_intra_op_threads(current)
