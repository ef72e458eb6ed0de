"""Decoder chatter (ffmpeg, decord, OpenCV log lines) kept off the user's terminal.

ffmpeg's av_log, decord's dmlc LOG lines and OpenCV's FFmpeg backend write to file descriptor 2
from C++, past Python's sys.stderr, some of them from decoder threads. decord's and OpenCV's
log-level settings reach only part of them (decord.logging.set_level covers ffmpeg, not decord's
own `filter_graph.cc:61: Check failed` lines), so while `hidden_native_stderr()` is active fd 2
points at os.devnull instead. Python's sys.stderr, when it writes to fd 2, is pointed at the real
stderr meanwhile, so our own messages (warnings, the one-line error) still show. With
`show_native_stderr(True)` (`video2shop search --debug`) nothing is redirected and the lines
appear as the libraries print them.

Regions nest and may be entered from several threads; fd 2 is restored when the last one leaves.
The video readers wrap each native call; a command wraps its whole run as well, so lines that a
decoder thread prints between two calls are hidden too.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TextIO

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None  # fd 2 as it was when the outermost region began
_python_stderr: TextIO | None = None  # sys.stderr replaced for the region (None: left alone)
_replacement: TextIO | None = None  # what sys.stderr is meanwhile: the real stderr, through the saved fd
_show = False


def show_native_stderr(show: bool) -> None:
    """Let native log lines through (True: `--debug`) or hide them in every later region (False)."""
    global _show
    _show = bool(show)


def native_stderr_shown() -> bool:
    return _show


def _writes_to_fd2(stream: object) -> bool:
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


def _enter() -> None:
    global _depth, _saved_fd, _python_stderr, _replacement
    with _lock:
        if _depth == 0:
            with suppress(AttributeError, OSError, ValueError):
                sys.stderr.flush()
            _saved_fd = os.dup(2)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
            if _writes_to_fd2(sys.stderr):
                _python_stderr = sys.stderr
                sys.stderr = _replacement = open(  # noqa: SIM115  # closed in _leave (it does not own the fd)
                    _saved_fd,
                    "w",
                    buffering=1,
                    encoding=getattr(_python_stderr, "encoding", None),
                    errors=getattr(_python_stderr, "errors", None),
                    closefd=False,
                )
        _depth += 1


def _leave() -> None:
    global _depth, _saved_fd, _python_stderr, _replacement
    with _lock:
        _depth -= 1
        if _depth > 0:
            return
        if _replacement is not None:
            _replacement.flush()
            if sys.stderr is _replacement:  # else someone replaced it meanwhile: theirs stays
                sys.stderr = _python_stderr
            _replacement.close()
            _python_stderr = _replacement = None
        os.dup2(_saved_fd, 2)
        os.close(_saved_fd)
        _saved_fd = None


@contextmanager
def hidden_native_stderr() -> Iterator[None]:
    """Within: what native code writes to fd 2 goes nowhere (unless shown); Python's sys.stderr still shows."""
    if _show:
        yield
        return
    _enter()
    try:
        yield
    finally:
        _leave()
