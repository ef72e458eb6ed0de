"""User-facing errors: printed as one line by the command-line tools, exit status 2."""

from __future__ import annotations


class UserError(Exception):
    """A problem in the user's input (config, data, arguments) with a one-line explanation."""


class ConfigError(UserError):
    """A malformed, missing or inconsistent configuration."""


def one_line(error: BaseException) -> str:
    """The error's message as one line, also for errors raised in a DataLoader worker.

    PyTorch re-raises a worker's exception with "Caught X in DataLoader worker process N." as its
    first line and the original message only at the end of the traceback; the user needs the latter
    (it names the file).
    """
    text = str(error).strip()
    if not text:
        return type(error).__name__
    lines = text.splitlines()
    if lines[0].startswith("Caught ") and "DataLoader worker" in lines[0]:
        last = next((line.strip() for line in reversed(lines) if line.strip()), lines[0])
        name = type(error).__name__
        for prefix in (f"{type(error).__module__}.{name}: ", f"{name}: "):
            if last.startswith(prefix):
                return last[len(prefix) :]
        return last
    return lines[0]
