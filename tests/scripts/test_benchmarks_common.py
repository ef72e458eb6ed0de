"""benchmarks.common's contended runs: the competing process starts busy, always ends, and both figures are reported."""

import io
import json
import os
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from benchmarks import common  # noqa: E402  (scripts/ is not a package on the path)


def children() -> set[int]:
    """This process's live child processes (Linux)."""
    pid = os.getpid()
    return {int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()}


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_competing_process_is_busy_and_ended_by_pid_when_the_block_ends():
    before = children()
    with common.competing_load(60) as child:
        assert child.pid in children() - before
        start = common.cpu_seconds(child.pid)
        deadline = time.monotonic() + 30  # on a loaded machine its first CPU tick can take a while
        while common.cpu_seconds(child.pid) <= start and time.monotonic() < deadline:
            time.sleep(0.05)
        assert common.cpu_seconds(child.pid) > start  # it spins
    assert child.returncode is not None and gone(child.pid)


def test_the_competing_process_is_ended_when_the_measurement_raises():
    with pytest.raises(KeyError), common.competing_load(60) as child:
        raise KeyError("the measurement broke")
    assert child.returncode is not None and gone(child.pid)


def test_the_competing_process_stops_by_itself_at_its_deadline():
    child = subprocess.Popen([sys.executable, "-c", common.BUSY_LOOP, "0.3"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.wait(timeout=30) == 0
    finally:
        common.end_process(child)


class FakeBenchmark:
    """A benchmark main: prints a line and its JSON; half the rate when another process of ours is running."""

    def __init__(self, fail_loaded: bool = False) -> None:
        self.seen: list[set[int]] = []
        self.fail_loaded = fail_loaded
        self.before = children()  # children of other tests, if any, are not this run's load

    def __call__(self) -> int:
        self.seen.append(children() - self.before)
        loaded = bool(self.seen[-1])
        if loaded and self.fail_loaded:
            raise RuntimeError("the measurement broke")
        print(f"measured {'under load' if loaded else 'idle'}")
        print(json.dumps({"benchmark": "fake", "size": 10, "rate": 50.0 if loaded else 100.0, "rows": [{"ms": 2}]}))
        return 0


def test_run_contended_measures_idle_then_loaded_and_ends_with_both_and_their_ratio():
    fake, out = FakeBenchmark(), io.StringIO()
    assert common.run_contended(fake, out) == 0
    (busy,) = fake.seen[1]
    assert fake.seen[0] == set() and gone(busy)  # the load ran only during the second measurement
    lines = out.getvalue().splitlines()
    result = json.loads(lines[-1])
    assert result["idle"]["rate"] == 100.0 and result["loaded"]["rate"] == 50.0
    assert result["ratio"] == {"rate": 0.5}  # equal settings (size, rows.0.ms) are no figures to compare
    assert result["load_processes"] == 1 and result["load_covered_run"] is True and result["load_cpu_s"] >= 0
    assert "measured idle" in lines and "measured under load" in lines
    assert sum(line.startswith("{") for line in lines) == 1  # the runs' own JSON lines are held back
    (row,) = [line for line in lines if line.startswith("rate ")]
    assert row.split() == ["rate", "100", "50", "0.500"]


def test_run_contended_ends_the_load_when_the_loaded_measurement_raises():
    fake = FakeBenchmark(fail_loaded=True)
    with pytest.raises(RuntimeError, match="the measurement broke"):
        common.run_contended(fake, io.StringIO())
    (busy,) = fake.seen[1]
    assert gone(busy) and children() <= fake.before


def test_ratios_compare_nested_figures_that_differ():
    idle = {"a": 2, "rows": [{"p50_ms": 4.0}], "flag": True, "name": "x"}
    loaded = {"a": 2, "rows": [{"p50_ms": 6.0}], "flag": False, "name": "x"}
    assert common.ratios(idle, loaded) == {"rows.0.p50_ms": 1.5}


def test_training_threads_settle_on_the_cpus_the_load_leaves_and_are_restored(monkeypatch, two_threads):
    from mmf_ext.utils.cpu_load import CpuSample, LoadFollower

    clock = {"time": 0.0, "busy": 0.0}  # one other process keeps one of the two CPUs busy
    monkeypatch.setattr("mmf_ext.utils.cpu_load.time.monotonic", lambda: clock["time"])
    monkeypatch.setattr(common.time, "monotonic", lambda: clock["time"])
    follower = LoadFollower(1.0, {0, 1}, sampler=lambda cpus: CpuSample(clock["time"], clock["busy"], 0.0))

    def step():
        clock["time"] += 0.25
        clock["busy"] += 0.25
        seen.append(torch.get_num_threads())

    seen = []
    threads = common.TrainingThreads(follow=True, follower=follower)
    threads.settle(step)  # untimed steps for one interval, at the configured 2
    assert seen == [2, 2, 2, 2] and threads.fewest == 2
    threads.around(step)()
    assert seen[-1] == 1 and threads.result() == {"follows_load": True, "fewest_step_threads": 1}
    threads.stop()
    assert torch.get_num_threads() == 2


def test_fixed_training_threads_never_change(two_threads):
    threads = common.TrainingThreads(follow=False)
    threads.settle(lambda: pytest.fail("fixed threads need no settling"))
    threads.around(lambda: None)()
    assert threads.result() == {"follows_load": False, "fewest_step_threads": 2}
