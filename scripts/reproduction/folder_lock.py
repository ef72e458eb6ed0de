"""One reproduce run per --out folder: two would each rewrite results.json whole and lose the other's rows."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mmf_ext.utils.errors import UserError

LOCK_NAME = ".reproduce.lock"


@contextmanager
def measuring_in(out: Path) -> Iterator[None]:
    """Hold `out` for this process (an flock: the kernel releases it when the process ends, however it ends)."""
    path = out / LOCK_NAME
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UserError(
                f"--out {out}: another reproduce.py ({holder}) is measuring there and would overwrite this run's "
                "results.json; wait for it to end or give another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
