"""Shared helpers for benchmarks: timing with warm-up, a JSON last line, untrained models of the defaults,
the threads a training run's steps get (`TrainingThreads`), and `run_contended`: a benchmark measured
idle, then beside a bounded competing CPU load.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any, TextIO

import torch
from omegaconf import OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.trainers.callbacks.threads import INTERVAL_S
from mmf_ext.utils.build import build_model
from mmf_ext.utils.configuration import load_yaml
from mmf_ext.utils.cpu_load import LoadFollower

TREES = {32: [2, 2, 2, 2, 2], 16: [2, 2, 2, 2], 8: [2, 2, 2]}  # fusion trees with that many leaves


def tree_of(leaves: int) -> list[int]:
    """Branch counts of a binary fusion tree with `leaves` leaves (one node of `leaves` branches otherwise)."""
    return TREES.get(leaves, [leaves])


def untrained_asymnet(overrides: dict[str, Any] | None = None) -> torch.nn.Module:
    """An untrained AsymNet of its default config with `overrides` (model_config.asymnet keys), by build_model."""
    defaults = load_yaml(registry.get_model_class("asymnet").config_path())
    return build_model(OmegaConf.merge(defaults, {"model": "asymnet", "model_config": {"asymnet": overrides or {}}}))


def timed(function: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> float:
    """Median seconds of `repeats` calls after `warmup` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


class TrainingThreads:
    """A training step's threads as `mmf_run` gives them: on the CPU its steps follow other processes'
    load (training.load_aware_threads, default true: mmf_ext.trainers.callbacks.threads), read every
    INTERVAL_S. With `follow` false the steps keep the configured threads, as with
    training.load_aware_threads=false (the benchmarks' --fixed-threads).
    """

    def __init__(self, follow: bool, follower: LoadFollower | None = None) -> None:
        self.follower = (follower or LoadFollower(INTERVAL_S)) if follow else None
        self.fewest = torch.get_num_threads()  # the fewest threads a timed step ran at

    def settle(self, step: Callable[[], Any]) -> None:
        """Steps for one interval, then one reading of the load: the threads a run has after its first seconds."""
        if self.follower is None:
            return
        self.follower.start()
        if not self.follower.following:
            return
        end = time.monotonic() + self.follower.interval_s
        while time.monotonic() < end:
            step()
        self.follower.update()

    def around(self, step: Callable[[], Any]) -> Callable[[], None]:
        """`step` as the trainer runs it: the threads follow the load between steps."""

        def run() -> None:
            if self.follower is not None:
                self.follower.update()
            self.fewest = min(self.fewest, torch.get_num_threads())
            step()

        return run

    def stop(self) -> None:
        if self.follower is not None:
            self.follower.stop()

    def result(self) -> dict[str, Any]:
        return {"follows_load": self.follower is not None, "fewest_step_threads": self.fewest}


def print_result(result: dict[str, Any]) -> None:
    result = {"torch_threads": torch.get_num_threads(), **result}
    print(json.dumps(result))


# -- measured under load ---------------------------------------------------------------------------
# The competing load: busy on one CPU until its own deadline, or until its parent is gone.
BUSY_LOOP = """
import os, sys, time
end, parent = time.monotonic() + float(sys.argv[1]), os.getppid()
print("busy", flush=True)
while time.monotonic() < end and os.getppid() == parent:
    for _ in range(100_000):
        pass
"""


def end_process(child: subprocess.Popen) -> None:
    """End a child by its PID: SIGTERM, then SIGKILL when it has not gone within 5 s; always reaped."""
    if child.poll() is None:
        os.kill(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
    if child.stdout is not None:
        child.stdout.close()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a live process has used (Linux /proc); None where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def competing_load(seconds: float) -> Iterator[subprocess.Popen]:
    """One child process busy on a CPU for at most `seconds` (its own deadline); ended by PID when the block ends."""
    # in a process group of its own, as a shell starts another job: the training and detection threads that
    # follow the load (mmf_ext.utils.cpu_load) count the benchmark's own group only as theirs. In the same
    # session, though: Linux's autogroup scheduler shares the CPUs between sessions first, so a new session
    # would be another, harsher load than the one the earlier figures were measured beside
    child = subprocess.Popen(
        [sys.executable, "-c", BUSY_LOOP, str(seconds)], stdout=subprocess.PIPE, text=True, preexec_fn=os.setpgrp
    )
    try:
        child.stdout.readline()  # busy from here on
        yield child
    finally:
        end_process(child)


class _HoldLastLine(io.TextIOBase):
    """Passes a benchmark's output through as it comes, except its last line (its JSON), kept in `last`."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.pending, self.last = out, "", None

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if self.last is not None:
                self.out.write(self.last + "\n")
            self.last = line
        return len(text)

    def flush(self) -> None:
        self.out.flush()

    def result(self) -> dict[str, Any]:
        last = self.pending if self.pending.strip() else self.last
        try:
            return json.loads(last or "")
        except json.JSONDecodeError:
            raise RuntimeError(f"the benchmark's last output line is not JSON: {last!r}") from None


def _measure(run: Callable[[], int], out: TextIO) -> tuple[int, dict[str, Any], float]:
    held = _HoldLastLine(out)
    start = time.perf_counter()
    with redirect_stdout(held):
        status = int(run() or 0)
    if status and held.last is not None:  # a failed run's last line is its message, not JSON
        out.write(held.last + "\n" + held.pending)
    return status, (held.result() if status == 0 else {}), time.perf_counter() - start


def _numbers(result: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric figures of a result, nested keys joined with dots (a list's rows by their index)."""
    found: dict[str, float] = {}
    items = result.items() if isinstance(result, dict) else enumerate(result)
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, (dict, list)):
            found.update(_numbers(value, name + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found[name] = float(value)
    return found


def _figure(value: float) -> str:
    """Large figures with thousands separators, small ones with 4 significant digits."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def ratios(idle: dict[str, Any], loaded: dict[str, Any]) -> dict[str, float]:
    """loaded / idle for every figure that differs between the two runs (settings such as sizes are equal)."""
    before, after = _numbers(idle), _numbers(loaded)
    return {
        key: round(after[key] / value, 3)
        for key, value in before.items()
        if key in after and after[key] != value and value != 0
    }


def run_contended(run: Callable[[], int], out: TextIO | None = None) -> int:
    """Run a benchmark (`run`: its main, last stdout line JSON) idle, then beside one busy process.

    Prints both runs' output, then idle and loaded figures side by side with loaded/idle, and a JSON
    last line with both results and the ratios. The load's own deadline is generous (the loaded run
    may be many times slower), and the load is ended by PID as soon as the loaded run ends or raises.
    """
    out = out if out is not None else sys.stdout
    print("== idle ==", file=out)
    status, idle, idle_s = _measure(run, out)
    if status:
        return status
    deadline = 60.0 + 20.0 * idle_s
    with competing_load(deadline) as child:
        print(f"== loaded: beside one busy process (pid {child.pid}, at most {deadline:.0f} s) ==", file=out)
        status, loaded, loaded_s = _measure(run, out)
        load_cpu = cpu_seconds(child.pid)
    if status:
        return status
    table = ratios(idle, loaded)
    flat_idle, flat_loaded = _numbers(idle), _numbers(loaded)
    width = max([len("figure"), *map(len, table)])
    print(f"{'figure':<{width}}  {'idle':>14}  {'loaded':>14}  loaded/idle", file=out)
    for key, ratio in table.items():
        idle_text, loaded_text = _figure(flat_idle[key]), _figure(flat_loaded[key])
        print(f"{key:<{width}}  {idle_text:>14}  {loaded_text:>14}  {ratio:>11.3f}", file=out)
    busy = f"{load_cpu:.1f} CPU-s" if load_cpu is not None else "its CPU time unknown"
    print(f"idle run {idle_s:.1f} s, loaded run {loaded_s:.1f} s; the competing process used {busy}", file=out)
    result = {
        "benchmark": idle.get("benchmark"),
        "contended": True,
        "idle": idle,
        "loaded": loaded,
        "ratio": table,
        "idle_s": round(idle_s, 2),
        "loaded_s": round(loaded_s, 2),
        "load_processes": 1,
        "load_cpu_s": None if load_cpu is None else round(load_cpu, 2),
        "load_covered_run": loaded_s <= deadline,
    }
    print(json.dumps(result), file=out)
    return 0
