"""The `mmf` alias importable from the source tree: its folder goes on sys.path (setup.py installs it)."""

import sys
from pathlib import Path

COMPAT_DIR = Path(__file__).resolve().parents[3] / "mmf_ext" / "compat"

if str(COMPAT_DIR) not in sys.path:
    sys.path.insert(0, str(COMPAT_DIR))
