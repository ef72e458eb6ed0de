"""Imports that fill the registry: the framework's built-ins and the plugins.

A plugin is a Python package that registers its components when imported. It reaches the
framework in one of two ways, both ending in `import_plugin`: named by `env.user_dir` (or
MMF_USER_DIR), MMF's way, or declared as an installed package's `mmf_ext.plugins` entry point
(video2shop is found this way, so its commands need no user_dir).
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import sys
from importlib.metadata import entry_points
from pathlib import Path

import lightning.pytorch as pl

logger = logging.getLogger("mmf_ext")

PLUGIN_ENTRY_POINT_GROUP = "mmf_ext.plugins"

# Framework packages whose every module registers components on import.
BUILTIN_PACKAGES = ("mmf_ext.modules", "mmf_ext.datasets.processors", "mmf_ext.trainers")

_imported_builtins = False
_imported_user_dirs: set[str] = set()


def setup_imports() -> None:
    """Import the built-in modules and every installed plugin once, so their names register."""
    global _imported_builtins
    if _imported_builtins:
        return
    _imported_builtins = True
    for package_name in BUILTIN_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            importlib.import_module(info.name)
    for entry_point in entry_points(group=PLUGIN_ENTRY_POINT_GROUP):
        import_plugin(entry_point.value)


def import_plugin(module_name: str) -> None:
    """Import one plugin package by its module name; its import registers its components."""
    importlib.import_module(module_name)


def import_user_module(user_dir: str | os.PathLike | None) -> None:
    """Import a user's plugin package (a folder with __init__.py) so it can register things.

    The folder's parent goes on sys.path and the folder is imported by its name, MMF's way; it is
    also reachable as `mmf_user_dir`, as in MMF.
    """
    if not user_dir:
        return
    path = Path(user_dir).expanduser().resolve()
    if str(path) in _imported_user_dirs:
        return
    if not path.exists():
        raise FileNotFoundError(
            f"env.user_dir={user_dir}: no such folder; point it at your plugin package (a folder with __init__.py)"
        )
    if path.is_file():
        module_name = path.stem
    else:
        if not (path / "__init__.py").exists():
            raise FileNotFoundError(
                f"env.user_dir={user_dir}: {path / '__init__.py'} is missing; a plugin must be a Python package"
            )
        module_name = path.name
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    import_plugin(module_name)
    sys.modules["mmf_user_dir"] = sys.modules[module_name]
    _imported_user_dirs.add(str(path))


def import_files(file_path: str, module_name: str | None = None) -> None:
    """MMF's helper for a plugin's `__init__.py`: import every module beside `file_path`.

    `import_files(__file__, "my_plugin")` imports my_plugin.<module> for each .py file not
    starting with `_` in that folder, so their registrations happen.
    """
    folder = Path(file_path).resolve().parent
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        importlib.import_module(f"{module_name}.{path.stem}" if module_name else path.stem)


def set_seed(seed: int | None) -> int | None:
    """MMF's seeding: -1 picks a random seed; None leaves the generators alone. Returns the seed."""
    if seed is None:
        return None
    if int(seed) == -1:
        seed = int.from_bytes(os.urandom(3), "big") % 100_000 + 1
    pl.seed_everything(int(seed), workers=True, verbose=False)
    return int(seed)
