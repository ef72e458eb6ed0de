"""Logging to the console and to <save_dir>/train.log (main process only)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

_FORMAT = "%(asctime)s | %(levelname)s | %(name)s | %(message)s"


def setup_logging(save_dir: Path | None, is_main: bool) -> logging.Logger:
    log = logging.getLogger("mmf_ext")
    log.setLevel(logging.INFO if is_main else logging.WARNING)
    log.propagate = False
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
    log.addHandler(console)
    if save_dir is not None and is_main:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(Path(save_dir) / "train.log", encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(_FORMAT))
        log.addHandler(file_handler)
    return log
