"""The run's config, composed in MMF's merge order and checked key by key.

Lowest to highest priority: mmf_ext/configs/defaults.yaml < the model's defaults (its `Config`
dataclass, then its `config_path()` file) < each dataset's `config_path()` file < the `config=`
file (its `includes:` merged first, recursively) < command-line `key=value` options.

Every file is read with OmegaConf's YAML rules (mmf_ext.utils.config_files) and every key of every
file is checked like a command-line key (mmf_ext.utils.config_keys): a typo is one error naming
the key, the file and the closest keys. MMF keys this framework does not implement are refused in
one line naming what to use (mmf_ext.utils.mmf_keys). On the command line, `+key=value` adds a key
on purpose.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mmf_ext.common.registry import registry
from mmf_ext.utils.config_files import (
    MMF_ROOT,
    REPO_ROOT,
    load_config_tree,
    load_yaml,
    read_config_file,
)
from mmf_ext.utils.config_keys import (
    Schema,
    layer_value_message,
    leaf_keys,
    not_a_bool_message,
    unknown_key_message,
)
from mmf_ext.utils.env import import_user_module, setup_imports
from mmf_ext.utils.errors import ConfigError, one_line
from mmf_ext.utils.file_io import atomic_write_text
from mmf_ext.utils.mmf_keys import refused_message, renamed_message

__all__ = [
    "Configuration",
    "DEFAULTS_PATH",
    "MMF_ROOT",
    "REPO_ROOT",
    "apply_overrides",
    "build_config",
    "component_entries",
    "get_global_config",
    "get_mmf_env",
    "load_yaml",
    "parse_opts",
    "save_config",
]

logger = logging.getLogger("mmf_ext")

DEFAULTS_PATH = MMF_ROOT / "configs" / "defaults.yaml"
COMMAND_LINE = "command line"

# Command-line keys that choose what is merged rather than being config values themselves.
_SELECTOR_KEYS = ("config", "model", "dataset", "datasets", "env.user_dir")
_SELECTORS_ONLY = ("config", "model", "dataset", "datasets")
_UNSET = object()


@dataclasses.dataclass
class Layer:
    """One source of config values and the name errors give it (a file path or 'command line')."""

    where: str
    data: DictConfig


# -- command-line options ------------------------------------------------------------------------
def parse_opts(opts: Iterable[str]) -> list[tuple[str, str]]:
    """`key=value` strings (a value may contain '='), or MMF's older `key value` pairs."""
    opts = list(opts)
    if opts and not any("=" in opt for opt in opts) and len(opts) % 2 == 0:
        opts = [f"{key}={value}" for key, value in zip(opts[0::2], opts[1::2])]
    pairs = []
    for opt in opts:
        if opt.startswith("--config_override") or opt.startswith("--config-override"):
            raise ConfigError("--config_override (MMF's demjson overrides) is not supported; write key=value options")
        if "=" not in opt:
            raise ConfigError(f"command-line option {opt!r} is not key=value; write e.g. training.max_updates=100")
        key, value = opt.split("=", 1)
        key = key.strip().removeprefix("--")
        if not key:
            raise ConfigError(f"command-line option {opt!r} has an empty key")
        pairs.append((_dotted(key), value))
    return pairs


def _dotted(key: str) -> str:
    """MMF's `metrics[0].params` spelling as OmegaConf's `metrics.0.params`."""
    return key.replace("[", ".").replace("]", "").replace("..", ".")


def parse_value(raw: str) -> Any:
    """A command-line value with OmegaConf's YAML rules (`1e-4` is a float, `[1, 2]` a list)."""
    if raw == "":
        return ""
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist([f"value={raw}"]))["value"]
    except (OmegaConfBaseException, ValueError):
        return raw


# -- composing -----------------------------------------------------------------------------------
def build_config(opts: Iterable[str] = ()) -> DictConfig:
    """Compose and check the full run config from defaults, components, config file and options."""
    pairs = parse_opts(opts)
    selectors = {key: value for key, value in pairs if key in _SELECTOR_KEYS}
    overrides = [(key, value) for key, value in pairs if key not in _SELECTORS_ONLY]
    defaults = load_yaml(DEFAULTS_PATH)

    user_dir = _user_dir(selectors)
    import_user_module(user_dir or None)  # the plugin registers before anything is looked up
    setup_imports()
    registry.register("config", OmegaConf.create({"env": {"user_dir": user_dir}}))

    user_tree = load_config_tree(selectors["config"], user_dir) if selectors.get("config") else None
    user_config = user_tree.merged() if user_tree is not None else OmegaConf.create()
    model_name, dataset_names = _component_names(selectors, user_config)

    component_layers, checked = _component_layers(model_name, dataset_names, user_dir)
    schema = _merge_layers(defaults, component_layers)
    _check_component_layers(defaults, component_layers)
    user_layers = [Layer(str(part.path), part.data) for part in user_tree.files()] if user_tree else []
    _check_layers(Schema(schema, checked), user_layers)

    config = _merge_layers(
        schema, user_layers, reset_optimizer=_sets_optimizer(component_layers, user_layers, overrides)
    )
    config.model = model_name
    config.datasets = ",".join(dataset_names)
    config.config = str(user_tree.path) if user_tree is not None else None
    config = apply_overrides(config, overrides, Schema(schema, checked))
    if user_dir:
        config.env.user_dir = str(user_dir)
    _check_refused(config, defaults, [*component_layers, *user_layers, _dotlist_layer(overrides)])
    _finish_sections(config, model_name, dataset_names)
    config = _resolved(config)
    registry.register("config", config)
    return config


def _user_dir(selectors: dict[str, str]) -> str:
    """env.user_dir from the command line, MMF_USER_DIR, or the config file itself (MMF reads all three)."""
    user_dir = selectors.get("env.user_dir") or os.environ.get("MMF_USER_DIR", "")
    if not user_dir and selectors.get("config"):
        path = Path(selectors["config"]).expanduser()
        if path.is_file():
            value = OmegaConf.select(read_config_file(path), "env.user_dir", default=None)
            user_dir = str(value) if value else ""
    return user_dir


def _component_names(selectors: dict[str, str], user_config: DictConfig) -> tuple[str, list[str]]:
    model_name = selectors.get("model") or _plain(user_config.get("model"))
    datasets_value = selectors.get("datasets", selectors.get("dataset")) or _plain(user_config.get("datasets"))
    if not model_name:
        raise ConfigError(
            "no model given; add model=<name> on the command line (registered: "
            + ", ".join(registry.names("model"))
            + ")"
        )
    if not datasets_value:
        raise ConfigError(
            "no dataset given; add dataset=<name> on the command line (registered: "
            + ", ".join(registry.names("builder"))
            + ")"
        )
    return str(model_name), _split_names(datasets_value)


def _component_layers(model_name: str, dataset_names: list[str], user_dir: str) -> tuple[list[Layer], set[str]]:
    """The model's and the datasets' defaults, and the sections they define (checked key by key)."""
    layers: list[Layer] = []
    checked: set[str] = set()
    model_class = registry.get_model_class(model_name)
    dataclass_defaults = _config_dataclass_defaults(model_class)
    if dataclass_defaults is not None:
        layers.append(
            Layer(
                f"{model_class.__name__}.Config", OmegaConf.create({"model_config": {model_name: dataclass_defaults}})
            )
        )
        checked.add(f"model_config.{model_name}")
    components = [(model_class, f"model_config.{model_name}")]
    components += [(registry.get_builder_class(name), f"dataset_config.{name}") for name in dataset_names]
    for component, section in components:
        config_path = component.config_path() if hasattr(component, "config_path") else None
        if not config_path:
            continue
        tree = load_config_tree(config_path, user_dir)
        layers.extend(Layer(str(part.path), part.data) for part in tree.files())
        if OmegaConf.select(tree.merged(), section, default=None) is not None:
            checked.add(section)
    return layers, checked


def _config_dataclass_defaults(model_class: Any) -> dict[str, Any] | None:
    """A model's typed `Config` (MMF's BaseModel.Config) as defaults; MISSING fields become null."""
    config_class = getattr(model_class, "Config", None)
    if config_class is None or not dataclasses.is_dataclass(config_class):
        return None
    values: dict[str, Any] = {}
    for item in dataclasses.fields(config_class):
        if item.default is not dataclasses.MISSING and item.default is not MISSING:
            values[item.name] = item.default
        elif item.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            values[item.name] = item.default_factory()  # type: ignore[misc]
        else:
            values[item.name] = None
    values.pop("model", None)
    if values.get("losses") is None:
        values["losses"] = []
    return OmegaConf.to_container(OmegaConf.create(values), resolve=False)  # type: ignore[return-value]


def _merge_layers(base: DictConfig, layers: list[Layer], reset_optimizer: bool = False) -> DictConfig:
    merged = OmegaConf.merge(base)  # a copy
    if reset_optimizer:
        merged.optimizer.params = {}  # the framework's optimizer params only go with its optimizer
    for layer in layers:
        try:
            merged = OmegaConf.merge(merged, layer.data)
        except OmegaConfBaseException as error:
            raise ConfigError(f"{layer.where}: {one_line(error)}") from None
    return merged


def _sets_optimizer(component_layers: list[Layer], user_layers: list[Layer], overrides: list[tuple[str, str]]) -> bool:
    for layer in (*component_layers, *user_layers):
        if OmegaConf.select(layer.data, "optimizer.type", default=_UNSET) is not _UNSET:
            return True
    return any(key.lstrip("+") == "optimizer.type" for key, _ in overrides)


# -- checking ------------------------------------------------------------------------------------
def _check_layers(schema: Schema, layers: list[Layer]) -> None:
    """Every key a user file writes must be one the run knows (or sit in an open node)."""
    for layer in layers:
        for key in leaf_keys(layer.data):
            renamed = renamed_message(key, layer.where)
            if renamed:
                raise ConfigError(renamed)
            unknown = schema.unknown_part(key)
            if unknown is not None:
                raise ConfigError(unknown_key_message(schema.defaults, unknown, layer.where))
            wrong_type = layer_value_message(schema.defaults, layer.data, key, layer.where)
            if wrong_type:
                raise ConfigError(wrong_type)


def _check_component_layers(defaults: DictConfig, layers: list[Layer]) -> None:
    """A component's defaults may define its own section freely, but not misspell framework keys."""
    framework = Schema(defaults, checked_sections=set())
    for layer in layers:
        for key in leaf_keys(layer.data):
            if key.split(".")[0] in ("model_config", "dataset_config"):
                continue
            unknown = framework.unknown_part(key)
            if unknown is not None:
                raise ConfigError(unknown_key_message(defaults, unknown, layer.where))
            wrong_type = layer_value_message(defaults, layer.data, key, layer.where)
            if wrong_type:
                raise ConfigError(wrong_type)


def _check_refused(config: DictConfig, defaults: DictConfig, layers: list[Layer]) -> None:
    def value_of(key: str) -> Any:
        return _plain(OmegaConf.select(config, key, default=None, throw_on_resolution_failure=False))

    for layer in reversed(layers):
        for key in leaf_keys(layer.data):
            default = OmegaConf.select(defaults, key, default=_UNSET, throw_on_resolution_failure=False)
            message = refused_message(key, value_of, _plain(default), layer.where)
            if message:
                raise ConfigError(message)


def _dotlist_layer(overrides: list[tuple[str, str]]) -> Layer:
    data = OmegaConf.create()
    for key, raw in overrides:
        try:
            OmegaConf.update(data, key.lstrip("+"), parse_value(raw), merge=False, force_add=True)
        except OmegaConfBaseException:
            continue
    return Layer(COMMAND_LINE, data)


def apply_overrides(config: DictConfig, overrides: list[tuple[str, str]], schema: Schema | None = None) -> DictConfig:
    """Apply command-line options strictly: unknown keys are errors unless written as +key=value."""
    for key, raw_value in overrides:
        add = key.startswith("+")
        key = key.lstrip("+")
        renamed = renamed_message(key, COMMAND_LINE)
        if renamed and not add:
            raise ConfigError(renamed)
        if not add and not _key_exists(config, key) and not (schema is not None and schema.in_open_node(key)):
            raise ConfigError(unknown_key_message(config, key, COMMAND_LINE, add_hint=True))
        value = parse_value(raw_value)
        if schema is not None:
            wrong_type = not_a_bool_message(schema.defaults, key, value, COMMAND_LINE)
            if wrong_type:
                raise ConfigError(wrong_type)
        try:
            OmegaConf.update(config, key, value, merge=False, force_add=True)
        except OmegaConfBaseException as error:
            raise ConfigError(f"cannot set {key}={raw_value}: {one_line(error)}") from None
    return config


def _key_exists(config: DictConfig, key: str) -> bool:
    node: Any = config
    parts = key.split(".")
    for position, part in enumerate(parts):
        if isinstance(node, DictConfig):
            if part not in node:
                return False
            child = node._get_node(part)
        elif isinstance(node, ListConfig):
            if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
                return False
            child = node._get_node(int(part))
        else:
            return False
        is_last = position == len(parts) - 1
        if not isinstance(child, (DictConfig, ListConfig)) and not is_last:
            return False
        node = child
    return True


def _finish_sections(config: DictConfig, model_name: str, dataset_names: list[str]) -> None:
    """Every run has its model's and datasets' sections; the model's names the model (MMF's `model`)."""
    if model_name not in config.model_config:
        config.model_config[model_name] = {}
    section = config.model_config[model_name]
    if isinstance(section, DictConfig):
        section.model = model_name
        if "losses" not in section:
            section.losses = []
    for name in dataset_names:
        if name not in config.dataset_config:
            config.dataset_config[name] = {}


def _resolved(config: DictConfig) -> DictConfig:
    try:
        OmegaConf.resolve(config)
    except OmegaConfBaseException as error:
        raise ConfigError(f"config interpolation failed: {one_line(error)}") from None
    return config


def _split_names(value: Any) -> list[str]:
    if isinstance(value, (list, tuple, ListConfig)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value) if isinstance(value, (DictConfig, ListConfig)) else value


# -- components listed in a config ---------------------------------------------------------------
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


# -- the run's config, MMF's API -----------------------------------------------------------------
def save_config(config: DictConfig, save_dir: str | os.PathLike) -> Path:
    """Write the resolved config to <save_dir>/config.yaml atomically."""
    path = Path(save_dir) / "config.yaml"
    atomic_write_text(path, OmegaConf.to_yaml(config, resolve=True))
    return path


def default_config() -> DictConfig:
    """The framework defaults alone, resolved (MMF's Configuration without a model or dataset)."""
    return _resolved(load_yaml(DEFAULTS_PATH))


class Configuration:
    """MMF's Configuration: `Configuration(args)` with `args.opts` = the key=value options."""

    def __init__(self, args: argparse.Namespace | None = None, default_only: bool = False) -> None:
        self.args = args
        opts = list(getattr(args, "opts", None) or [])
        self.config = default_config() if default_only or not opts else build_config(opts)
        registry.register("config", self.config)
        registry.register("configuration", self)

    def get_config(self) -> DictConfig:
        return self.config

    def freeze(self) -> None:
        OmegaConf.set_struct(self.config, True)

    def defrost(self) -> None:
        OmegaConf.set_struct(self.config, False)

    def import_user_dir(self) -> None:
        import_user_module(self.config.env.user_dir or None)

    def pretty_print(self) -> None:
        log_detailed_config(self.config)


def log_detailed_config(config: DictConfig) -> None:
    """Log the training, dataset, optimizer and model sections as JSON (training.log_detailed_config)."""
    if not config.training.log_detailed_config:
        return
    sections = {"training": config.training, "optimizer": config.optimizer}
    for name in str(config.datasets).split(","):
        sections[f"dataset {name}"] = config.dataset_config[name]
    sections[f"model {config.model}"] = config.model_config[config.model]
    for title, node in sections.items():
        text = json.dumps(OmegaConf.to_container(node, resolve=True), indent=4, sort_keys=True)
        logger.info("======  %s  ======\n%s", title, text)


def get_global_config(key: str | None = None) -> Any:
    """The run's config (or the defaults when no run registered one), or one key of it."""
    config = registry.get("config")
    if config is None:
        config = Configuration().get_config()
    return OmegaConf.select(config, key) if key else config


def get_mmf_env(key: str | None = None) -> Any:
    """`env` of the run's config, or one key of it (MMF's helper)."""
    env = get_global_config("env")
    return OmegaConf.select(env, key) if key else env


def get_mmf_cache_dir() -> str:
    return str(get_mmf_env("cache_dir"))


def _device_count() -> int:
    return max(1, torch.cuda.device_count())


if not OmegaConf.has_resolver("device_count"):  # MMF's resolver, used by copied MMF configs
    _register = getattr(OmegaConf, "register_resolver", None) or OmegaConf.register_new_resolver
    _register("device_count", _device_count)
