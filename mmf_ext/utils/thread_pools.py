"""The process's intra-op thread pools, set together: torch's, and those of libraries with their own.

A library that bundles its own OpenMP runtime (faiss-cpu ships a libgomp of its own) keeps its own
thread count, which torch.set_num_threads does not reach: at its default (every CPU) its parallel
searches oversubscribe a busy machine exactly as torch's pool would. Such a library registers a
setter here, and the thread policy and the adaptive chunk loops set it with torch's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

_POOLS: dict[str, Callable[[int], None]] = {}


def register_thread_pool(name: str, set_threads: Callable[[int], None]) -> None:
    """Add a pool, set at once to torch's current thread count; registering a name again replaces its setter."""
    _POOLS[name] = set_threads
    set_threads(torch.get_num_threads())


def registered_pools() -> tuple[str, ...]:
    return tuple(_POOLS)


def set_intra_op_threads(threads: int) -> None:
    """torch's intra-op threads and every registered pool's, to `threads`."""
    torch.set_num_threads(threads)
    for set_threads in _POOLS.values():
        set_threads(threads)
