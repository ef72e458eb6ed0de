"""The chunk loop's thread choice follows the measured pace, tries the loser less and less, and restores threads."""

import pytest
import torch

from mmf_ext.utils import adaptive_threads
from mmf_ext.utils.adaptive_threads import AdaptiveThreads


def test_each_choice_is_tried_then_the_faster_runs_and_a_losing_trial_doubles_the_wait():
    chooser = AdaptiveThreads(first_wait=2, max_wait=4)
    chooser.reset(2)
    seen = []
    paces = {2: 100.0, 1: 60.0}
    for _ in range(16):
        threads = chooser.choose()
        seen.append(threads)
        chooser.record(threads, paces[threads])
    # both once, then trials of the slower choice after 2, 4 and 4 (the cap) stretches at the faster
    assert seen == [2, 1, 2, 2, 1, 2, 2, 2, 2, 1, 2, 2, 2, 2, 1, 2]


def test_the_faster_choice_by_the_latest_paces_runs():
    chooser = AdaptiveThreads(first_wait=2)
    chooser.reset(2)
    for threads, pace in ((2, 100.0), (1, 60.0), (2, 100.0), (2, 100.0)):
        assert chooser.choose() == threads
        chooser.record(threads, pace)
    assert chooser.choose() == 1  # a trial
    chooser.record(1, 120.0)  # wins: one thread is now faster
    assert [chooser.choose() for _ in range(2)] == [1, 1] and chooser.wait == 2
    chooser.record(1, 20.0)  # the machine got busier still: two threads' last pace is better again
    assert chooser.choose() == 2


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_loop_moves_to_one_thread_when_it_is_faster_and_the_threads_are_restored(monkeypatch, two_threads):
    clock = FakeClock()
    monkeypatch.setattr(adaptive_threads.time, "perf_counter", clock)
    chooser = AdaptiveThreads(stretch_s=1.0, first_wait=4)
    seconds_per_chunk = {2: 0.5, 1: 0.25}  # busy machine: one thread runs twice as fast
    used = []
    for _ in range(3):  # stretches carry over from call to call
        with chooser.run() as done:
            for _ in range(20):
                threads = torch.get_num_threads()
                used.append(threads)
                clock.now += seconds_per_chunk[threads]
                done(1)
        assert torch.get_num_threads() == 2
    assert used.count(1) > 0.8 * len(used)
    assert chooser.pace == {2: pytest.approx(2.0), 1: pytest.approx(4.0)}


def test_a_new_thread_count_starts_afresh(two_threads):
    chooser = AdaptiveThreads(stretch_s=0.0)
    with chooser.run() as done:
        done(1)
        done(1)
    assert set(chooser.pace) == {2, 1}
    torch.set_num_threads(3)
    with chooser.run() as done:
        assert torch.get_num_threads() == 3
        done(1)
    assert set(chooser.pace) == {3} and torch.get_num_threads() == 3


def test_disabled_or_single_threaded_loops_are_left_alone(two_threads):
    chooser = AdaptiveThreads(stretch_s=0.0)
    with chooser.run(enabled=False) as done:
        done(1)
        assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    with chooser.run() as done:
        done(1)
    assert chooser.pace == {} and torch.get_num_threads() == 1


def test_a_loop_inside_another_runs_at_the_outer_loops_choice(two_threads):
    outer, inner = AdaptiveThreads(stretch_s=0.0), AdaptiveThreads(stretch_s=0.0)
    with outer.run() as done_outer:
        assert torch.get_num_threads() == 2
        done_outer(1)  # the outer loop now tries one thread
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)  # as if the outer loop had chosen two: the inner one still leaves it alone
        with inner.run() as done_inner:
            done_inner(1)
            done_inner(1)
            assert torch.get_num_threads() == 2
    assert inner.pace == {} and torch.get_num_threads() == 2
    with inner.run() as done_inner:  # alone, it chooses again
        done_inner(1)
    assert set(inner.pace) == {2}


def test_registered_library_pools_switch_with_torchs(monkeypatch, two_threads):
    from mmf_ext.utils import thread_pools

    monkeypatch.setattr(thread_pools, "_POOLS", {})
    seen = []
    thread_pools.register_thread_pool("library", seen.append)
    assert seen == [2] and thread_pools.registered_pools() == ("library",)  # set at once to torch's count
    chooser = AdaptiveThreads(stretch_s=0.0)
    with chooser.run() as done:
        done(1)
    assert seen == [2, 2, 1, 2]  # the loop's first choice, its trial of one thread, restored at the end
