"""Config files read as MMF reads them: OmegaConf's YAML rules, `includes:` first, MMF's search paths.

OmegaConf's loader is YAML 1.2-like where it matters (`1e-4` is a float, as in every MMF config;
PyYAML's YAML 1.1 rules make it a string), and duplicate keys are an error. Every file of an
include tree is kept apart (`ConfigFile`), so a key can be checked against the file that wrote it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mmf_ext.utils.errors import ConfigError, one_line

MMF_ROOT = Path(__file__).resolve().parents[1]  # the framework package: MMF's get_mmf_root()
REPO_ROOT = MMF_ROOT.parent  # the checkout (or site-packages) holding it


@dataclass
class ConfigFile:
    """One file of an include tree: its own keys (without `includes`) and its includes, in order."""

    path: Path
    data: DictConfig
    includes: list[ConfigFile] = field(default_factory=list)

    def files(self) -> list[ConfigFile]:
        """Every file of the tree in merge order: includes (recursively) first, then this one."""
        ordered: list[ConfigFile] = []
        for include in self.includes:
            ordered.extend(include.files())
        ordered.append(self)
        return ordered

    def merged(self) -> DictConfig:
        """The tree merged as MMF merges it: includes in order, then this file's keys on top."""
        merged = OmegaConf.create()
        for part in self.files():
            merged = _merge(merged, part.data, part.path)
        return merged


def candidate_paths(
    path: str | os.PathLike,
    including_file: Path | None = None,
    user_dir: str | os.PathLike | None = None,
) -> list[Path]:
    """Where a relative config path is looked for, in MMF's order, then ours.

    An include is tried relative to the framework root first and then to the including file
    (mmf.utils.configuration.load_yaml); a `config=` or `config_path()` file is tried as given,
    relative to env.user_dir and to the framework's parent (mmf.utils.general.get_absolute_path).
    """
    path = Path(path).expanduser()
    if path.is_absolute():
        return [path]
    user = Path(user_dir).expanduser() if user_dir else None
    if including_file is not None:
        candidates = [MMF_ROOT / path, including_file.parent / path]
    else:
        candidates = [Path.cwd() / path]
    if user is not None:
        candidates += [user / path, REPO_ROOT / user / path]
    candidates += [Path.cwd() / path, REPO_ROOT / path, MMF_ROOT / path]
    unique: list[Path] = []
    for candidate in candidates:
        if candidate not in unique:
            unique.append(candidate)
    return unique


def find_config_file(
    path: str | os.PathLike,
    including_file: Path | None = None,
    user_dir: str | os.PathLike | None = None,
) -> Path:
    """The first existing candidate; a missing file is one line listing where it was looked for."""
    candidates = candidate_paths(path, including_file, user_dir)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    where = ", ".join(str(c.parent) for c in candidates)
    origin = f"{including_file}: included file " if including_file is not None else ""
    raise ConfigError(f"{origin}{path}: config file not found (looked in {where}); check the path")


def read_config_file(path: Path) -> DictConfig:
    """One file with OmegaConf's YAML rules; malformed YAML names the line and column."""
    try:
        data = OmegaConf.load(path)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}:{where}: malformed YAML ({problem}); fix the file's syntax") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config file ({error.strerror})") from None
    except OmegaConfBaseException as error:
        raise ConfigError(f"{path}: {one_line(error)}") from None
    if isinstance(data, ListConfig):
        raise ConfigError(f"{path}: a config file must hold a mapping at the top, found a list")
    return data


def load_config_tree(
    path: str | os.PathLike,
    user_dir: str | os.PathLike | None = None,
    including_file: Path | None = None,
    _chain: tuple[Path, ...] = (),
) -> ConfigFile:
    """A file and its `includes:` (recursively); include cycles are one error naming the chain."""
    resolved = find_config_file(path, including_file, user_dir)
    if resolved in _chain:
        chain = " -> ".join(str(p) for p in (*_chain, resolved))
        raise ConfigError(f"{resolved}: includes form a cycle ({chain}); remove one of the includes")
    data = read_config_file(resolved)
    includes = data.pop("includes", None) or []
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, (list, ListConfig)):
        raise ConfigError(f"{resolved}: `includes` must be a list of config paths")
    tree = ConfigFile(resolved, data)
    for include in includes:
        tree.includes.append(load_config_tree(str(include), user_dir, resolved, (*_chain, resolved)))
    return tree


def load_yaml(path: str | os.PathLike, user_dir: str | os.PathLike | None = None) -> DictConfig:
    """MMF's `load_yaml`: a config file with its includes merged underneath it."""
    return load_config_tree(path, user_dir).merged()


def _merge(base: DictConfig, data: DictConfig, path: Path) -> DictConfig:
    try:
        return OmegaConf.merge(base, data)
    except OmegaConfBaseException as error:
        raise ConfigError(f"{path}: {one_line(error)}") from None
