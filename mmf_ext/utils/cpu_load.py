"""How many of this process's CPUs other processes keep busy: read from /proc, between two samples.

The thread policy (mmf_ext.utils.threads) chooses threads once, at start, from the CPUs the process
may use. Another job that starts later takes some of them, and then every parallel op of a long
training run waits at its barrier for a thread that shares a core with that job. Comparing the
busy time of the CPUs in the affinity mask (/proc/stat, per CPU) with this process's own CPU time
and its children's (the DataLoader workers, /proc/<pid>/stat) says how many CPUs the others hold,
without trying another thread count (which would change the trained numbers on an idle machine).
Where /proc cannot be read (not Linux), `sample` gives None and nothing adapts.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class CpuSample:
    """Counters since boot, in CPU-seconds, at monotonic time `time_s`."""

    time_s: float
    busy_s: float  # the CPUs of the affinity mask: everything but idle and iowait (steal counts: another VM ran)
    own_s: float  # this process (all its threads) and its descendants, living or ended, user + system


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


def _process_ticks(pid: int | str, proc: Path) -> int:
    """User + system time of one process (all threads) and of its ended, waited-for children; 0 if it has
    ended. A worker that ends between two samples moves from the living to its parent's children's time,
    so it is never counted as another process's load. The name may hold spaces and brackets."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return 0
    fields = text.rpartition(")")[2].split()  # fields from the state (the 3rd) on: utime is the 14th
    return sum(int(value) for value in fields[11:15]) if len(fields) > 14 else 0


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
    """CPU-seconds of the process and its descendants (DataLoader workers count as this job's)."""
    ticks, pending, seen = 0, [str(pid)], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        ticks += _process_ticks(current, proc)
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
