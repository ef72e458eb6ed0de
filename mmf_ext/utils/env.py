"""Imports that fill the registry: the built-in components and a user's plugin package."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path

# Packages whose every module registers components on import.
BUILTIN_PACKAGES = (
    "mmf_ext.models",
    "mmf_ext.datasets.builders",
    "mmf_ext.modules",
    "mmf_ext.trainers",
)

_imported_builtins = False
_imported_user_dirs: set[str] = set()


def setup_imports() -> None:
    """Import every built-in module once so its components are registered."""
    global _imported_builtins
    if _imported_builtins:
        return
    _imported_builtins = True
    for package_name in BUILTIN_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            importlib.import_module(info.name)


def import_user_module(user_dir: str | os.PathLike | None) -> None:
    """Import a user's plugin package (a folder with __init__.py) so it can register things.

    The folder's parent goes on sys.path and the folder is imported by its name, MMF's way.
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
        sys.path.insert(0, str(path.parent))
        importlib.import_module(path.stem)
    else:
        if not (path / "__init__.py").exists():
            raise FileNotFoundError(
                f"env.user_dir={user_dir}: {path / '__init__.py'} is missing; a plugin must be a Python package"
            )
        sys.path.insert(0, str(path.parent))
        importlib.import_module(path.name)
    _imported_user_dirs.add(str(path))
