"""`mmf_run`: compose the config from key=value options and run it.

User errors (a malformed YAML, a missing file, an unknown model, dataset or key) print one line
and exit with status 2; `--debug` or MMF_DEBUG=1 shows the full traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from mmf_ext.common.registry import RegistryError, registry
from mmf_ext.utils.configuration import build_config
from mmf_ext.utils.distributed import shutdown_process_group
from mmf_ext.utils.errors import ConfigError, UserError, one_line
from mmf_ext.utils.general import mmf_alias_status

PROGRAM = "mmf_run"


def _debug_requested(opts: list[str]) -> tuple[bool, list[str]]:
    debug = os.environ.get("MMF_DEBUG", "") not in ("", "0", "false", "False")
    rest = []
    for opt in opts:
        if opt in ("--debug", "-d"):
            debug = True
        else:
            rest.append(opt)
    return debug, rest


def _strip_launcher_args(opts: list[str]) -> list[str]:
    """`python -m torch.distributed.launch` passes --local-rank=N / --local_rank N; the env has it too."""
    cleaned, skip = [], False
    for opt in opts:
        if skip:
            skip = False
            continue
        if opt in ("--local-rank", "--local_rank"):
            skip = True
            continue
        if opt.startswith(("--local-rank=", "--local_rank=")):
            os.environ.setdefault("LOCAL_RANK", opt.split("=", 1)[1])
            continue
        cleaned.append(opt)
    return cleaned


def run(opts: list[str] | None = None, predict: bool = False) -> dict[str, Any]:
    """Programmatic entry point: `run(["config=...", "model=...", "dataset=..."])` -> results.

    With `predict` (mmf_predict) the run writes predictions instead of metrics, as MMF's
    `evaluation.predict=true`: on the dataset's predict split, or on val / test when run_type
    names them. It never trains.
    """
    opts = _strip_launcher_args(list(opts or []))
    if predict:
        run_types = [o.split("=", 1)[1] for o in opts if o.startswith("run_type=")]
        if run_types and "train" in run_types[-1]:
            raise ConfigError(
                f"mmf_predict does not train (run_type={run_types[-1]}); use run_type=test, val or predict"
            )
        opts = opts + ["evaluation.predict=true"] + ([] if run_types else ["run_type=predict"])
    _warn_when_a_real_mmf_shadows_the_alias()
    config = build_config(opts)
    trainer_class = registry.get_trainer_class(config.training.trainer)
    trainer = trainer_class(config)
    results = trainer.run()
    registry.register("trainer", trainer)
    return results


def _warn_when_a_real_mmf_shadows_the_alias() -> None:
    """A plugin importing `mmf.*` would register into a real MMF's registry: say so once, in one line."""

    status = mmf_alias_status()
    if status.kind == "mmf":
        print(f"{PROGRAM}: warning: {status.message}", file=sys.stderr)


def main_with(argv: list[str] | None, predict: bool, program: str) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(
            f"usage: {program} config=FILE.yaml model=NAME dataset=NAME [key=value ...] [--debug]\n"
            "Options are config keys (see mmf_ext/configs/defaults.yaml); +key=value adds a new key."
        )
        return 0
    debug, opts = _debug_requested(argv)

    try:
        run(opts, predict=predict)
        shutdown_process_group()
    except (UserError, RegistryError, FileNotFoundError) as error:
        if debug:
            raise
        print(f"{program}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    return main_with(argv, predict=False, program=PROGRAM)


if __name__ == "__main__":
    sys.exit(main())
