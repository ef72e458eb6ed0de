"""Other processes' CPU use, read from /proc: the affinity's CPUs less this process tree's own time."""

import subprocess
import sys

import pytest
import torch

from mmf_ext.utils import cpu_load
from mmf_ext.utils.cpu_load import CpuSample


def _fake_proc(root, cpu_ticks: dict[int, tuple[int, ...]], processes: dict[str, tuple[int, int, int, list[str]]]):
    """A /proc with `cpuN` lines and processes (utime, stime, cutime, children); `self` is a name like any."""
    lines = ["cpu  1 2 3 4 5 6 7 8 0 0"]  # the total line is not read
    lines += [f"cpu{n} " + " ".join(str(t) for t in ticks) for n, ticks in cpu_ticks.items()]
    lines.append("intr 1 2 3")
    (root / "stat").write_text("\n".join(lines) + "\n")
    for pid, (utime, stime, cutime, children) in processes.items():
        folder = root / pid
        (folder / "task" / "1").mkdir(parents=True)
        # a name with a space and a bracket; utime and stime are the 14th and 15th fields
        group = 9 if pid == "stranger" else 1  # another job's process group
        (folder / "stat").write_text(
            f"{pid} (pt worker) x) S 1 {group} 1 0 -1 0 0 0 0 0 {utime} {stime} {cutime} 0 20 0\n"
        )
        (folder / "task" / "1" / "children").write_text(" ".join(children))
    return root


def test_busy_seconds_count_the_affinity_cpus_less_idle_and_iowait(tmp_path):
    # user nice system idle iowait irq softirq steal guest guest_nice; 100 ticks a second
    proc = _fake_proc(tmp_path, {0: (100, 0, 50, 900, 40, 5, 5, 10, 0, 0), 1: (300, 0, 0, 0, 0, 0, 0, 0, 0, 0)}, {})
    assert cpu_load.busy_seconds({0}, proc) == pytest.approx(1.70)
    assert cpu_load.busy_seconds({0, 1}, proc) == pytest.approx(4.70)
    assert cpu_load.busy_seconds({5}, proc) is None  # none of the CPUs listed: nothing to adapt to


def test_own_seconds_add_the_group_s_living_children_once_and_the_ended_ones(tmp_path):
    processes = {
        "self": (100, 50, 40, ["7", "8", "stranger"]),
        "7": (30, 20, 0, ["9"]),
        "8": (10, 0, 0, ["7"]),
        "9": (5, 5, 0, []),
        "stranger": (500, 0, 0, []),  # a child in a process group of its own: another job
    }
    proc = _fake_proc(tmp_path, {0: (0,) * 10}, processes)
    assert cpu_load.own_seconds("self", proc) == pytest.approx(2.60)  # 7 is listed twice, counted once


def test_others_busy_is_the_busy_time_not_ours_per_second_and_sets_the_threads():
    before = CpuSample(time_s=10.0, busy_s=100.0, own_s=40.0)
    after = CpuSample(time_s=15.0, busy_s=110.0, own_s=45.0)  # 10 CPU-s busy in 5 s, 5 of them ours
    assert cpu_load.others_busy(before, after) == pytest.approx(1.0)
    assert cpu_load.others_busy(before, before) == 0.0
    assert cpu_load.threads_beside(1.0, configured=2, cpus=2) == 1
    assert cpu_load.threads_beside(0.4, configured=2, cpus=2) == 2  # less than half a CPU: noise, not a job
    assert cpu_load.threads_beside(2.0, configured=2, cpus=2) == 1  # never none
    assert cpu_load.threads_beside(1.0, configured=4, cpus=16) == 4  # never above the configured
    assert cpu_load.threads_beside(13.0, configured=8, cpus=16) == 3


# A child that has used 0.3 s of CPU when it says so, then keeps busy to 1 s: the test waits for its word, not for
# a wall-clock time, so a loaded machine (CI beside other jobs) cannot leave the child unscheduled when sampled.
BUSY_CHILD = (
    "import time\n"
    "def burn(until):\n"
    "    while time.process_time() < until: pass\n"
    "burn(0.3)\n"
    "print('busy', flush=True)\n"
    "burn(1.0)\n"
)


def busy_child(**popen_options) -> subprocess.Popen:
    """Start BUSY_CHILD and return once it has used 0.3 s of CPU."""
    child = subprocess.Popen([sys.executable, "-c", BUSY_CHILD], stdout=subprocess.PIPE, text=True, **popen_options)
    assert child.stdout is not None and child.stdout.readline() == "busy\n"
    child.stdout.close()  # it writes nothing more
    return child


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc")
def test_a_busy_child_is_ours_living_or_ended_unless_it_is_another_job():
    cpus = cpu_load.affinity()
    before = cpu_load.sample(cpus)
    child = busy_child()
    alive = cpu_load.sample(cpus)  # the child is running: its time so far counts as ours
    child.wait()
    ended = cpu_load.sample(cpus)  # ended and waited for: its whole time is in our children's time
    assert before is not None and alive is not None and ended is not None
    assert alive.own_s - before.own_s >= 0.2  # this process waits: the child's 0.3 s, most of it
    assert ended.own_s - before.own_s >= 1.0
    other_job = busy_child(start_new_session=True)
    beside = cpu_load.sample(cpus)
    other_job.wait()
    assert beside is not None and beside.own_s - ended.own_s < 0.2  # started in its own group: not ours


def test_a_step_runs_at_the_threads_the_load_leaves_and_gives_the_callers_back(monkeypatch, two_threads):
    clock = {"time": 0.0, "busy": 0.0}
    follower = cpu_load.LoadFollower(
        interval_s=1.0, cpus={0, 1}, sampler=lambda cpus: CpuSample(clock["time"], clock["busy"], 0.0)
    )
    monkeypatch.setattr("mmf_ext.utils.cpu_load.time.monotonic", lambda: clock["time"])
    inside = []
    for others in (0.0, 1.0, 1.0, 0.0):  # CPUs other processes keep busy over each second
        clock["time"] += 1.0
        clock["busy"] += others
        with follower.step() as changed:
            inside.append((torch.get_num_threads(), changed))
        assert torch.get_num_threads() == 2  # the caller's threads, after every step
    assert inside == [(2, None), (1, 1.0), (1, None), (2, 0.0)]
    torch.set_num_threads(1)  # the caller lowered its threads: the ceiling follows
    with follower.step():
        assert torch.get_num_threads() == 1 and not follower.following
