"""Intra-op threads for a chunked CPU loop, chosen by measured pace: all configured threads, or one.

Idle, splitting each operation over two cores almost doubles a loop's speed. With another busy
process on the cores it can make it many times slower: an operation's threads wait at its end for
one that was descheduled (and the waiting ones spin, keeping their core busy), which a loop of
many short, cache-sized operations pays at every step. Which one wins depends on the machine's
load at the moment, so the loop is cut into stretches of about `stretch_s`; each stretch runs at
one choice and its pace (work per second) is kept; the other choice is tried again after a number
of stretches that doubles (up to `max_wait`) every time it loses. The choice persists from call
to call, so short loops (one query's re-rank) use what longer ones learnt. Registered library
pools (mmf_ext.utils.thread_pools: FAISS's OpenMP) switch with torch's. Loops nest (a shortlist
search per query around the exact scorer's chunks): the outermost running loop chooses, and the
loops inside it run at its choice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from mmf_ext.utils.thread_pools import set_intra_op_threads


class AdaptiveThreads:
    active: AdaptiveThreads | None = None  # the outermost loop running now, of any instance

    def __init__(self, stretch_s: float = 0.01, first_wait: int = 4, max_wait: int = 256) -> None:
        self.stretch_s, self.first_wait, self.max_wait = stretch_s, first_wait, max_wait
        self.reset(torch.get_num_threads())

    def reset(self, configured: int) -> None:
        """Forget what was measured: the configured thread count changed (or a test starts afresh)."""
        self.configured = configured
        self.pace: dict[int, float] = {}  # threads -> work per second in its last stretch
        self.wait = self.first_wait  # stretches at the better choice before the other is tried again
        self.since_trial = 0
        self.threads = self.choose()  # the current stretch's choice, its work and time so far
        self.work = self.elapsed = 0.0

    def best(self) -> int:
        return self.configured if self.pace.get(self.configured, 0.0) >= self.pace.get(1, 0.0) else 1

    def choose(self) -> int:
        """The threads of the next stretch: each choice once, then the faster, the other now and then."""
        untried = [c for c in (self.configured, 1) if c not in self.pace]
        if untried:
            return untried[0]
        if self.since_trial >= self.wait:
            return 1 if self.best() == self.configured else self.configured
        return self.best()

    def record(self, threads: int, pace: float) -> None:
        """A stretch at `threads` ran at `pace`; a trial of the other choice that loses doubles the wait."""
        known = len(self.pace) == 2
        trial = known and threads != self.best()
        self.pace[threads] = pace
        if trial:
            self.wait = self.first_wait if threads == self.best() else min(2 * self.wait, self.max_wait)
        self.since_trial = self.since_trial + 1 if known and not trial else 0

    @contextmanager
    def run(self, enabled: bool = True) -> Iterator[Callable[[float], None]]:
        """Yields `done(work)`, to call after each chunk with its size; the threads are restored on exit.

        A stretch carries over to the next call (only time inside calls counts), so that loops
        shorter than a stretch still learn. Disabled (e.g. for a loop on a GPU), with one
        configured thread, or inside another loop's run (of any instance), `done` does nothing.
        """
        configured = torch.get_num_threads()
        if not enabled or configured == 1 or AdaptiveThreads.active is not None:
            yield lambda work: None
            return
        if configured != self.configured:
            self.reset(configured)
        AdaptiveThreads.active = self
        set_intra_op_threads(self.threads)
        start = time.perf_counter() - self.elapsed

        def done(work: float) -> None:
            nonlocal start
            self.work += work
            self.elapsed = time.perf_counter() - start
            if self.elapsed < self.stretch_s:
                return
            self.record(self.threads, self.work / self.elapsed)
            threads = self.choose()
            if threads != self.threads:
                set_intra_op_threads(threads)
            self.threads, self.work, self.elapsed = threads, 0.0, 0.0
            start = time.perf_counter()

        try:
            yield done
        finally:
            AdaptiveThreads.active = None
            set_intra_op_threads(configured)
