"""`video2shop` command: data preparation, synthetic data, catalog indexing and video search.

Each sub-command lives in its own module under video2shop.cli and is imported only when used,
so `video2shop --help` stays fast. A user error is one line on stderr and exit status 2 (`fail`).
"""

from __future__ import annotations

import importlib
import sys

from mmf_ext.utils.errors import one_line

# name -> (module, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "make-synthetic": ("video2shop.cli.data", "make_synthetic_main", "write the synthetic dataset"),
    "prepare": ("video2shop.cli.data", "prepare_main", "decode videos once into the frame cache"),
    "validate": ("video2shop.cli.data", "validate_main", "check a dataset folder and its manifests"),
    "index": ("video2shop.cli.search", "index_main", "build a searchable gallery from shop images"),
    "search": ("video2shop.cli.search", "search_main", "find the shop items worn in a video"),
}


def fail(program: str, error: Exception) -> int:
    """Print a user error as one line (`video2shop PROGRAM: error: ...`); returns the exit status 2."""
    print(f"video2shop {program}: error: {one_line(error)}", file=sys.stderr)
    return 2


def _usage() -> str:
    lines = ["usage: video2shop COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<15} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines.append("\nRun `video2shop COMMAND --help` for a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"video2shop: unknown command {name!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module_name, function_name, _ = COMMANDS[name]
    function = getattr(importlib.import_module(module_name), function_name)
    return int(function(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
