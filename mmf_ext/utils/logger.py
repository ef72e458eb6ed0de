"""Logging to the console and to train.log (main process only), as MMF's training.* keys ask.

`logger_level` sets the level, `log_format: json` writes one JSON object per line (MMF's json
format: time, level, name, message and, for progress lines, the logged values), `colored_logs`
colours level names on a terminal, `should_not_log` silences the console. Detail a person does
not read live (per-category metrics, report tables) goes to train.log only (`extra=FILE_ONLY`).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from mmf_ext.utils.errors import ConfigError

_FORMAT = "%(asctime)s | %(levelname)s | %(name)s | %(message)s"
_COLOURS = {"DEBUG": "\033[36m", "INFO": "\033[32m", "WARNING": "\033[33m", "ERROR": "\033[31m", "CRITICAL": "\033[35m"}
LEVELS = ("debug", "info", "warning", "error", "critical")


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record; progress records carry their values as fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "name": record.name,
            "message": record.getMessage(),
        }
        for field in ("progress", "values"):
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        return json.dumps(entry, default=str)


FILE_ONLY = {"console": False}  # `logger.info(..., extra=FILE_ONLY)`: train.log only, not the terminal


def _for_the_console(record: logging.LogRecord) -> bool:
    return getattr(record, "console", True)


class ColourFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        colour = _COLOURS.get(record.levelname)
        return text.replace(record.levelname, f"{colour}{record.levelname}\033[0m", 1) if colour else text


def setup_logging(
    log_dir: Path | None,
    is_main: bool,
    level: str = "info",
    log_format: str = "simple",
    colored: bool = False,
    silent: bool = False,
) -> logging.Logger:
    """The `mmf_ext` logger: console (unless silent) and <log_dir>/train.log on the main process."""
    if str(level).lower() not in LEVELS:
        raise ConfigError(f"training.logger_level={level!r}; choose one of {', '.join(LEVELS)}")
    if log_format not in ("simple", "json"):
        raise ConfigError(f"training.log_format={log_format!r}; choose simple or json")
    log = logging.getLogger("mmf_ext")
    log.setLevel(getattr(logging, str(level).upper()) if is_main else logging.WARNING)
    log.propagate = False
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    plain = JsonLinesFormatter() if log_format == "json" else logging.Formatter(_FORMAT)
    if not silent:
        console = logging.StreamHandler(sys.stdout)
        if log_format == "json":
            console.setFormatter(plain)
        elif colored and sys.stdout.isatty():
            console.setFormatter(ColourFormatter(_FORMAT, "%H:%M:%S"))
        else:
            console.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
        console.addFilter(_for_the_console)
        log.addHandler(console)
    if log_dir is not None and is_main:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(Path(log_dir) / "train.log", encoding="utf-8")
        file_handler.setFormatter(plain)
        log.addHandler(file_handler)
    return log
