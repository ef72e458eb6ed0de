"""Configuration in MMF's merge order, with strict command-line overrides.

Lowest to highest priority: mmf_ext/configs/defaults.yaml < the model's config_path() <
each dataset's config_path() < the `config=` file (its `includes:` merged first, recursively) <
command-line `key=value` overrides. An override of an unknown key is an error naming the closest
keys; `+key=value` adds a new key on purpose.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Iterable

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mmf_ext.common.registry import registry
from mmf_ext.utils.env import import_user_module, setup_imports
from mmf_ext.utils.errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_ROOT.parent
DEFAULTS_PATH = PACKAGE_ROOT / "configs" / "defaults.yaml"

# Command-line keys that choose what is merged rather than being config values themselves.
_SELECTOR_KEYS = ("config", "model", "dataset", "datasets", "env.user_dir")


def load_yaml(path: str | os.PathLike, _seen: tuple[Path, ...] = ()) -> DictConfig:
    """Load one yaml file with its `includes:` merged underneath it (recursively)."""
    path = Path(path)
    resolved = _find_config_file(path, relative_to=_seen[-1].parent if _seen else None)
    if resolved in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, resolved))
        raise ConfigError(f"{resolved}: includes form a cycle ({chain}); remove one of the includes")
    try:
        text = resolved.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{resolved}:{where}: malformed YAML ({problem}); fix the file's syntax") from None
    except OSError as error:
        raise ConfigError(f"{resolved}: cannot read config file ({error.strerror})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{resolved}: a config file must hold a mapping at the top, found {type(data).__name__}")
    includes = data.pop("includes", None) or []
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list):
        raise ConfigError(f"{resolved}: `includes` must be a list of config paths")
    merged = OmegaConf.create()
    for include in includes:
        merged = OmegaConf.merge(merged, load_yaml(include, (*_seen, resolved)))
    try:
        return OmegaConf.merge(merged, OmegaConf.create(data))
    except OmegaConfBaseException as error:
        raise ConfigError(f"{resolved}: {_first_line(error)}") from None


def _find_config_file(path: Path, relative_to: Path | None) -> Path:
    candidates = [path] if path.is_absolute() else []
    if not path.is_absolute():
        if relative_to is not None:
            candidates.append(relative_to / path)
        candidates += [Path.cwd() / path, REPO_ROOT / path, PACKAGE_ROOT / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    where = f" (looked relative to {relative_to}, the working directory and {REPO_ROOT})" if not path.is_absolute() else ""
    raise ConfigError(f"{path}: config file not found{where}; check the path")


def parse_opts(opts: Iterable[str]) -> list[tuple[str, str]]:
    """Split `key=value` strings; a value may itself contain '='."""
    pairs = []
    for opt in opts:
        if "=" not in opt:
            raise ConfigError(f"command-line option {opt!r} is not key=value; write e.g. training.max_updates=100")
        key, value = opt.split("=", 1)
        key = key.strip()
        if key.startswith("--"):
            key = key[2:]
        if not key:
            raise ConfigError(f"command-line option {opt!r} has an empty key")
        pairs.append((key, value))
    return pairs


def build_config(opts: Iterable[str] = ()) -> DictConfig:
    """Compose the full run config from defaults, model, datasets, config file and overrides."""
    pairs = parse_opts(opts)
    selectors = {k: v for k, v in pairs if k in _SELECTOR_KEYS}
    overrides = [(k, v) for k, v in pairs if k not in ("config", "model", "dataset", "datasets")]

    config = load_yaml(DEFAULTS_PATH)

    # The user's plugin package is imported before anything is looked up in the registry.
    user_dir = selectors.get("env.user_dir") or os.environ.get("MMF_USER_DIR", "")
    import_user_module(user_dir or None)
    setup_imports()

    user_config = load_yaml(selectors["config"]) if selectors.get("config") else OmegaConf.create()

    model_name = selectors.get("model") or _plain(user_config.get("model"))
    datasets_value = selectors.get("datasets", selectors.get("dataset")) or _plain(user_config.get("datasets"))
    if not model_name:
        raise ConfigError("no model given; add model=<name> on the command line (registered: "
                          + ", ".join(registry.names("model")) + ")")
    if not datasets_value:
        raise ConfigError("no dataset given; add dataset=<name> on the command line (registered: "
                          + ", ".join(registry.names("builder")) + ")")
    dataset_names = _split_names(datasets_value)

    model_class = registry.get_model_class(model_name)
    config = _merge_component_defaults(config, model_class, f"model {model_name!r}")
    for dataset_name in dataset_names:
        builder_class = registry.get_builder_class(dataset_name)
        config = _merge_component_defaults(config, builder_class, f"dataset {dataset_name!r}")

    config = OmegaConf.merge(config, user_config)
    config.model = model_name
    config.datasets = ",".join(dataset_names)
    if selectors.get("config"):
        config.config = str(selectors["config"])

    config = apply_overrides(config, overrides)
    if user_dir:
        config.env.user_dir = str(user_dir)
    _check_sections(config, model_name, dataset_names)
    try:
        OmegaConf.resolve(config)
    except OmegaConfBaseException as error:
        raise ConfigError(f"config interpolation failed: {_first_line(error)}") from None
    return config


def _merge_component_defaults(config: DictConfig, component: Any, what: str) -> DictConfig:
    config_path = component.config_path() if hasattr(component, "config_path") else None
    if not config_path:
        return config
    return OmegaConf.merge(config, load_yaml(config_path))


def apply_overrides(config: DictConfig, overrides: list[tuple[str, str]]) -> DictConfig:
    """Apply dotlist overrides strictly: unknown keys are errors unless written as +key=value."""
    for key, raw_value in overrides:
        add = key.startswith("+")
        key = key.lstrip("+")
        value = _parse_value(raw_value)
        if not add and not _key_exists(config, key):
            raise ConfigError(unknown_key_message(config, key))
        try:
            OmegaConf.update(config, key, value, merge=False, force_add=add)
        except OmegaConfBaseException as error:
            raise ConfigError(f"cannot set {key}={raw_value}: {_first_line(error)}") from None
    return config


def _parse_value(raw: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        return raw


def _key_exists(config: DictConfig, key: str) -> bool:
    node: Any = config
    for part in key.split("."):
        if isinstance(node, DictConfig):
            if part not in node:
                return False
            node = node._get_node(part)
            node = node if isinstance(node, (DictConfig, ListConfig)) else None
            if node is None and part != key.split(".")[-1]:
                return False
        elif isinstance(node, ListConfig):
            if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
                return False
            child = node._get_node(int(part))
            node = child if isinstance(child, (DictConfig, ListConfig)) else None
        else:
            return False
    return True


def all_keys(config: Any, prefix: str = "") -> list[str]:
    """Every dotted key of a config (lists by index)."""
    keys: list[str] = []
    if isinstance(config, DictConfig):
        items = [(str(k), config._get_node(k)) for k in config.keys()]
    elif isinstance(config, ListConfig):
        items = [(str(i), config._get_node(i)) for i in range(len(config))]
    else:
        return keys
    for name, child in items:
        full = f"{prefix}.{name}" if prefix else name
        keys.append(full)
        if isinstance(child, (DictConfig, ListConfig)):
            keys.extend(all_keys(child, full))
    return keys


def unknown_key_message(config: DictConfig, key: str) -> str:
    keys = all_keys(config)
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
    if not close:
        leaf = key.split(".")[-1]
        close = [k for k in keys if k.split(".")[-1] == leaf][:3]
    hint = f" Closest keys: {', '.join(close)}." if close else ""
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    siblings = ""
    if parent and _key_exists(config, parent):
        node = OmegaConf.select(config, parent)
        if isinstance(node, DictConfig):
            siblings = f" Keys under {parent}: {', '.join(str(k) for k in node.keys())}."
    return f"unknown config key {key!r}.{hint}{siblings} Write +{key}=VALUE to add a new key on purpose."


def _check_sections(config: DictConfig, model_name: str, dataset_names: list[str]) -> None:
    if model_name not in config.model_config:
        config.model_config[model_name] = {}
    for name in dataset_names:
        if name not in config.dataset_config:
            config.dataset_config[name] = {}


def _split_names(value: Any) -> list[str]:
    if isinstance(value, (list, tuple, ListConfig)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value) if isinstance(value, (DictConfig, ListConfig)) else value


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def component_entries(value: Any, key: str) -> list[tuple[str, dict]]:
    """A config list of components (`name` or `{type: name, params: {...}}`) as (name, params) pairs."""
    if value is None:
        return []
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, (str, dict)):
        value = [value]
    entries = []
    for entry in value:
        if isinstance(entry, str):
            entries.append((entry, {}))
        elif isinstance(entry, dict) and "type" in entry:
            entries.append((entry["type"], entry.get("params") or {}))
        else:
            raise ConfigError(f"{key} entry {entry!r} must be a name or {{type: NAME, params: {{...}}}}")
    return entries


def save_config(config: DictConfig, save_dir: str | os.PathLike) -> Path:
    """Write the resolved config to <save_dir>/config.yaml atomically."""
    from mmf_ext.utils.file_io import atomic_write_text

    path = Path(save_dir) / "config.yaml"
    atomic_write_text(path, OmegaConf.to_yaml(config, resolve=True))
    return path


def get_global_config() -> DictConfig | None:
    return registry.get("config")
