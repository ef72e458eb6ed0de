"""Benchmarks: `python scripts/benchmark.py NAME [options]`; each prints its figures, last line JSON.

Speed targets live here, never in unit tests: figures are measured side by side in one run.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from mmf_ext.utils.errors import UserError, one_line

sys.path.insert(0, str(Path(__file__).resolve().parent))

BENCHMARKS = {
    "loading": "benchmarks.loading",
    "approx_training": "benchmarks.approx_training",
    "scoring": "benchmarks.scoring",
    "shortlist": "benchmarks.shortlist",
    "pipeline": "benchmarks.pipeline",
    "search_accuracy": "benchmarks.search_accuracy",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python scripts/benchmark.py {{{'|'.join(BENCHMARKS)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(BENCHMARKS[argv[0]])
    try:
        return int(module.main(argv[1:]) or 0)
    except UserError as error:  # a missing folder, a bad manifest or checkpoint: one line, not a traceback
        print(f"benchmark.py {argv[0]}: error: {one_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
