"""`mmf_predict`: `mmf_run` with run_type=predict; writes json and csv under <save_dir>/reports/."""

from __future__ import annotations

import sys

from mmf_cli.run import main_with, run


def predict(opts: list[str] | None = None) -> dict:
    """Programmatic entry point; keeps every option it is given (MMF's dropped them)."""
    return run(opts, predict=True)


def main(argv: list[str] | None = None) -> int:
    return main_with(argv, predict=True, program="mmf_predict")


if __name__ == "__main__":
    sys.exit(main())
