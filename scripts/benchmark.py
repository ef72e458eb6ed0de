"""Benchmarks: `python scripts/benchmark.py NAME [options] [--contended]`; each prints its figures, last line JSON.

Speed targets live here, never in unit tests: figures are measured side by side in one run.
Threads follow the framework's thread policy (mmf_ext.utils.threads; OMP_NUM_THREADS wins), printed first.
`--contended` (the speed benchmarks) measures twice, idle and beside one busy process, and prints
both side by side with loaded/idle (benchmarks.common.run_contended).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from mmf_ext.utils.errors import UserError, one_line
from mmf_ext.utils.threads import apply_thread_policy

sys.path.insert(0, str(Path(__file__).resolve().parent))

BENCHMARKS = {
    "loading": "benchmarks.loading",
    "approx_training": "benchmarks.approx_training",
    "ifn_step": "benchmarks.ifn_step",
    "scoring": "benchmarks.scoring",
    "shortlist": "benchmarks.shortlist",
    "pipeline": "benchmarks.pipeline",
    "search_accuracy": "benchmarks.search_accuracy",
}
# speed, so --contended applies
CONTENDED = ("loading", "approx_training", "ifn_step", "scoring", "shortlist", "pipeline")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python scripts/benchmark.py {{{'|'.join(BENCHMARKS)}}} [options] [--contended]", file=sys.stderr)
        return 2
    name, args = argv[0], [a for a in argv[1:] if a != "--contended"]
    contended = len(args) < len(argv) - 1
    if contended and name not in CONTENDED:
        print(f"benchmark.py {name}: error: --contended is for {', '.join(CONTENDED)}", file=sys.stderr)
        return 2
    module = importlib.import_module(BENCHMARKS[name])
    try:
        print(apply_thread_policy(log=False).describe())
        if contended:
            from benchmarks.common import run_contended  # noqa: PLC0415  (after the sys.path line above)

            return run_contended(lambda: module.main(args))
        return int(module.main(args) or 0)
    except UserError as error:  # a missing folder, a bad manifest or checkpoint: one line, not a traceback
        print(f"benchmark.py {name}: error: {one_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
